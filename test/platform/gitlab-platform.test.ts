import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';

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

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
});

describe('GitLabPlatform', () => {
  it('reads a file at a commit, and says undefined for a missing one', async () => {
    nock(GITLAB, { reqheaders: { 'private-token': 'glpat-x' } })
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
  const raw = () => nock(GITLAB).get('/api/v4/projects/15/repository/files/f/raw').query(true);

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
    nock(GITLAB)
      .get('/api/v4/projects/15/repository/files/f/raw')
      .query(true)
      .times(3)
      .reply(502, 'bad gateway');
    await expect(platform().readFile(repo, SHA, 'f')).rejects.toMatchObject({ kind: 'transient' });
  });

  it('classifies a refused token as a configuration error', async () => {
    nock(GITLAB)
      .get('/api/v4/projects/15/repository/files/f/raw')
      .query(true)
      .reply(401, { message: '401 Unauthorized' });
    await expect(platform().readFile(repo, SHA, 'f')).rejects.toMatchObject({ kind: 'config' });
  });

  it('creates a deployment and reports its states with a commit status', async () => {
    nock(GITLAB)
      .post('/api/v4/projects/15/deployments', {
        environment: 'production',
        sha: SHA,
        ref: 'master',
        tag: false,
      })
      .reply(201, { id: 77 })
      .post(`/api/v4/projects/15/statuses/${SHA}`, {
        state: 'running',
        name: 'dag/deploy/production',
        ref: 'master',
        description: 'going',
      })
      .reply(201, {})
      .post(`/api/v4/projects/15/statuses/${SHA}`, {
        state: 'failed',
        name: 'dag/deploy/production',
        ref: 'master',
        description: 'bad values',
        target_url: 'https://x/1',
      })
      .reply(201, {})
      .put('/api/v4/projects/15/deployments/77', { status: 'running' })
      .reply(200, {})
      .put('/api/v4/projects/15/deployments/77', { status: 'failed' })
      .reply(200, {});
    const p = platform();
    const id = await p.createDeployment(repo, {
      sha: SHA,
      ref: 'master',
      environment: 'production',
      description: 'd',
    });
    expect(id).toBe('77');
    const deployment = { id, sha: SHA, ref: 'master', environment: 'production' };
    await p.setDeploymentState(repo, deployment, { state: 'in_progress', description: 'going' });
    await p.setDeploymentState(repo, deployment, {
      state: 'failure',
      description: 'bad values',
      logUrl: 'https://x/1',
    });
  });

  it('reads a chart folder through the tree API', async () => {
    nock(GITLAB)
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
