import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

const GITLAB = 'https://gitlab.example.com';
const repo: RepoRef = {
  provider: 'gitlab',
  fullName: 'mike/diaspora',
  urls: [],
  projectId: 15,
  webUrl: '',
};
const SHA = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
const platform = () =>
  new GitLabPlatform({
    url: GITLAB,
    token: 'glpat-x',
    backoff: { attempts: 3, baseDelayMs: 5, maxDelayMs: 50 },
  });

/** Every request below is checked against GitLab's documented contract. */
const contract = new GitLabContract();
const gitlab = (options?: nock.Options) => contract.nock(GITLAB, options);

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  contract.assertKept();
});

describe('GitLabPlatform', () => {
  it('reads a file at a commit, and says undefined for a missing one', async () => {
    gitlab({ reqheaders: { 'private-token': 'glpat-x' } })
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues.yaml/raw')
      .query({ ref: SHA })
      .reply(200, 'a: 1\n', { 'content-type': 'text/plain' })
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues-x.yaml/raw')
      .query({ ref: SHA })
      .reply(404, { message: '404 File Not Found' });
    const p = platform();
    expect(await p.readFile(repo, SHA, 'deploy/values.yaml')).toBe('a: 1\n');
    expect(await p.readFile(repo, SHA, 'deploy/values-x.yaml')).toBeUndefined();
  });

  /** A platform whose backoff records its waits instead of waiting. */
  function recording(attempts = 3) {
    const waits: number[] = [];
    const p = new GitLabPlatform({
      url: GITLAB,
      token: 'glpat-x',
      backoff: {
        attempts,
        baseDelayMs: 100,
        maxDelayMs: 60_000,
        sleep: (ms) => {
          waits.push(ms);
          return Promise.resolve();
        },
      },
    });
    return { p, waits };
  }
  const raw = () => gitlab().get('/api/v4/projects/15/repository/files/f/raw').query(true);

  it('waits as long as Retry-After asks on 429 (seconds or a date), then succeeds', async () => {
    raw().reply(429, 'slow down', { 'retry-after': '7' });
    raw().reply(429, 'slow down', { 'retry-after': new Date(Date.now() + 5_000).toUTCString() });
    raw().reply(200, 'ok', { 'content-type': 'text/plain' });
    const { p, waits } = recording();
    expect(await p.readFile(repo, SHA, 'f')).toBe('ok');
    expect(waits[0]).toBe(7_000);
    expect(waits[1]).toBeGreaterThan(3_000);
    expect(waits[1]).toBeLessThanOrEqual(5_000);
    expect(waits).toHaveLength(2);
  });

  it('caps a long Retry-After at its longest wait', async () => {
    raw().reply(429, 'slow down', { 'retry-after': '3600' });
    raw().reply(200, 'ok', { 'content-type': 'text/plain' });
    const { p, waits } = recording();
    expect(await p.readFile(repo, SHA, 'f')).toBe('ok');
    expect(waits).toEqual([60_000]);
  });

  it('retries every 5xx with exponential backoff and jitter (gitbeaker alone retries only 502)', async () => {
    raw().reply(503, 'unavailable');
    raw().reply(500, 'oops');
    raw().reply(200, 'ok', { 'content-type': 'text/plain' });
    const { p, waits } = recording();
    expect(await p.readFile(repo, SHA, 'f')).toBe('ok');
    expect(waits).toHaveLength(2);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[1]).toBeLessThanOrEqual(200);
  });

  it('gives up after its attempts with a transient error on 5xx', async () => {
    gitlab()
      .get('/api/v4/projects/15/repository/files/f/raw')
      .query(true)
      .times(3)
      .reply(502, 'bad gateway');
    await expect(platform().readFile(repo, SHA, 'f')).rejects.toMatchObject({ kind: 'transient' });
  });

  it('classifies a refused token as a configuration error', async () => {
    gitlab()
      .get('/api/v4/projects/15/repository/files/f/raw')
      .query(true)
      .reply(401, { message: '401 Unauthorized' });
    await expect(platform().readFile(repo, SHA, 'f')).rejects.toMatchObject({ kind: 'config' });
  });

  const deployment = { id: '77', sha: SHA, ref: 'master', environment: 'production' };
  const status = (state: string, fields: Record<string, string> = {}) => ({
    state,
    name: 'dag/deploy/production',
    ref: 'master',
    ...fields,
  });

  it('creates the deployment running (GitLab has no queued), with every field GitLab requires', async () => {
    gitlab()
      .post('/api/v4/projects/15/deployments', {
        environment: 'production',
        sha: SHA,
        ref: 'master',
        tag: false,
        status: 'running',
      })
      .reply(201, { id: 77, status: 'running' });
    const id = await platform().createDeployment(repo, {
      sha: SHA,
      ref: 'master',
      environment: 'production',
      description: 'd',
    });
    expect(id).toBe('77');
  });

  it('shows queued and in progress with the commit status, and ends the deployment with it', async () => {
    gitlab()
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('pending', { description: 'queued' }))
      .reply(201, { status: 'pending' })
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('running', { description: 'going' }))
      .reply(201, { status: 'running' })
      .post(
        `/api/v4/projects/15/statuses/${SHA}`,
        status('success', { description: 'done', target_url: 'https://x.example/1' }),
      )
      .reply(201, { status: 'success' })
      .put('/api/v4/projects/15/deployments/77', { status: 'success' })
      .reply(200, { id: 77, status: 'success' });
    const p = platform();
    await p.setDeploymentState(repo, deployment, { state: 'queued', description: 'queued' });
    await p.setDeploymentState(repo, deployment, { state: 'in_progress', description: 'going' });
    await p.setDeploymentState(repo, deployment, {
      state: 'success',
      description: 'done',
      logUrl: 'https://x.example/1',
    });
  });

  it('reports a failure on the commit status and the deployment', async () => {
    gitlab()
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('running', { description: 'going' }))
      .reply(201, {})
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('failed', { description: 'bad values' }))
      .reply(201, {})
      .put('/api/v4/projects/15/deployments/77', { status: 'failed' })
      .reply(200, {});
    const p = platform();
    await p.setDeploymentState(repo, deployment, { state: 'in_progress', description: 'going' });
    await p.setDeploymentState(repo, deployment, { state: 'failure', description: 'bad values' });
  });

  it('leaves a running status running when a retry goes back to queued (GitLab refuses that)', async () => {
    const refusal = { message: 'Cannot transition status via :enqueue from :running' };
    gitlab()
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('running', { description: 'going' }))
      .reply(201, {})
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('pending', { description: 'Retrying' }))
      .reply(400, refusal)
      // The job's next attempt: running again, refused the same way, and left as it is.
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('running', { description: 'again' }))
      .reply(400, { message: 'Cannot transition status via :run from :running' })
      .post(`/api/v4/projects/15/statuses/${SHA}`, status('success', { description: 'done' }))
      .reply(201, {})
      .put('/api/v4/projects/15/deployments/77', { status: 'success' })
      .reply(200, {});
    const p = platform();
    await p.setDeploymentState(repo, deployment, { state: 'in_progress', description: 'going' });
    await p.setDeploymentState(repo, deployment, { state: 'queued', description: 'Retrying' });
    await p.setDeploymentState(repo, deployment, { state: 'in_progress', description: 'again' });
    await p.setDeploymentState(repo, deployment, { state: 'success', description: 'done' });
  });

  it('does not swallow any other refusal of a commit status', async () => {
    gitlab()
      .post(`/api/v4/projects/15/statuses/${SHA}`)
      .reply(400, { message: '400 Bad request - state is invalid' });
    await expect(
      platform().setDeploymentState(repo, deployment, { state: 'queued', description: 'q' }),
    ).rejects.toMatchObject({ kind: 'user' });
  });

  it('reads a chart folder through the tree API', async () => {
    gitlab()
      .get('/api/v4/projects/15/repository/tree')
      .query(true)
      .reply(200, [
        { path: 'chart/Chart.yaml', type: 'blob' },
        { path: 'chart/templates', type: 'tree' },
        { path: 'chart/templates/deployment.yaml', type: 'blob' },
      ])
      .get('/api/v4/projects/15/repository/files/chart%2FChart.yaml/raw')
      .query(true)
      .reply(200, 'name: x\n', { 'content-type': 'text/plain' })
      .get('/api/v4/projects/15/repository/files/chart%2Ftemplates%2Fdeployment.yaml/raw')
      .query(true)
      .reply(200, 'kind: Deployment\n', { 'content-type': 'text/plain' });
    expect(await platform().readFolder(repo, SHA, 'chart')).toEqual({
      'Chart.yaml': 'name: x\n',
      'templates/deployment.yaml': 'kind: Deployment\n',
    });
  });
});

describe("GitLab's request contract (test/helpers/gitlab-contract.ts)", () => {
  const request = (method: string, path: string, body: Record<string, unknown> = {}) => ({
    method,
    path,
    query: {},
    body,
  });
  /** The deployment DAG created before this fix: no status. */
  const oldCreate = { environment: 'production', sha: SHA, ref: 'master', tag: false };

  it('refuses the old deployment request without status, as GitLab does', () => {
    const checker = new GitLabContract();
    expect(
      checker.check(request('POST', '/api/v4/projects/15/deployments', oldCreate)),
    ).toMatchObject({
      refusal: 'status is missing',
    });
    expect(
      checker.check(
        request('POST', '/api/v4/projects/15/deployments', { ...oldCreate, status: 'created' }),
      ),
    ).toMatchObject({ refusal: 'status does not have a valid value' });
  });

  it('fails a test whose mock accepted the old request', async () => {
    const checker = new GitLabContract();
    checker.nock(GITLAB).post('/api/v4/projects/15/deployments', oldCreate).reply(201, { id: 77 });
    await fetch(`${GITLAB}/api/v4/projects/15/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(oldCreate),
    });
    expect(() => checker.assertKept()).toThrow(
      /POST \/api\/v4\/projects\/15\/deployments: GitLab refuses it \(status is missing\), the mock answered 201/,
    );
  });

  it.each([
    [
      'a deployment set running (an API-created one never runs again)',
      'PUT',
      '/api/v4/projects/15/deployments/77',
      { status: 'running' },
      /:run from :running/,
    ],
    [
      'a commit status state GitLab does not have',
      'POST',
      `/api/v4/projects/15/statuses/${SHA}`,
      { state: 'queued' },
      /state does not have a valid value/,
    ],
    [
      'a field GitLab does not document',
      'POST',
      `/api/v4/projects/15/statuses/${SHA}`,
      { state: 'running', log_url: 'https://x.example' },
      /log_url is not a parameter/,
    ],
    [
      'a merge request without a title',
      'POST',
      '/api/v4/projects/15/merge_requests',
      { source_branch: 'a', target_branch: 'b' },
      /title is missing/,
    ],
    ['an empty note', 'POST', '/api/v4/projects/15/merge_requests/7/notes', {}, /body is missing/],
    [
      'a route DAG is not known to call',
      'DELETE',
      '/api/v4/projects/15',
      {},
      /not a route in DAG's GitLab contract/,
    ],
  ])('refuses %s', (_what, method, path, body, refusal) => {
    expect(new GitLabContract().check(request(method, path, body)).refusal).toMatch(refusal);
  });

  it('refuses a commit status sent back to pending, or running twice, as GitLab does', () => {
    const checker = new GitLabContract();
    const post = (state: string) =>
      checker.observe(
        request('POST', `/api/v4/projects/15/statuses/${SHA}`, { state, name: 'x' }),
        201,
      );
    expect(post('pending')).toBeUndefined();
    expect(post('pending')).toBe('Cannot transition status via :enqueue from :pending');
    expect(post('running')).toBeUndefined();
    expect(post('running')).toBe('Cannot transition status via :run from :running');
    expect(post('pending')).toBe('Cannot transition status via :enqueue from :running');
    expect(post('success')).toBeUndefined();
    // A finished status: the next one starts anew.
    expect(post('pending')).toBeUndefined();
    expect(checker.violations).toHaveLength(3);
  });
});
