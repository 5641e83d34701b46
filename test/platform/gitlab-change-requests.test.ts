import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

const GITLAB = 'https://gitlab.example.com';
const SHA = '8888888888888888888888888888888888888888';
const MERGE_SHA = '9999999999999999999999999999999999999999';
const repo: RepoRef = {
  provider: 'gitlab',
  fullName: 'platform/deploy/iac',
  urls: ['https://gitlab.example.com/platform/deploy/iac.git'],
  webUrl: 'https://gitlab.example.com/platform/deploy/iac',
};
/** The project's API path: its full path, URL-encoded. */
const PROJECT = '/api/v4/projects/platform%2Fdeploy%2Fiac';

const platform = () =>
  new GitLabPlatform({
    url: GITLAB,
    token: 'glpat-x',
    backoff: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
  });

/** Every request below is checked against GitLab's documented contract. */
const contract = new GitLabContract();
const gitlab = () => contract.nock(GITLAB, { reqheaders: { 'private-token': 'glpat-x' } });

/** A merge request as GitLab's REST API returns it (the fields DAG reads, and a few more). */
function mergeRequest(fields: Record<string, unknown> = {}) {
  return {
    id: 84,
    iid: 7,
    project_id: 3,
    title: 'Promote my-app to production',
    description: 'Promotes d6cd1e2 from staging.',
    state: 'opened',
    created_at: '2026-01-26T19:01:12.000Z',
    updated_at: '2026-01-26T19:01:12.000Z',
    merged_by: null,
    merged_at: null,
    closed_by: null,
    closed_at: null,
    target_branch: 'main',
    source_branch: 'dag/promote/production',
    source_project_id: 3,
    target_project_id: 3,
    labels: ['dag'],
    draft: false,
    sha: SHA,
    merge_commit_sha: null,
    squash_commit_sha: null,
    web_url: 'https://gitlab.example.com/platform/deploy/iac/-/merge_requests/7',
    ...fields,
  };
}

const open = {
  number: 7,
  url: 'https://gitlab.example.com/platform/deploy/iac/-/merge_requests/7',
  state: 'open',
  headRef: 'dag/promote/production',
  baseRef: 'main',
  headSha: SHA,
  title: 'Promote my-app to production',
  body: 'Promotes d6cd1e2 from staging.',
  mergeCommitSha: null,
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  contract.assertKept();
});

describe('GitLabPlatform change requests', () => {
  it('has the longest description GitLab accepts', () => {
    expect(platform().maxBodyLength).toBe(1_000_000);
  });

  it("finds the open merge request from the project's own branch, not a fork's", async () => {
    gitlab()
      .get(`${PROJECT}/merge_requests`)
      .query({
        state: 'opened',
        source_branch: 'dag/promote/production',
        target_branch: 'main',
        per_page: '20',
      })
      .reply(200, [mergeRequest({ iid: 6, source_project_id: 99 }), mergeRequest()]);
    expect(await platform().findOpenChangeRequest(repo, 'dag/promote/production', 'main')).toEqual(
      open,
    );
  });

  it('says undefined when there is no open merge request', async () => {
    gitlab()
      .get(`${PROJECT}/merge_requests`)
      .query({ state: 'opened', source_branch: 'dag/x', target_branch: 'main', per_page: '20' })
      .reply(200, []);
    expect(await platform().findOpenChangeRequest(repo, 'dag/x', 'main')).toBeUndefined();
  });

  it('reads an open merge request by its iid', async () => {
    gitlab().get(`${PROJECT}/merge_requests/7`).reply(200, mergeRequest());
    expect(await platform().getChangeRequest(repo, 7)).toEqual(open);
  });

  it('reads a merged merge request with its merge commit', async () => {
    gitlab()
      .get(`${PROJECT}/merge_requests/7`)
      .reply(
        200,
        mergeRequest({
          state: 'merged',
          merged_at: '2026-01-27T08:00:00.000Z',
          merge_commit_sha: MERGE_SHA,
        }),
      );
    expect(await platform().getChangeRequest(repo, 7)).toEqual({
      ...open,
      state: 'merged',
      mergeCommitSha: MERGE_SHA,
    });
  });

  it('takes the squash commit of a fast-forward squash merge', async () => {
    gitlab()
      .get(`${PROJECT}/merge_requests/7`)
      .reply(
        200,
        mergeRequest({
          state: 'merged',
          merged_at: '2026-01-27T08:00:00.000Z',
          squash_commit_sha: MERGE_SHA,
        }),
      );
    expect(await platform().getChangeRequest(repo, 7)).toMatchObject({
      state: 'merged',
      mergeCommitSha: MERGE_SHA,
    });
  });

  it.each(['closed', 'locked'])('reads a %s merge request as closed', async (state) => {
    gitlab()
      .get(`${PROJECT}/merge_requests/7`)
      .reply(
        200,
        mergeRequest({ state, closed_at: '2026-01-27T08:00:00.000Z', description: null }),
      );
    expect(await platform().getChangeRequest(repo, 7)).toEqual({
      ...open,
      state: 'closed',
      body: '',
    });
  });

  it('opens a merge request with its labels in one request', async () => {
    gitlab()
      .post(`${PROJECT}/merge_requests`, {
        source_branch: 'dag/promote/production',
        target_branch: 'main',
        title: 'Promote my-app to production',
        description: 'Promotes d6cd1e2 from staging.',
        labels: 'dag,promotion',
      })
      .reply(201, mergeRequest({ labels: ['dag', 'promotion'] }));
    const created = await platform().createChangeRequest(repo, {
      head: 'dag/promote/production',
      base: 'main',
      title: 'Promote my-app to production',
      body: 'Promotes d6cd1e2 from staging.',
      labels: ['dag', 'promotion'],
    });
    expect(created).toEqual(open);
  });

  it('opens a merge request without labels', async () => {
    gitlab()
      .post(`${PROJECT}/merge_requests`, {
        source_branch: 'dag/promote/production',
        target_branch: 'main',
        title: 'Promote my-app to production',
        description: 'Promotes d6cd1e2 from staging.',
      })
      .reply(201, mergeRequest({ labels: [] }));
    const created = await platform().createChangeRequest(repo, {
      head: 'dag/promote/production',
      base: 'main',
      title: 'Promote my-app to production',
      body: 'Promotes d6cd1e2 from staging.',
      labels: [],
    });
    expect(created).toEqual(open);
  });

  it('classifies an existing merge request for the branch as a user error', async () => {
    gitlab()
      .post(`${PROJECT}/merge_requests`)
      .reply(409, {
        message: ['Another open merge request already exists for this source branch: !7'],
      });
    const error = await platform()
      .createChangeRequest(repo, { head: 'dag/x', base: 'main', title: 't', body: 'b', labels: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      'GitLab API: opening a merge request from dag/x failed (HTTP 409)',
    );
  });

  it('updates the title and description', async () => {
    gitlab()
      .put(`${PROJECT}/merge_requests/7`, { title: 'New title', description: 'New body' })
      .reply(200, mergeRequest({ title: 'New title', description: 'New body' }));
    expect(
      await platform().updateChangeRequest(repo, 7, { title: 'New title', body: 'New body' }),
    ).toEqual({ ...open, title: 'New title', body: 'New body' });
  });

  it('closes with a note first', async () => {
    const order: string[] = [];
    gitlab()
      .post(`${PROJECT}/merge_requests/7/notes`, { body: 'Superseded by !8.' })
      .reply(201, () => {
        order.push('note');
        return { id: 302, body: 'Superseded by !8.', noteable_type: 'MergeRequest' };
      })
      .put(`${PROJECT}/merge_requests/7`, { state_event: 'close' })
      .reply(200, () => {
        order.push('close');
        return mergeRequest({ state: 'closed', closed_at: '2026-01-27T08:00:00.000Z' });
      });
    await platform().closeChangeRequest(repo, 7, 'Superseded by !8.');
    expect(order).toEqual(['note', 'close']);
  });

  it('comments with one note', async () => {
    gitlab()
      .post(`${PROJECT}/merge_requests/7/notes`, { body: 'Rebased on main.' })
      .reply(201, { id: 303, body: 'Rebased on main.', noteable_type: 'MergeRequest' });
    await platform().commentOnChangeRequest(repo, 7, 'Rebased on main.');
  });
});

describe('GitLabPlatform.compare', () => {
  const commit = (id: string, title: string, author: string) => ({
    id,
    short_id: id.slice(0, 8),
    title,
    author_name: author,
    author_email: 'someone@example.com',
    created_at: '2026-01-26T19:01:12.000+00:00',
    message: `${title}\n`,
    web_url: `https://gitlab.example.com/platform/deploy/iac/-/commit/${id}`,
  });
  const diff = (path: string) => ({
    old_path: path,
    new_path: path,
    a_mode: '100644',
    b_mode: '100644',
    diff: '@@ -1 +1 @@\n-a\n+b\n',
    new_file: false,
    renamed_file: false,
    deleted_file: false,
  });

  it('keeps the oldest `limit` commits, counts them all and lists the files', async () => {
    gitlab()
      .get(`${PROJECT}/repository/compare`)
      .query({ from: 'main', to: 'dag/promote/production' })
      .reply(200, {
        commit: commit('c'.repeat(40), 'Third', 'Ada'),
        commits: [
          commit('a'.repeat(40), 'First', 'Ada'),
          commit('b'.repeat(40), 'Second', 'Grace'),
          commit('c'.repeat(40), 'Third', 'Ada'),
        ],
        diffs: [diff('production/my-app/deployment.yaml'), diff('production/my-app/hpa.yaml')],
        compare_timeout: false,
        compare_same_ref: false,
        web_url:
          'https://gitlab.example.com/platform/deploy/iac/-/compare/main...dag%2Fpromote%2Fproduction',
      });
    expect(await platform().compare(repo, 'main', 'dag/promote/production', 2)).toEqual({
      commits: [
        {
          sha: 'a'.repeat(40),
          title: 'First',
          author: 'Ada',
          url: `https://gitlab.example.com/platform/deploy/iac/-/commit/${'a'.repeat(40)}`,
        },
        {
          sha: 'b'.repeat(40),
          title: 'Second',
          author: 'Grace',
          url: `https://gitlab.example.com/platform/deploy/iac/-/commit/${'b'.repeat(40)}`,
        },
      ],
      totalCommits: 3,
      files: ['production/my-app/deployment.yaml', 'production/my-app/hpa.yaml'],
      url: 'https://gitlab.example.com/platform/deploy/iac/-/compare/main...dag%2Fpromote%2Fproduction',
    });
  });

  it('builds the comparison link when GitLab gives none', async () => {
    gitlab()
      .get(`${PROJECT}/repository/compare`)
      .query({ from: 'main', to: 'feature' })
      .reply(200, {
        commit: null,
        commits: [],
        diffs: [],
        compare_timeout: false,
        compare_same_ref: false,
      });
    expect(await platform().compare(repo, 'main', 'feature', 10)).toEqual({
      commits: [],
      totalCommits: 0,
      files: [],
      url: 'https://gitlab.example.com/platform/deploy/iac/-/compare/main...feature',
    });
  });

  it('turns an unknown ref into a clear user error', async () => {
    gitlab()
      .get(`${PROJECT}/repository/compare`)
      .query({ from: 'main', to: 'gone' })
      .reply(404, { message: '404 Ref Not Found' });
    const error = await platform()
      .compare(repo, 'main', 'gone', 10)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect(error).toMatchObject({ kind: 'user', status: 404 });
    expect((error as Error).message).toBe(
      'GitLab API: cannot compare main...gone in platform/deploy/iac: a branch or commit does not exist there (HTTP 404)',
    );
  });
});
