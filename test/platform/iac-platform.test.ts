import { generateKeyPairSync } from 'node:crypto';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { iacPlatformFactory } from '../../src/platform/iac-platform.ts';
import { createProbot } from '../../src/server/github.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

/** GitLab requests below are checked against GitLab's documented contract. */
const contract = new GitLabContract();

const IAC_TOKEN = 'github_pat_11AAAAAAA0iacSecretToken';
const GITLAB_IAC_TOKEN = 'glpat-iacSecretToken';
const BOT_TOKEN = 'glpat-botSecretToken';

const privateKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

/** The GitHub App as DAG builds it, on github.com or on a GitHub Enterprise server. */
const probot = (baseUrl?: string) =>
  createProbot(
    {
      appId: '4242',
      privateKey,
      webhookSecret: 'secret',
      webhookPath: '/api/github/webhooks',
      baseUrl,
    },
    quiet,
    { throttle: false },
  );

/** GET /repos/{owner}/{repo}/installation, as GitHub answers it. */
const installation = (id: number, owner: string) => ({
  id,
  account: { login: owner, id: 1, type: 'Organization' },
  repository_selection: 'selected',
  access_tokens_url: `https://api.github.com/app/installations/${id}/access_tokens`,
  repositories_url: 'https://api.github.com/installation/repositories',
  html_url: `https://github.com/organizations/${owner}/settings/installations/${id}`,
  app_id: 4242,
  app_slug: 'dag',
  target_id: 1,
  target_type: 'Organization',
  permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' },
  events: ['push', 'pull_request'],
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
  single_file_name: null,
});

const iac = (repoUrl: string, gitProvider: 'github' | 'gitlab' | null = null) => ({
  name: 'prod-iac',
  repoUrl,
  gitProvider,
});

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  contract.assertKept();
});
afterAll(() => nock.enableNetConnect());

describe('iacPlatformFactory: the provider', () => {
  it('knows github.com, and uses the IAC token on its API', async () => {
    nock('https://api.github.com', { reqheaders: { authorization: `token ${IAC_TOKEN}` } })
      .post('/repos/Octo-Org/IAC/issues/3/comments', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({ throttle: false });
    const result = await platformFor(iac('https://github.com/Octo-Org/IAC.git'), IAC_TOKEN);
    expect(result.via).toBe('token');
    expect(result.platform.provider).toBe('github');
    expect(result.repo).toEqual({
      provider: 'github',
      fullName: 'Octo-Org/IAC',
      urls: ['https://github.com/Octo-Org/IAC.git'],
      webUrl: 'https://github.com/Octo-Org/IAC',
    });
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('knows gitlab.com, and uses the IAC token there', async () => {
    contract
      .nock('https://gitlab.com', { reqheaders: { 'private-token': GITLAB_IAC_TOKEN } })
      .post('/api/v4/projects/group%2Fsub%2Fiac/merge_requests/3/notes', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({});
    const result = await platformFor(iac('git@gitlab.com:group/sub/iac.git'), GITLAB_IAC_TOKEN);
    expect(result.via).toBe('token');
    expect(result.repo).toEqual({
      provider: 'gitlab',
      fullName: 'group/sub/iac',
      urls: ['git@gitlab.com:group/sub/iac.git'],
      webUrl: 'https://gitlab.com/group/sub/iac',
    });
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('knows the configured GitHub Enterprise host, and uses its API', async () => {
    nock('https://ghe.example.com', { reqheaders: { authorization: `token ${IAC_TOKEN}` } })
      .post('/api/v3/repos/platform/iac/issues/3/comments', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({
      githubApiUrl: 'https://ghe.example.com/api/v3',
      throttle: false,
    });
    const result = await platformFor(iac('https://ghe.example.com/platform/iac'), IAC_TOKEN);
    expect(result.repo).toMatchObject({
      provider: 'github',
      fullName: 'platform/iac',
      webUrl: 'https://ghe.example.com/platform/iac',
    });
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it("knows GITLAB_URL's host, and falls back to the bot token there", async () => {
    contract
      .nock('https://git.corp.example:8443', { reqheaders: { 'private-token': BOT_TOKEN } })
      .post('/api/v4/projects/platform%2Fiac/merge_requests/3/notes', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({
      gitlab: { url: 'https://git.corp.example:8443', token: BOT_TOKEN },
    });
    const result = await platformFor(iac('ssh://git@git.corp.example/platform/iac.git'), null);
    expect(result.repo).toMatchObject({ provider: 'gitlab', fullName: 'platform/iac' });
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('refuses an unknown host, telling the operator to set the provider', async () => {
    const platformFor = iacPlatformFactory({
      gitlab: { url: 'https://git.corp.example', token: BOT_TOKEN },
    });
    const error = await platformFor(iac('https://code.example.org/team/iac.git'), IAC_TOKEN).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('IAC prod-iac');
    expect((error as Error).message).toContain('--provider');
    expect((error as Error).message).toContain('iacs.git_provider');
    expect((error as Error).message).not.toContain(IAC_TOKEN);
  });

  it("lets the IAC's provider win over its host", async () => {
    contract
      .nock('https://code.example.org', { reqheaders: { 'private-token': GITLAB_IAC_TOKEN } })
      .post('/api/v4/projects/team%2Fiac/merge_requests/3/notes', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({});
    const result = await platformFor(
      iac('https://code.example.org/team/iac.git', 'gitlab'),
      GITLAB_IAC_TOKEN,
    );
    expect(result.platform.provider).toBe('gitlab');
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('keeps credentials in the URL out of the repository reference', async () => {
    const platformFor = iacPlatformFactory({ throttle: false });
    const result = await platformFor(
      iac(`https://x-access-token:${IAC_TOKEN}@github.com/octo-org/iac.git`),
      IAC_TOKEN,
    );
    expect(result.repo.urls).toEqual(['https://github.com/octo-org/iac.git']);
    expect(JSON.stringify(result.repo)).not.toContain(IAC_TOKEN);
  });
});

describe('iacPlatformFactory: GitHub App or IAC token', () => {
  it('opens pull requests as the App when it is installed on the repository', async () => {
    nock('https://api.github.com', { reqheaders: { authorization: /^bearer / } })
      .get('/repos/octo-org/iac/installation')
      .reply(200, installation(4711, 'octo-org'))
      .post('/app/installations/4711/access_tokens')
      .reply(201, {
        token: 'ghs_installationToken',
        expires_at: '2099-01-01T00:00:00Z',
        permissions: { contents: 'write', pull_requests: 'write', metadata: 'read' },
        repository_selection: 'selected',
      });
    nock('https://api.github.com', {
      reqheaders: { authorization: 'token ghs_installationToken' },
    })
      .post('/repos/octo-org/iac/issues/3/comments', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({ probot: probot(), throttle: false });
    const result = await platformFor(iac('https://github.com/octo-org/iac'), IAC_TOKEN);
    expect(result.via).toBe('app');
    expect(result.repo.installationId).toBe(4711);
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('uses the IAC token when the App is not installed there', async () => {
    nock('https://api.github.com', { reqheaders: { authorization: /^bearer / } })
      .get('/repos/octo-org/iac/installation')
      .reply(404, {
        message: 'Not Found',
        documentation_url:
          'https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app',
        status: '404',
      });
    nock('https://api.github.com', { reqheaders: { authorization: `token ${IAC_TOKEN}` } })
      .post('/repos/octo-org/iac/issues/3/comments', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({ probot: probot(), throttle: false });
    const result = await platformFor(iac('git@github.com:octo-org/iac.git'), IAC_TOKEN);
    expect(result.via).toBe('token');
    expect(result.repo.installationId).toBeUndefined();
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('does not ask an App on GitHub Enterprise about a github.com repository', async () => {
    nock('https://api.github.com', { reqheaders: { authorization: `token ${IAC_TOKEN}` } })
      .post('/repos/octo-org/iac/issues/3/comments', { body: 'hello' })
      .reply(201, { id: 1 });
    const platformFor = iacPlatformFactory({
      probot: probot('https://ghe.example.com/api/v3'),
      githubApiUrl: 'https://ghe.example.com/api/v3',
      throttle: false,
    });
    const result = await platformFor(iac('https://github.com/octo-org/iac'), IAC_TOKEN);
    expect(result.via).toBe('token');
    await result.platform.commentOnChangeRequest(result.repo, 3, 'hello');
  });

  it('refuses with neither an App installation nor a token, naming the IAC', async () => {
    nock('https://api.github.com')
      .get('/repos/octo-org/iac/installation')
      .reply(404, { message: 'Not Found' });
    const platformFor = iacPlatformFactory({ probot: probot(), throttle: false });
    const error = await platformFor(iac('https://github.com/octo-org/iac'), null).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'IAC prod-iac: DAG cannot open pull requests in octo-org/iac: install the GitHub App on it, or give the IAC an access token allowed to write pull requests',
    );
  });

  it('refuses a GitHub IAC without a token when no App is configured', async () => {
    const platformFor = iacPlatformFactory({});
    await expect(platformFor(iac('https://github.com/octo-org/iac'), null)).rejects.toThrow(
      ConfigError,
    );
  });

  it('refuses a GitLab IAC without a token when GITLAB_TOKEN is not set', async () => {
    const platformFor = iacPlatformFactory({
      gitlab: { url: 'https://gitlab.com', token: undefined },
    });
    const error = await platformFor(iac('https://gitlab.com/group/iac'), null).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'IAC prod-iac: DAG cannot open merge requests in group/iac: give the IAC an access token with the api scope, or set GITLAB_TOKEN',
    );
  });

  it('never sends the bot token to another GitLab than GITLAB_URL', async () => {
    const platformFor = iacPlatformFactory({
      gitlab: { url: 'https://git.corp.example', token: BOT_TOKEN },
    });
    const error = await platformFor(iac('https://gitlab.com/group/iac'), null).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).not.toContain(BOT_TOKEN);
  });
});
