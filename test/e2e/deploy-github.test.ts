import { writeFileSync } from 'node:fs';
import type nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { waitFor } from '../helpers/wait.ts';
import {
  deliverGithub,
  expectDeployCalls,
  expectNoPendingGithubCalls,
  githubPushPayload,
  mockGithubApp,
  restoreNetwork,
} from './github.ts';
import { kustomizeBuild, startHarness, waitForQueueSettled, type Harness } from './harness.ts';

let h: Harness;

async function configure(fullName: string, env: { name: string; branch: string; path: string }) {
  const db = h.dag.db;
  const { rows } = await db.query<{ id: number }>(
    "INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1) RETURNING id",
    [`https://github.com/${fullName}`],
  );
  await db.query(
    `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
     VALUES ($1, $2, 1, $3, 1, 'flux', 'apps', $4)`,
    [rows[0]?.id, env.branch, env.path, env.name],
  );
}

beforeAll(async () => {
  mockGithubApp();
  h = await startHarness();
  // The IAC token goes in as plain SQL would put it: DAG seals it before use. The git server's
  // host is neither github.com nor GHE's: the provider column tells DAG how its commit links look.
  await h.dag.db.query(
    "INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, 'github')",
    ['iac', h.git.url('iac'), h.iacToken],
  );
  await h.dag.db.query(
    "INSERT INTO clusters (name, api_url) VALUES ('staging', 'https://k8s.example.com')",
  );
});

afterEach(expectNoPendingGithubCalls);

afterAll(async () => {
  await h?.stop();
  restoreNetwork();
});

describe('push to deploy on GitHub, end to end', () => {
  it('commits the release bundle to the IAC repo and reports the Deployment', async () => {
    const sha = 'a1'.repeat(20);
    await configure('org/my-app', {
      name: 'staging',
      branch: 'master',
      path: 'clusters/staging/my-app',
    });
    const calls = expectDeployCalls('org/my-app', sha, 'staging', 101);
    await deliverGithub(h, 'push', githubPushPayload('org/my-app', sha));
    await waitFor(() => calls.isDone(), { what: 'the deploy to report success' });

    const log = await h.git.log('iac', 'main');
    expect(log[0]).toBe(`deploy(my-app): staging ${sha.slice(0, 7)}`);
    const files = await h.git.files('iac', 'main');
    expect(
      Object.keys(files)
        .filter((f) => f.startsWith('clusters/staging/my-app/'))
        .sort(),
    ).toEqual([
      'clusters/staging/my-app/helmrelease.yaml',
      'clusters/staging/my-app/kustomization.yaml',
      'clusters/staging/my-app/kustomizeconfig.yaml',
      'clusters/staging/my-app/source.yaml',
      'clusters/staging/my-app/values.yaml',
    ]);
    // A hostile value stays a string: no key `evil` appears.
    const values = parse(files['clusters/staging/my-app/values.yaml'] as string) as Record<
      string,
      unknown
    >;
    expect(values.message).toBe('x\nevil: true');
    expect(values).not.toHaveProperty('evil');

    // DAG commits as its bot, authenticated with the IAC token, and never forces.
    expect(await h.git.git('iac', ['log', '-1', '--format=%an <%ae>', 'main'])).toContain('DAG <');
    expect(h.git.forcePushes).toBe(0);
    // The Flux layout still builds, and what runs can be traced back to its source.
    const built = parseAllDocuments(
      await kustomizeBuild(h.git, 'main', 'components/apps/staging'),
    ).map((d) => d.toJS() as { kind: string; metadata: { annotations?: Record<string, string> } });
    const release = built.find(
      (o) => o.kind === 'HelmRelease' && o.metadata.annotations?.['dag.dev/app'],
    );
    expect(release?.metadata.annotations).toMatchObject({
      'dag.dev/app': 'my-app',
      'dag.dev/environment': 'staging',
      'dag.dev/source-commit': sha,
      'dag.dev/iac-path': 'clusters/staging/my-app',
    });
    // No plaintext token is left in the database, and none reached a log line.
    const { rows } = await h.dag.db.query<{ t: string }>('SELECT access_token AS t FROM iacs');
    expect(rows[0]?.t.startsWith('dag:v1:')).toBe(true);
    expect(h.dag.logs.join('')).not.toContain(h.iacToken);
  });

  it('turns five redeliveries (and a second delivery of the same push) into one commit and one Deployment', async () => {
    const sha = 'b2'.repeat(20);
    await configure('org/redelivered', {
      name: 'staging',
      branch: 'master',
      path: 'clusters/staging/redelivered',
    });
    const calls = expectDeployCalls('org/redelivered', sha, 'staging', 202);
    const payload = githubPushPayload('org/redelivered', sha);
    for (let i = 0; i < 5; i++) await deliverGithub(h, 'push', payload, 'same-delivery-id');
    await deliverGithub(h, 'push', payload, 'another-delivery-of-the-same-push');
    await waitFor(() => calls.isDone(), { what: 'the deploy' });
    // Every delivery's job, and whatever it queued, has run: a duplicate would have shown itself
    // (nock fails on an unexpected call).
    await waitForQueueSettled(h);
    const log = await h.git.log('iac', 'main');
    expect(log.filter((s) => s.startsWith('deploy(redelivered)'))).toHaveLength(1);
    expect((await h.dag.queue.list({ state: 'failed' })).length).toBe(0);
  });

  it('ignores unmapped branches and tag pushes with a 2xx and no calls', async () => {
    const tag = { ...githubPushPayload('org/my-app', 'c3'.repeat(20)), ref: 'refs/tags/v1.0.0' };
    const other = {
      ...githubPushPayload('org/my-app', 'c3'.repeat(20)),
      ref: 'refs/heads/feature/x',
    };
    const before = await h.git.head('iac', 'main');
    await deliverGithub(h, 'push', tag);
    await deliverGithub(h, 'push', other);
    // Whatever the deliveries queued has run: a deploy would have shown itself by now.
    await waitForQueueSettled(h);
    expect(await h.git.head('iac', 'main')).toBe(before);
  });

  it('deploys 20 apps sharing one IAC branch while a person commits to it, losing nothing', async () => {
    const apps = Array.from({ length: 20 }, (_, i) => `team/svc-${String(i).padStart(2, '0')}`);
    const sha = 'd4'.repeat(20);
    const scopes: nock.Scope[] = [];
    for (const [i, fullName] of apps.entries()) {
      const name = fullName.split('/')[1] as string;
      await configure(fullName, {
        name: 'staging',
        branch: 'master',
        path: `clusters/staging/${name}`,
      });
      scopes.push(expectDeployCalls(fullName, sha, 'staging', 1000 + i));
    }
    const outside = h.git.commitOutside(
      'iac',
      'main',
      'components/apps/README.md',
      'edited by a person\n',
      'docs: a human edit',
    );
    await Promise.all([
      ...apps.map((a) => deliverGithub(h, 'push', githubPushPayload(a, sha))),
      outside,
    ]);
    try {
      await waitFor(() => scopes.every((s) => s.isDone()), {
        timeoutMs: 60_000,
        what: 'all 20 deploys',
      });
    } finally {
      if (process.env.DAG_E2E_TRACE) writeFileSync(process.env.DAG_E2E_TRACE, h.dag.logs.join(''));
    }
    const log = await h.git.log('iac', 'main');
    for (const fullName of apps) {
      expect(log).toContain(`deploy(${fullName.split('/')[1]}): staging ${sha.slice(0, 7)}`);
    }
    expect(log).toContain('docs: a human edit');
    expect(h.git.forcePushes).toBe(0);
    const files = await h.git.files('iac', 'main');
    expect(files['components/apps/README.md']).toBe('edited by a person\n');
  }, 90_000);
});
