// A self-managed GitLab signed by a private CA (GITLAB_CA_FILE): git trusts the CA for that
// GitLab's URL only, and the GitLab API client trusts it once DAG has added it to the process's
// CAs. Over real HTTPS: a git smart-HTTP server and a GitLab API stand-in with a certificate of a
// CA made for the test.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runGit } from '../../src/iac/git.ts';
import { IacWorkspace } from '../../src/iac/workspace.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import { gitCaConfig, gitWithConfig, trustCaFile } from '../../src/platform/trust.ts';
import { makeTestCertificates, type TestCertificates } from '../helpers/fake-kube-apiserver.ts';
import { startGitServer, type GitServer } from '../helpers/git-server.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { tempDir } from '../iac/support.ts';

const token = 'glpat-private-ca-test-token';
const SHA = 'c'.repeat(40);
let certs: TestCertificates;
let caFile: string;
let git: GitServer;
let api: Server;
let apiUrl: string;

beforeAll(async () => {
  certs = await makeTestCertificates();
  const dir = await tempDir('dag-private-ca-');
  caFile = join(dir, 'gitlab-ca.pem');
  await writeFile(caFile, certs.caCert);
  git = await startGitServer({ token, tls: { cert: certs.serverCert, key: certs.serverKey } });
  await git.createRepo('iac', {
    defaultBranch: 'main',
    files: { 'clusters/staging/app/release.yaml': 'replicas: 2\n' },
  });
  // The one GitLab route this test needs: GET /projects/:id/repository/branches/:branch.
  api = createServer({ cert: certs.serverCert, key: certs.serverKey }, (req, res) => {
    const ok =
      req.method === 'GET' &&
      req.url === '/api/v4/projects/42/repository/branches/main' &&
      req.headers['private-token'] === token;
    res.writeHead(ok ? 200 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(ok ? { name: 'main', commit: { id: SHA } } : { message: '404 Not found' }),
    );
  });
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  apiUrl = `https://127.0.0.1:${(api.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await git?.stop();
  await new Promise((resolve) => api?.close(resolve));
});

async function workspace(config: [string, string][] = []) {
  return IacWorkspace.create({
    cacheDir: await tempDir('dag-private-ca-cache-'),
    log: quiet,
    git: config.length ? gitWithConfig(runGit, config) : runGit,
  });
}

const target = () => ({ url: git.url('iac'), token, branch: 'main' });
const origin = () => new URL(git.url('iac')).origin;

describe('git and a private CA', () => {
  it('refuses the server without the CA, and reads the repository with it', async () => {
    await expect((await workspace()).read(target(), 'clusters/staging/app')).rejects.toThrow(
      /certificate/i,
    );
    const trusted = await workspace([gitCaConfig(`${origin()}/`, caFile)]);
    const read = await trusted.read(target(), 'clusters/staging/app');
    expect(read.files).toEqual({ 'release.yaml': 'replicas: 2\n' });
  });

  it('trusts the CA only for the URL it is given', async () => {
    const elsewhere = await workspace([gitCaConfig('https://gitlab.example.internal/', caFile)]);
    await expect(elsewhere.read(target(), 'clusters/staging/app')).rejects.toThrow(/certificate/i);
  });

  it('scopes the setting to the forge URL as a prefix, with a trailing slash', () => {
    expect(gitCaConfig('https://gitlab.example.internal', '/ca.pem')).toEqual([
      'http.https://gitlab.example.internal/.sslCAInfo',
      '/ca.pem',
    ]);
    expect(gitCaConfig('https://example.internal/gitlab//', '/ca.pem')[0]).toBe(
      'http.https://example.internal/gitlab/.sslCAInfo',
    );
  });
});

describe('the GitLab API client and a private CA', () => {
  it('fails on the unknown CA, and answers once DAG trusts the CA file', async () => {
    const platform = new GitLabPlatform({
      url: apiUrl,
      token,
      backoff: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const repo = {
      provider: 'gitlab' as const,
      fullName: 'platform/app',
      urls: [],
      projectId: 42,
      webUrl: `${apiUrl}/platform/app`,
    };
    await expect(platform.branchHead(repo, 'main')).rejects.toThrow();
    expect(trustCaFile(caFile)).toBe(1);
    expect(await platform.branchHead(repo, 'main')).toBe(SHA);
  });

  it('refuses a CA file that holds a private key or no certificate', async () => {
    const dir = await tempDir('dag-private-ca-bad-');
    const withKey = join(dir, 'with-key.pem');
    await writeFile(withKey, `${certs.caCert}${certs.serverKey}`);
    expect(() => trustCaFile(withKey)).toThrow(/contains a private key/);
    const notPem = join(dir, 'not.pem');
    await writeFile(notPem, 'hello\n');
    expect(() => trustCaFile(notPem)).toThrow(/is not a PEM certificate/);
    expect(() => trustCaFile(join(dir, 'missing.pem'))).toThrow(/cannot read the CA file/);
  });
});
