import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import { permissionOfAccessLevel } from '../../src/platform/gitlab/merge-requests.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

const GITLAB = 'https://gitlab.example.com';
const SHA = '8888888888888888888888888888888888888888';
const repo: RepoRef = {
  provider: 'gitlab',
  fullName: 'acme/my-app',
  urls: ['https://gitlab.example.com/acme/my-app'],
  projectId: 42,
  webUrl: 'https://gitlab.example.com/acme/my-app',
};
const PROJECT = '/api/v4/projects/42';
const MR = `${PROJECT}/merge_requests/7`;
/** The user DAG's token acts as. */
const DAG_USER = { id: 900, username: 'dag-bot', name: 'DAG' };

const platform = () =>
  new GitLabPlatform({
    url: GITLAB,
    token: 'glpat-x',
    backoff: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
  });

/** Every request below is checked against GitLab's documented contract. */
const contract = new GitLabContract();
const gitlab = () => contract.nock(GITLAB, { reqheaders: { 'private-token': 'glpat-x' } });

/** A note as GitLab's notes API lists it. */
function note(id: number, body: string, author: number, fields: Record<string, unknown> = {}) {
  return {
    id,
    body,
    author: { id: author, username: author === DAG_USER.id ? 'dag-bot' : 'alice' },
    system: false,
    noteable_type: 'MergeRequest',
    noteable_iid: 7,
    ...fields,
  };
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  contract.assertKept();
});

describe('GitLabPlatform on merge requests', () => {
  it('names the change request as GitLab does', () => {
    expect(platform().changeRequestNoun).toBe('merge request');
    expect(platform().changeRequestRef(7)).toBe('!7');
  });

  it("reads a merge request's head, branches, fork and state", async () => {
    gitlab().get(MR).reply(200, {
      iid: 7,
      sha: SHA,
      source_branch: 'feature',
      target_branch: 'main',
      source_project_id: 43,
      target_project_id: 42,
      state: 'opened',
    });
    expect(await platform().getPullRequest(repo, 7)).toEqual({
      number: 7,
      headSha: SHA,
      headRef: 'feature',
      baseRef: 'main',
      fork: true,
      open: true,
    });
  });

  it('maps access levels to permissions: Developer writes, Maintainer maintains', () => {
    expect([0, 5, 10, 15, 20, 30, 40, 50].map(permissionOfAccessLevel)).toEqual([
      'none',
      'none',
      'read',
      'read',
      'triage',
      'write',
      'maintain',
      'admin',
    ]);
  });

  it("reads a member's access level by user id, inherited membership included", async () => {
    gitlab()
      .get(`${PROJECT}/members/all/12`)
      .reply(200, { id: 12, username: 'alice', access_level: 30, state: 'active' })
      .get(`${PROJECT}/members/all/13`)
      .reply(200, { id: 13, username: 'bob', access_level: 40, state: 'blocked' })
      .get(`${PROJECT}/members/all/14`)
      .reply(404, { message: '404 Not found' });
    const gl = platform();
    expect(await gl.permissionOf(repo, 'alice', 12)).toBe('write');
    expect(await gl.permissionOf(repo, 'bob', 13)).toBe('none');
    expect(await gl.permissionOf(repo, 'carol', 14)).toBe('none');
  });

  it('looks a user up by username when no id is known', async () => {
    gitlab()
      .get('/api/v4/users')
      .query({ username: 'alice' })
      .reply(200, [{ id: 12, username: 'alice' }])
      .get(`${PROJECT}/members/all/12`)
      .reply(200, { id: 12, username: 'alice', access_level: 40, state: 'active' });
    expect(await platform().permissionOf(repo, 'alice')).toBe('maintain');
  });

  it('is approved when someone approved and GitLab says its rules are met', async () => {
    gitlab()
      .get(`${MR}/approvals`)
      .reply(200, { iid: 7, approved: true, approvals_left: 0, approved_by: [{ user: { id: 1 } }] })
      .get(`${MR}/approvals`)
      // GitLab Free answers `approved` with no rule and nobody's approval: not approved.
      .reply(200, { iid: 7, approved: true, approvals_left: 0, approved_by: [] });
    const gl = platform();
    expect(await gl.isApproved(repo, 7)).toBe(true);
    expect(await gl.isApproved(repo, 7)).toBe(false);
  });

  it("passes checks when every CI job and external status passed, DAG's own aside", async () => {
    const statuses = (extra: object[]) => [
      { name: 'test', status: 'success', allow_failure: false },
      { name: 'lint', status: 'failed', allow_failure: true },
      { name: 'docs', status: 'skipped', allow_failure: false },
      { name: 'dag/diff', status: 'running', allow_failure: false },
      { name: 'dag/deploy/staging', status: 'failed', allow_failure: false },
      ...extra,
    ];
    gitlab()
      .get(`${PROJECT}/repository/commits/${SHA}/statuses`)
      .reply(200, statuses([]))
      .get(`${PROJECT}/repository/commits/${SHA}/statuses`)
      .reply(200, statuses([{ name: 'e2e', status: 'running', allow_failure: false }]))
      .get(`${PROJECT}/repository/commits/${SHA}/statuses`)
      .reply(200, statuses([{ name: 'e2e', status: 'failed', allow_failure: false }]));
    const gl = platform();
    expect(await gl.checksPassed(repo, SHA, [])).toBe(true);
    expect(await gl.checksPassed(repo, SHA, [])).toBe(false);
    expect(await gl.checksPassed(repo, SHA, ['e2e'])).toBe(true);
  });

  it('acknowledges a note with award emoji, and takes one already there as given', async () => {
    gitlab()
      .post(`${MR}/notes/1244/award_emoji`, { name: 'eyes' })
      .reply(201, { id: 1, name: 'eyes' })
      .post(`${MR}/notes/1244/award_emoji`, { name: 'thumbsup' })
      .reply(201, { id: 2, name: 'thumbsup' })
      .post(`${MR}/notes/1244/award_emoji`, { name: 'thumbsup' })
      .reply(404, { message: '404 Award Emoji Name has already been taken Not Found' });
    const gl = platform();
    await gl.react(repo, { number: 7, id: 1244 }, 'eyes');
    await gl.react(repo, { number: 7, id: 1244 }, '+1');
    await gl.react(repo, { number: 7, id: 1244 }, '+1');
  });

  it("keeps DAG's sticky notes: its own, by marker; edited only when the body changed", async () => {
    const notes = [
      note(1, '/diff', 12),
      // Someone quoting DAG's marker is not DAG.
      note(2, '<!-- dag:diff:0 -->\nforged', 12),
      note(3, '<!-- dag:diff:0 -->\nold preview', DAG_USER.id),
      note(4, '<!-- dag:diff:1 -->\nsecond part', DAG_USER.id),
      note(5, '<!-- dag:command:0 -->\nreply', DAG_USER.id),
      note(6, 'added 1 commit', DAG_USER.id, { system: true }),
    ];
    gitlab()
      .get('/api/v4/user')
      .reply(200, DAG_USER)
      .get(`${MR}/notes`)
      .query({ sort: 'asc', order_by: 'created_at', per_page: '100' })
      .reply(200, notes)
      .get(`${MR}/notes`)
      .query({ sort: 'asc', order_by: 'created_at', per_page: '100' })
      .reply(200, notes)
      .put(`${MR}/notes/3`, { body: '<!-- dag:diff:0 -->\nnew preview' })
      .reply(200, note(3, '<!-- dag:diff:0 -->\nnew preview', DAG_USER.id))
      .delete(`${MR}/notes/4`)
      .reply(204)
      .get(`${MR}/notes`)
      .query({ sort: 'asc', order_by: 'created_at', per_page: '100' })
      .reply(200, notes.slice(0, 3))
      .post(`${MR}/notes`, { body: '<!-- dag:diff:1 -->\nmore' })
      .reply(201, note(8, '<!-- dag:diff:1 -->\nmore', DAG_USER.id));
    const gl = platform();
    expect(await gl.readComments(repo, 7, 'diff')).toEqual(['old preview', 'second part']);
    await gl.upsertComments(repo, 7, 'diff', ['new preview']);
    // Part 0 unchanged: no edit; part 1 is new.
    await gl.upsertComments(repo, 7, 'diff', ['old preview', 'more']);
  });

  it('tells DAG its own account by the token user, asked once', async () => {
    gitlab().get('/api/v4/user').reply(200, DAG_USER);
    const gl = platform();
    expect(await gl.isOwnAccount(DAG_USER.id)).toBe(true);
    expect(await gl.isOwnAccount(12)).toBe(false);
  });

  it('publishes the preview as the commit status dag/diff, which has no page to link', async () => {
    gitlab()
      .post(`${PROJECT}/statuses/${SHA}`, {
        state: 'running',
        name: 'dag/diff',
        description: 'Computing the diff preview',
      })
      .reply(201, {})
      // A rerun after a crash finds it running already.
      .post(`${PROJECT}/statuses/${SHA}`, (b) => b.state === 'running')
      .reply(400, { message: 'Cannot transition status via :run from :running' })
      .post(`${PROJECT}/statuses/${SHA}`, {
        state: 'success',
        name: 'dag/diff',
        description: '1 created, 0 changed, 0 deleted in 1 environment',
      })
      .reply(201, {})
      .post(`${PROJECT}/statuses/${SHA}`, (b) => b.state === 'failed' && b.name === 'dag/diff')
      .reply(201, {});
    const gl = platform();
    const check = { name: 'dag/diff', sha: SHA, summary: 'summary' };
    const running = { ...check, status: 'in_progress', title: 'Computing the diff preview' };
    expect(await gl.publishCheck(repo, { ...running, status: 'in_progress' })).toBeUndefined();
    expect(await gl.publishCheck(repo, { ...running, status: 'in_progress' })).toBeUndefined();
    const done = {
      ...check,
      status: 'completed',
      title: '1 created, 0 changed, 0 deleted in 1 environment',
    } as const;
    await gl.publishCheck(repo, { ...done, conclusion: 'neutral' });
    await gl.publishCheck(repo, { ...done, conclusion: 'failure' });
  });

  it('skips the part statuses a smaller preview no longer uses, once', async () => {
    const retired = { title: 'Not used by the latest preview', summary: 'nothing' };
    gitlab()
      .get(`${PROJECT}/repository/commits/${SHA}/statuses`)
      .reply(200, [
        { name: 'dag/diff', status: 'success', description: 'x' },
        { name: 'dag/diff part 2', status: 'success', description: 'Part 2 of 3' },
        { name: 'dag/diff part 3', status: 'skipped', description: retired.title },
        { name: 'test', status: 'success', description: null },
      ])
      .post(`${PROJECT}/statuses/${SHA}`, {
        state: 'skipped',
        name: 'dag/diff part 2',
        description: retired.title,
      })
      .reply(201, {});
    await platform().retireChecks(repo, SHA, 'dag/diff part ', ['dag/diff'], retired);
  });
});
