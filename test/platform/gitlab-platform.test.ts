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

describe('GitLabPlatform.findDeployment (a claim taken over from a DAG process that died)', () => {
  const OTHER_SHA = 'a91957a858320c0e17f3a0eca7cfacbff50ea29a';
  const PAGE = { environment: 'production', order_by: 'id', sort: 'desc', per_page: '100' };
  /** A listed deployment as GitLab answers it: made through the API (no job) unless `job`. */
  const made = (id: number, sha: string, status: string, job?: number) => ({
    id,
    iid: id - 60,
    ref: 'master',
    sha,
    status,
    created_at: '2025-01-01T00:00:00.000Z',
    updated_at: '2025-01-01T00:00:00.000Z',
    user: { id: 9, username: 'dag-bot' },
    environment: { id: 3, name: 'production' },
    deployable: job === undefined ? null : { id: job, status: 'success', name: 'deploy' },
  });
  /** GitLab's answer to the one list request DAG sends: newest first, the environment's. */
  const listing = (deployments: ReturnType<typeof made>[]) =>
    gitlab().get('/api/v4/projects/15/deployments').query(PAGE).reply(200, deployments);
  const find = (attempt: number, sha = SHA) =>
    platform().findDeployment(repo, { sha, environment: 'production', attempt });

  it("finds the commit's running deployment of the first attempt, filtering the commit itself", async () => {
    listing([
      made(90, OTHER_SHA, 'running'),
      made(88, SHA, 'running'),
      made(85, OTHER_SHA, 'success'),
      // A CI job's deployment of the same commit: not one DAG made.
      made(80, SHA, 'success', 657),
    ]);
    expect(await find(1)).toBe('88');
  });

  it("finds a redeploy's deployment: the commit's second, the first one ended", async () => {
    listing([made(88, SHA, 'running'), made(85, OTHER_SHA, 'success'), made(70, SHA, 'failed')]);
    expect(await find(2)).toBe('88');
  });

  it("does not take another attempt's deployment", async () => {
    // Attempt 2's process died before creating one: attempt 1's, ended, is all there is.
    listing([made(70, SHA, 'success')]);
    expect(await find(2)).toBeUndefined();
    // Attempt 1's left running (its end never reached GitLab): still the commit's first.
    listing([made(70, SHA, 'running')]);
    expect(await find(2)).toBeUndefined();
    // Ended: only the dead process knew a deployment's id, so its own is still running.
    listing([made(70, SHA, 'success')]);
    expect(await find(1)).toBeUndefined();
    // Two of the commit's deployments: the newest is not the first attempt's.
    listing([made(88, SHA, 'running'), made(70, SHA, 'success')]);
    expect(await find(1)).toBeUndefined();
  });

  it("does not take another commit's deployment, nor a CI job's", async () => {
    listing([made(90, OTHER_SHA, 'running'), made(85, OTHER_SHA, 'success')]);
    expect(await find(1)).toBeUndefined();
    listing([made(90, SHA, 'running', 657)]);
    expect(await find(1)).toBeUndefined();
  });

  it('says undefined when the environment has no deployment', async () => {
    listing([]);
    expect(await find(1)).toBeUndefined();
  });

  it('reads at most two pages of 100, newest first, and counts only what it saw there', async () => {
    const page = (from: number, sha?: { at: number; status: string }) =>
      Array.from({ length: 100 }, (_, i) =>
        from - i === sha?.at
          ? made(from - i, SHA, sha.status)
          : made(from - i, OTHER_SHA, 'success'),
      );
    const next = (n: number) => ({
      link: `<${GITLAB}/api/v4/projects/15/deployments?environment=production&order_by=id&page=${n}&per_page=100&sort=desc>; rel="next"`,
    });
    // A rollback to a commit deployed long ago: its first attempt lies past the two pages (no
    // third page is mocked: reading it fails the test), so the one seen may be the second's.
    gitlab()
      .get('/api/v4/projects/15/deployments')
      .query(PAGE)
      .reply(200, page(1000, { at: 950, status: 'running' }), next(2))
      .get('/api/v4/projects/15/deployments')
      .query({ ...PAGE, page: '2' })
      .reply(200, page(900), next(3));
    expect(await find(2)).toBe('950');
    // Three of the commit's deployments seen: more than a second attempt has.
    gitlab()
      .get('/api/v4/projects/15/deployments')
      .query(PAGE)
      .reply(200, page(1000, { at: 950, status: 'running' }), next(2))
      .get('/api/v4/projects/15/deployments')
      .query({ ...PAGE, page: '2' })
      .reply(
        200,
        [...page(900).slice(0, 98), made(802, SHA, 'success'), made(801, SHA, 'failed')],
        next(3),
      );
    expect(await find(2)).toBeUndefined();
  });

  it('classifies a refused token as a configuration error', async () => {
    gitlab()
      .get('/api/v4/projects/15/deployments')
      .query(PAGE)
      .reply(401, { message: '401 Unauthorized' });
    await expect(find(1)).rejects.toMatchObject({ kind: 'config' });
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

  it.each([
    [
      'a sha filter (GitLab has none)',
      { environment: 'production', sha: SHA },
      /sha is not a parameter/,
    ],
    ['a status GitLab does not have', { status: 'queued' }, /status does not have a valid value/],
    ['an order GitLab does not have', { order_by: 'sha' }, /order_by does not have a valid value/],
    ['a sort GitLab does not have', { sort: 'newest' }, /sort does not have a valid value/],
    ['more than 100 a page', { per_page: '101' }, /per_page is invalid/],
    [
      'an updated_at filter in another order',
      { updated_after: '2019-03-15T08:00:00Z', order_by: 'id' },
      /`updated_at` filter and `updated_at` sorting must be paired/,
    ],
    [
      'a finished_at filter without the success status',
      { finished_after: '2019-03-15T08:00:00Z', order_by: 'finished_at' },
      /must be combined with `success` status filter/,
    ],
    [
      'a date that is not ISO 8601',
      { updated_after: 'yesterday', order_by: 'updated_at' },
      /updated_after is invalid/,
    ],
  ])('refuses a deployment list with %s', (_what, query, refusal) => {
    const get = { method: 'GET', path: '/api/v4/projects/15/deployments', query, body: {} };
    expect(new GitLabContract().check(get).refusal).toMatch(refusal);
  });

  it('accepts the deployment list DAG asks for, and its documented filters', () => {
    const get = (query: Record<string, string>) =>
      new GitLabContract().check({
        method: 'GET',
        path: '/api/v4/projects/group%2Fapp/deployments',
        query,
        body: {},
      }).refusal;
    expect(
      get({ environment: 'production', order_by: 'id', sort: 'desc', per_page: '100', page: '2' }),
    ).toBeUndefined();
    expect(
      get({ status: 'blocked', order_by: 'updated_at', updated_before: '2019-03-15T08:00:00Z' }),
    ).toBeUndefined();
    expect(
      get({ status: 'success', order_by: 'finished_at', finished_after: '2019-03-15T08:00:00Z' }),
    ).toBeUndefined();
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
