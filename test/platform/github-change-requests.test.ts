import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';

const API = 'https://api.github.com';
const HEAD_SHA = '6dcb09b5b57875f334f61aebed695e2e4193db5e';
const MERGE_SHA = 'e5bd3914e2e596debea16f433f57875b5b90bcd6';
const repo: RepoRef = {
  provider: 'github',
  fullName: 'octo-org/iac',
  urls: ['https://github.com/octo-org/iac'],
  webUrl: 'https://github.com/octo-org/iac',
};

const platform = () =>
  new GitHubPlatform(
    new ProbotOctokit({
      auth: { token: 'ghs_test' },
      throttle: { enabled: false },
      retry: { enabled: false },
    }),
  );

const github = () => nock(API, { reqheaders: { authorization: 'token ghs_test' } });

/** A pull request as GitHub's REST API returns it (the fields DAG reads, and a few more). */
function pull(fields: Record<string, unknown> = {}) {
  return {
    url: 'https://api.github.com/repos/octo-org/iac/pulls/42',
    id: 1296269,
    html_url: 'https://github.com/octo-org/iac/pull/42',
    number: 42,
    state: 'open',
    locked: false,
    title: 'Promote my-app to production',
    user: { login: 'dag[bot]', id: 2, type: 'Bot' },
    body: 'Promotes d6cd1e2 from staging.',
    labels: [],
    created_at: '2026-01-26T19:01:12Z',
    updated_at: '2026-01-26T19:01:12Z',
    closed_at: null,
    merged_at: null,
    merge_commit_sha: null,
    draft: false,
    head: {
      label: 'octo-org:dag/promote/production',
      ref: 'dag/promote/production',
      sha: HEAD_SHA,
      repo: { full_name: 'octo-org/iac' },
    },
    base: {
      label: 'octo-org:main',
      ref: 'main',
      sha: MERGE_SHA,
      repo: { full_name: 'octo-org/iac' },
    },
    ...fields,
  };
}

const open = {
  number: 42,
  url: 'https://github.com/octo-org/iac/pull/42',
  state: 'open',
  headRef: 'dag/promote/production',
  baseRef: 'main',
  headSha: HEAD_SHA,
  title: 'Promote my-app to production',
  body: 'Promotes d6cd1e2 from staging.',
  mergeCommitSha: null,
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
});
afterAll(() => nock.enableNetConnect());

describe('GitHubPlatform change requests', () => {
  it('has the longest body GitHub accepts', () => {
    expect(platform().maxBodyLength).toBe(65536);
  });

  it('finds the open pull request from a branch of the repository itself', async () => {
    github()
      .get('/repos/octo-org/iac/pulls')
      .query({
        state: 'open',
        head: 'octo-org:dag/promote/production',
        base: 'main',
        per_page: '1',
      })
      .reply(200, [pull()]);
    expect(await platform().findOpenChangeRequest(repo, 'dag/promote/production', 'main')).toEqual(
      open,
    );
  });

  it('says undefined when there is no open pull request', async () => {
    github()
      .get('/repos/octo-org/iac/pulls')
      .query({ state: 'open', head: 'octo-org:dag/x', base: 'main', per_page: '1' })
      .reply(200, []);
    expect(await platform().findOpenChangeRequest(repo, 'dag/x', 'main')).toBeUndefined();
  });

  it('reads an open pull request', async () => {
    github()
      .get('/repos/octo-org/iac/pulls/42')
      .reply(200, pull({ merged: false }));
    expect(await platform().getChangeRequest(repo, 42)).toEqual(open);
  });

  it('reads a merged pull request with its merge commit', async () => {
    github()
      .get('/repos/octo-org/iac/pulls/42')
      .reply(
        200,
        pull({
          state: 'closed',
          merged: true,
          closed_at: '2026-01-27T08:00:00Z',
          merged_at: '2026-01-27T08:00:00Z',
          merge_commit_sha: MERGE_SHA,
        }),
      );
    expect(await platform().getChangeRequest(repo, 42)).toEqual({
      ...open,
      state: 'merged',
      mergeCommitSha: MERGE_SHA,
    });
  });

  it('reads a closed pull request without the test merge commit GitHub still reports', async () => {
    github()
      .get('/repos/octo-org/iac/pulls/42')
      .reply(
        200,
        pull({
          state: 'closed',
          merged: false,
          closed_at: '2026-01-27T08:00:00Z',
          merge_commit_sha: MERGE_SHA,
          body: null,
        }),
      );
    expect(await platform().getChangeRequest(repo, 42)).toEqual({
      ...open,
      state: 'closed',
      body: '',
    });
  });

  it('opens a pull request, then labels it in one request', async () => {
    github()
      .post('/repos/octo-org/iac/pulls', {
        head: 'dag/promote/production',
        base: 'main',
        title: 'Promote my-app to production',
        body: 'Promotes d6cd1e2 from staging.',
        maintainer_can_modify: false,
      })
      .reply(201, pull())
      .post('/repos/octo-org/iac/issues/42/labels', { labels: ['dag', 'promotion'] })
      .reply(200, [
        { id: 208045946, name: 'dag', color: 'ededed', default: false },
        { id: 208045947, name: 'promotion', color: 'ededed', default: false },
      ]);
    const created = await platform().createChangeRequest(repo, {
      head: 'dag/promote/production',
      base: 'main',
      title: 'Promote my-app to production',
      body: 'Promotes d6cd1e2 from staging.',
      labels: ['dag', 'promotion'],
    });
    expect(created).toEqual(open);
  });

  it('opens a pull request without labels in one request', async () => {
    github()
      .post('/repos/octo-org/iac/pulls', (body: Record<string, unknown>) => body.head === 'dag/x')
      .reply(201, pull({ head: { ref: 'dag/x', sha: HEAD_SHA } }));
    const created = await platform().createChangeRequest(repo, {
      head: 'dag/x',
      base: 'main',
      title: 'Promote my-app to production',
      body: 'Promotes d6cd1e2 from staging.',
      labels: [],
    });
    expect(created).toMatchObject({ number: 42, headRef: 'dag/x' });
  });

  it('classifies a refused pull request as a user error', async () => {
    github()
      .post('/repos/octo-org/iac/pulls')
      .reply(422, {
        message: 'Validation Failed',
        errors: [
          { resource: 'PullRequest', code: 'custom', message: 'No commits between main and dag/x' },
        ],
      });
    const error = await platform()
      .createChangeRequest(repo, { head: 'dag/x', base: 'main', title: 't', body: 'b', labels: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      'GitHub API: opening a pull request from dag/x failed (HTTP 422)',
    );
  });

  it('updates the title and body', async () => {
    github()
      .patch('/repos/octo-org/iac/pulls/42', { title: 'New title', body: 'New body' })
      .reply(200, pull({ title: 'New title', body: 'New body' }));
    expect(
      await platform().updateChangeRequest(repo, 42, { title: 'New title', body: 'New body' }),
    ).toEqual({ ...open, title: 'New title', body: 'New body' });
  });

  it('closes with a comment first', async () => {
    const order: string[] = [];
    github()
      .post('/repos/octo-org/iac/issues/42/comments', { body: 'Superseded by #43.' })
      .reply(201, () => {
        order.push('comment');
        return { id: 1, body: 'Superseded by #43.' };
      })
      .patch('/repos/octo-org/iac/pulls/42', { state: 'closed' })
      .reply(200, () => {
        order.push('close');
        return pull({ state: 'closed', closed_at: '2026-01-27T08:00:00Z' });
      });
    await platform().closeChangeRequest(repo, 42, 'Superseded by #43.');
    expect(order).toEqual(['comment', 'close']);
  });

  it('comments once', async () => {
    github()
      .post('/repos/octo-org/iac/issues/42/comments', { body: 'Rebased on main.' })
      .reply(201, { id: 1, body: 'Rebased on main.' });
    await platform().commentOnChangeRequest(repo, 42, 'Rebased on main.');
  });
});

describe('GitHubPlatform.compare', () => {
  const commit = (sha: string, message: string, login: string | null, name: string) => ({
    sha,
    html_url: `https://github.com/octo-org/iac/commit/${sha}`,
    commit: {
      author: { name, email: `${name}@example.com`, date: '2026-01-26T19:01:12Z' },
      committer: { name, email: `${name}@example.com`, date: '2026-01-26T19:01:12Z' },
      message,
    },
    author: login === null ? null : { login, id: 1, type: 'User' },
    committer: null,
    parents: [],
  });

  it('maps commits, their count and the changed files, asking for `limit` commits', async () => {
    github()
      .get('/repos/octo-org/iac/compare/main...dag%2Fpromote%2Fproduction')
      .query({ per_page: '2' })
      .reply(200, {
        url: 'https://api.github.com/repos/octo-org/iac/compare/main...dag/promote/production',
        html_url: 'https://github.com/octo-org/iac/compare/main...dag/promote/production',
        status: 'ahead',
        ahead_by: 5,
        behind_by: 0,
        total_commits: 5,
        commits: [
          commit('a'.repeat(40), 'Bump image to 1.2.3\n\nLong description.', 'octocat', 'Mona'),
          commit('b'.repeat(40), 'Change values', null, 'Someone Unlinked'),
        ],
        files: [
          {
            sha: 'c'.repeat(40),
            filename: 'production/my-app/deployment.yaml',
            status: 'modified',
          },
          { sha: 'd'.repeat(40), filename: 'production/my-app/hpa.yaml', status: 'added' },
        ],
      });
    expect(await platform().compare(repo, 'main', 'dag/promote/production', 2)).toEqual({
      commits: [
        {
          sha: 'a'.repeat(40),
          title: 'Bump image to 1.2.3',
          author: 'octocat',
          url: `https://github.com/octo-org/iac/commit/${'a'.repeat(40)}`,
        },
        {
          sha: 'b'.repeat(40),
          title: 'Change values',
          author: 'Someone Unlinked',
          url: `https://github.com/octo-org/iac/commit/${'b'.repeat(40)}`,
        },
      ],
      totalCommits: 5,
      files: ['production/my-app/deployment.yaml', 'production/my-app/hpa.yaml'],
      url: 'https://github.com/octo-org/iac/compare/main...dag/promote/production',
    });
  });

  it.each([
    [0, '1'],
    [500, '100'],
  ])('asks for at least 1 and at most 100 commits (limit %i)', async (limit, perPage) => {
    github()
      .get('/repos/octo-org/iac/compare/main...feature')
      .query({ per_page: perPage })
      .reply(200, {
        html_url: 'https://github.com/octo-org/iac/compare/main...feature',
        total_commits: 1,
        commits: [commit('a'.repeat(40), 'One', 'octocat', 'Mona')],
        files: [],
      });
    const comparison = await platform().compare(repo, 'main', 'feature', limit);
    expect(comparison.commits).toHaveLength(Math.min(limit, 1));
    expect(comparison.totalCommits).toBe(1);
  });

  it('turns an unknown branch into a clear user error', async () => {
    github().get('/repos/octo-org/iac/compare/main...gone').query(true).reply(404, {
      message: 'Not Found',
      documentation_url: 'https://docs.github.com/rest/commits/commits#compare-two-commits',
      status: '404',
    });
    const error = await platform()
      .compare(repo, 'main', 'gone', 10)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ kind: 'user', status: 404 });
    expect((error as Error).message).toBe(
      'GitHub API: cannot compare main...gone in octo-org/iac: a branch or commit does not exist there (HTTP 404)',
    );
  });
});
