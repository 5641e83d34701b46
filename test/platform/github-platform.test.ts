import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, TransientError, UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { FOLDER_LIMITS } from '../../src/platform/types.ts';

const API = 'https://api.github.com';
const SHA = 'd6cd1e2bd19e03a81132a23b2025920577f84e37';
const repo: RepoRef = {
  provider: 'github',
  fullName: 'octo-org/my-app',
  urls: ['https://github.com/octo-org/my-app'],
  installationId: 4711,
  webUrl: 'https://github.com/octo-org/my-app',
};
const deployment = { id: '101', sha: SHA, ref: 'main', environment: 'production' };
const RAW = { 'content-type': 'application/vnd.github.raw' };

/** Probot's Octokit with an installation-like token; no retries or throttling against mocks. */
const platform = () =>
  new GitHubPlatform(
    new ProbotOctokit({
      auth: { token: 'ghs_test' },
      throttle: { enabled: false },
      retry: { enabled: false },
    }),
  );

/** The GitHub API as an installation token sees it. */
const github = (accept = 'application/vnd.github.raw+json') =>
  nock(API, { reqheaders: { authorization: 'token ghs_test', accept } });

const contents = (path: string) =>
  github()
    .get(`/repos/octo-org/my-app/contents/${encodeURIComponent(path)}`)
    .query({ ref: SHA });

const tree = (entries: { path: string; type: string; size?: number }[]) =>
  github('application/vnd.github.v3+json')
    .get(`/repos/octo-org/my-app/git/trees/${SHA}`)
    .query({ recursive: '1' })
    .reply(200, { sha: SHA, truncated: false, tree: entries });

beforeAll(() => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
});
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
});
afterAll(() => nock.enableNetConnect());

describe('GitHubPlatform.readFile', () => {
  it('reads the raw content of a file at a commit', async () => {
    contents('deploy/values.yaml').reply(200, 'replicaCount: 2\n', RAW);
    expect(await platform().readFile(repo, SHA, 'deploy/values.yaml')).toBe('replicaCount: 2\n');
  });

  it('reads UTF-8 whatever content type GitHub answers with', async () => {
    contents('a.yaml').reply(200, 'name: café ✓\n', {
      'content-type': 'text/plain; charset=utf-8',
    });
    contents('b.yaml').reply(200, Buffer.from('name: café ✓\n'), RAW);
    const p = platform();
    expect(await p.readFile(repo, SHA, 'a.yaml')).toBe('name: café ✓\n');
    expect(await p.readFile(repo, SHA, 'b.yaml')).toBe('name: café ✓\n');
  });

  it('says undefined for a file that does not exist', async () => {
    contents('deploy/values-production.yaml').reply(404, { message: 'Not Found' });
    expect(await platform().readFile(repo, SHA, 'deploy/values-production.yaml')).toBeUndefined();
  });

  it('refuses a folder with a user error', async () => {
    contents('deploy').reply(200, [
      { type: 'file', name: 'values.yaml', path: 'deploy/values.yaml' },
    ]);
    const error = await platform()
      .readFile(repo, SHA, 'deploy')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({
      message: 'deploy in octo-org/my-app is a folder, not a file',
    });
  });

  it.each([
    [401, ConfigError, 'config'],
    [403, ConfigError, 'config'],
    [500, TransientError, 'transient'],
    [502, TransientError, 'transient'],
    [503, TransientError, 'transient'],
    [429, TransientError, 'transient'],
  ])('classifies HTTP %i as %o', async (status, type, kind) => {
    contents('deploy/values.yaml').reply(status, { message: 'nope' });
    const error = await platform()
      .readFile(repo, SHA, 'deploy/values.yaml')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect(error).toMatchObject({ kind });
    expect((error as Error).message).toContain(
      `GitHub API: reading deploy/values.yaml at ${SHA.slice(0, 7)} failed (HTTP ${status})`,
    );
    if (kind === 'config') expect((error as Error).message).toContain("DAG's credentials");
    if (kind === 'transient') expect(error).toMatchObject({ status });
  });

  // nock's replyWithError hangs under fetch in this version: refuse the connection for real.
  it('treats a refused connection as transient', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const offline = new GitHubPlatform(
      new ProbotOctokit({
        auth: { token: 'ghs_test' },
        baseUrl: `http://127.0.0.1:${port}`,
        throttle: { enabled: false },
        retry: { enabled: false },
      }),
    );
    await expect(offline.readFile(repo, SHA, 'deploy/values.yaml')).rejects.toBeInstanceOf(
      TransientError,
    );
  });
});

describe('GitHubPlatform.readFolder', () => {
  it('lists the commit tree once and reads each file under the folder', async () => {
    tree([
      { path: 'README.md', type: 'blob', size: 10 },
      { path: 'chart', type: 'tree' },
      { path: 'chart/Chart.yaml', type: 'blob', size: 40 },
      { path: 'chart/templates', type: 'tree' },
      { path: 'chart/templates/deployment.yaml', type: 'blob', size: 100 },
      { path: 'chart-old/Chart.yaml', type: 'blob', size: 40 },
      { path: 'vendor', type: 'commit' },
    ]);
    contents('chart/Chart.yaml').reply(200, 'name: my-app\n', RAW);
    contents('chart/templates/deployment.yaml').reply(200, 'kind: Deployment\n', RAW);
    expect(await platform().readFolder(repo, SHA, 'chart/')).toEqual({
      'Chart.yaml': 'name: my-app\n',
      'templates/deployment.yaml': 'kind: Deployment\n',
    });
  });

  it('says undefined when there is no such folder', async () => {
    tree([{ path: 'chart-old/Chart.yaml', type: 'blob', size: 40 }]);
    expect(await platform().readFolder(repo, SHA, 'chart')).toBeUndefined();
  });

  it(`refuses more than ${FOLDER_LIMITS.files} files before reading any`, async () => {
    tree(
      Array.from({ length: FOLDER_LIMITS.files + 1 }, (_, i) => ({
        path: `chart/templates/t${i}.yaml`,
        type: 'blob',
        size: 1,
      })),
    );
    const error = await platform()
      .readFolder(repo, SHA, 'chart')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ message: `chart has more than ${FOLDER_LIMITS.files} files` });
  });

  it('refuses a folder larger than 2 MiB before reading any file', async () => {
    tree([
      { path: 'chart/Chart.yaml', type: 'blob', size: 100 },
      { path: 'chart/files/big.bin', type: 'blob', size: FOLDER_LIMITS.bytes },
    ]);
    await expect(platform().readFolder(repo, SHA, 'chart')).rejects.toMatchObject({
      kind: 'user',
      message: 'chart is larger than 2 MiB',
    });
  });

  it('classifies failures of the tree API', async () => {
    github('application/vnd.github.v3+json')
      .get(`/repos/octo-org/my-app/git/trees/${SHA}`)
      .query({ recursive: '1' })
      .reply(502, 'bad gateway')
      .get(`/repos/octo-org/my-app/git/trees/${SHA}`)
      .query({ recursive: '1' })
      .reply(401, { message: 'Bad credentials' });
    const p = platform();
    await expect(p.readFolder(repo, SHA, 'chart')).rejects.toBeInstanceOf(TransientError);
    await expect(p.readFolder(repo, SHA, 'chart')).rejects.toBeInstanceOf(ConfigError);
  });
});

describe('GitHubPlatform.createDeployment', () => {
  const input = (environment: string) => ({
    sha: SHA,
    ref: 'main',
    environment,
    description: `DAG deploys ${SHA.slice(0, 7)} to ${environment}`,
  });

  it('creates a deployment of the exact commit that neither merges nor waits for checks', async () => {
    github('application/vnd.github.v3+json')
      .post('/repos/octo-org/my-app/deployments', {
        ref: SHA,
        environment: 'staging',
        description: `DAG deploys ${SHA.slice(0, 7)} to staging`,
        auto_merge: false,
        required_contexts: [],
        production_environment: false,
        payload: { dag: { ref: 'main' } },
      })
      .reply(201, { id: 101, sha: SHA, environment: 'staging' });
    expect(await platform().createDeployment(repo, input('staging'))).toBe('101');
  });

  it.each(['production', 'prod', 'production-eu', 'prod.1'])(
    "marks %s as a production environment, as DAG's rules guard it",
    async (environment) => {
      github('application/vnd.github.v3+json')
        .post(
          '/repos/octo-org/my-app/deployments',
          (body: Record<string, unknown>) =>
            body.environment === environment && body.production_environment === true,
        )
        .reply(201, { id: 102 });
      expect(await platform().createDeployment(repo, input(environment))).toBe('102');
    },
  );

  it('cuts the description to the 140 characters GitHub accepts', async () => {
    github('application/vnd.github.v3+json')
      .post(
        '/repos/octo-org/my-app/deployments',
        (body: Record<string, unknown>) => body.description === 'x'.repeat(140),
      )
      .reply(201, { id: 103 });
    expect(
      await platform().createDeployment(repo, {
        ...input('staging'),
        description: 'x'.repeat(200),
      }),
    ).toBe('103');
  });

  it.each([
    [401, ConfigError],
    [403, ConfigError],
    [500, TransientError],
    [422, UserError],
  ])('classifies HTTP %i', async (status, type) => {
    github('application/vnd.github.v3+json')
      .post('/repos/octo-org/my-app/deployments')
      .reply(status, { message: 'no' });
    const error = await platform()
      .createDeployment(repo, input('staging'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toContain(
      `GitHub API: creating the staging deployment failed (HTTP ${status})`,
    );
  });
});

describe('GitHubPlatform.setDeploymentState', () => {
  const statuses = '/repos/octo-org/my-app/deployments/101/statuses';

  it('reports success with a link to the IAC commit, marking older deployments inactive', async () => {
    github('application/vnd.github.v3+json')
      .post(statuses, {
        state: 'success',
        description: 'Committed abc1234 to iac main:clusters/production/my-app',
        log_url: 'https://github.com/octo-org/iac/commit/abc1234',
        auto_inactive: true,
      })
      .reply(201, { id: 1 });
    await platform().setDeploymentState(repo, deployment, {
      state: 'success',
      description: 'Committed abc1234 to iac main:clusters/production/my-app',
      logUrl: 'https://github.com/octo-org/iac/commit/abc1234',
    });
  });

  it.each(['queued', 'in_progress', 'failure'] as const)(
    'reports %s without a log URL, leaving the running deployment active',
    async (state) => {
      github('application/vnd.github.v3+json')
        .post(statuses, { state, description: 'Working', auto_inactive: false })
        .reply(201, { id: 2 });
      await platform().setDeploymentState(repo, deployment, { state, description: 'Working' });
    },
  );

  it('does not post a status again when the one whose answer was lost was recorded', async () => {
    github('application/vnd.github.v3+json')
      .post(statuses, (b) => b.state === 'success')
      .reply(502, { message: 'Bad Gateway' })
      .get(statuses)
      .query({ per_page: 1 })
      .reply(200, [{ id: 9, state: 'success' }]);
    await platform().setDeploymentState(repo, deployment, { state: 'success', description: 'ok' });
  });

  it('reads the deployment first when resuming, and posts only a state it does not show', async () => {
    github('application/vnd.github.v3+json')
      .get(statuses)
      .query({ per_page: 1 })
      .reply(200, [{ id: 9, state: 'success' }])
      .get(statuses)
      .query({ per_page: 1 })
      .reply(200, [{ id: 8, state: 'in_progress' }])
      .post(statuses, (b) => b.state === 'success')
      .reply(201, { id: 10 });
    await platform().setDeploymentState(repo, deployment, {
      state: 'success',
      description: 'ok',
      resume: true,
    });
    await platform().setDeploymentState(repo, deployment, {
      state: 'success',
      description: 'ok',
      resume: true,
    });
  });

  it('cuts the description to 140 characters', async () => {
    const reason = `the IAC repository rejected DAG's token ${'(details) '.repeat(20)}`;
    github('application/vnd.github.v3+json')
      .post(statuses, {
        state: 'failure',
        description: reason.slice(0, 140),
        auto_inactive: false,
      })
      .reply(201, { id: 3 });
    await platform().setDeploymentState(repo, deployment, {
      state: 'failure',
      description: reason,
    });
  });

  it.each([
    [401, ConfigError],
    [403, ConfigError],
    [500, TransientError],
    [504, TransientError],
  ])('classifies HTTP %i', async (status, type) => {
    const scope = github('application/vnd.github.v3+json')
      .post(statuses)
      .times(status >= 500 ? 3 : 1)
      .reply(status, { message: 'no' });
    // A status answered 5xx may have been recorded: the deployment is read before each new try.
    if (status >= 500) scope.get(statuses).query({ per_page: 1 }).times(2).reply(200, []);
    const error = await platform()
      .setDeploymentState(repo, deployment, { state: 'in_progress', description: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(type);
    expect((error as Error).message).toContain(
      `GitHub API: reporting the production deployment failed (HTTP ${status})`,
    );
  });
});
