import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { observedOctokit } from '../../src/platform/github/observed-octokit.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import type { ProviderRequest } from '../../src/platform/request-metrics.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

/** GitLab requests below are checked against GitLab's documented contract. */
const contract = new GitLabContract();

const SHA = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  contract.assertKept();
});

/** What an observer saw, durations aside (they are checked to be sane). */
function recorder() {
  const seen: ProviderRequest[] = [];
  return {
    observe: (request: ProviderRequest) => seen.push(request),
    seen: () => {
      for (const s of seen) expect(s.seconds).toBeGreaterThanOrEqual(0);
      return seen.map((s) => {
        const { seconds, ...rest } = s;
        expect(seconds).toBeLessThan(30);
        return rest;
      });
    },
  };
}

describe('GitHub requests through the observed Octokit', () => {
  const repo: RepoRef = {
    provider: 'github',
    fullName: 'octo-org/my-app',
    urls: [],
    installationId: 4711,
    webUrl: 'https://github.com/octo-org/my-app',
  };

  it('reports each request under its route template, with status and rate limit', async () => {
    const r = recorder();
    const Octokit = observedOctokit(ProbotOctokit, r.observe);
    const platform = new GitHubPlatform(
      new Octokit({
        auth: { token: 'ghs_test' },
        throttle: { enabled: false },
        retry: { enabled: false },
      }),
    );
    nock('https://api.github.com')
      .get('/repos/octo-org/my-app/contents/deploy%2Fvalues.yaml')
      .query({ ref: SHA })
      .reply(200, 'a: 1\n', {
        'content-type': 'application/vnd.github.raw',
        'x-ratelimit-remaining': '4321',
        'x-ratelimit-resource': 'core',
      })
      .get('/repos/octo-org/my-app/contents/deploy%2Fvalues-production.yaml')
      .query({ ref: SHA })
      .reply(404, { message: 'Not Found' })
      .get('/repos/octo-org/my-app/contents/deploy%2Fvalues-staging.yaml')
      .query({ ref: SHA })
      .replyWithError('socket hang up');

    expect(await platform.readFile(repo, SHA, 'deploy/values.yaml')).toBe('a: 1\n');
    expect(await platform.readFile(repo, SHA, 'deploy/values-production.yaml')).toBeUndefined();
    await expect(platform.readFile(repo, SHA, 'deploy/values-staging.yaml')).rejects.toThrow();

    const route = 'GET /repos/{owner}/{repo}/contents/{path}';
    expect(r.seen()).toEqual([
      {
        provider: 'github',
        host: 'api.github.com',
        route,
        status: 200,
        rateLimit: { resource: 'core', remaining: 4321 },
      },
      { provider: 'github', host: 'api.github.com', route, status: 404, rateLimit: undefined },
      { provider: 'github', host: 'api.github.com', route, status: 'error', rateLimit: undefined },
    ]);
  });

  it('leaves the class as it is without an observer', () => {
    expect(observedOctokit(ProbotOctokit, undefined)).toBe(ProbotOctokit);
  });
});

describe('GitLab requests through the backoff requester', () => {
  const GITLAB = 'https://gitlab.example.com';
  const repo: RepoRef = {
    provider: 'gitlab',
    fullName: 'mike/diaspora',
    urls: [],
    projectId: 15,
    webUrl: '',
  };

  it('reports every attempt, retries included, under the templated endpoint', async () => {
    const r = recorder();
    const platform = new GitLabPlatform({
      url: GITLAB,
      token: 'glpat-x',
      backoff: { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, sleep: () => Promise.resolve() },
      onRequest: r.observe,
    });
    contract
      .nock(GITLAB)
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues.yaml/raw')
      .query({ ref: SHA })
      .reply(503, { message: 'down' })
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues.yaml/raw')
      .query({ ref: SHA })
      .reply(200, 'a: 1\n', { 'content-type': 'text/plain', 'ratelimit-remaining': '1999' })
      .post(`/api/v4/projects/15/statuses/${SHA}`)
      .reply(201, {});

    expect(await platform.readFile(repo, SHA, 'deploy/values.yaml')).toBe('a: 1\n');
    await platform.setDeploymentState(
      repo,
      { id: '77', sha: SHA, ref: 'main', environment: 'production' },
      { state: 'queued', description: 'x' },
    );

    const route = 'GET /projects/{id}/repository/files/{file_path}/raw';
    const host = 'gitlab.example.com';
    expect(r.seen()).toEqual([
      { provider: 'gitlab', host, route, status: 503, rateLimit: undefined },
      {
        provider: 'gitlab',
        host,
        route,
        status: 200,
        rateLimit: { resource: 'api', remaining: 1999 },
      },
      {
        provider: 'gitlab',
        host,
        route: 'POST /projects/{id}/statuses/{sha}',
        status: 201,
        rateLimit: undefined,
      },
    ]);
  });
});
