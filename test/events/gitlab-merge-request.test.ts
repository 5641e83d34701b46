import { describe, expect, it } from 'vitest';
import {
  normalizeGitlabMergeRequest,
  normalizeGitlabNote,
} from '../../src/events/gitlab-merge-request.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';

type Payload = Record<string, unknown> & {
  object_attributes: Record<string, unknown>;
  user: Record<string, unknown>;
};
const note = (attributes: Record<string, unknown> = {}, user: Record<string, unknown> = {}) => {
  const p = gitlabExample('note-hook-merge-request') as Payload;
  return {
    ...p,
    user: { ...p.user, ...user },
    object_attributes: { ...p.object_attributes, ...attributes },
  };
};
const mergeRequest = (attributes: Record<string, unknown> = {}) => {
  const p = gitlabExample('merge-request-hook') as Payload;
  return { ...p, object_attributes: { ...p.object_attributes, ...attributes } };
};

describe('GitLab Note Hook', () => {
  it("is a comment event on the merge request, with the author's id for the members API", () => {
    expect(normalizeGitlabNote(note({ note: '/diff staging' }))).toEqual({
      event: {
        kind: 'comment',
        repo: {
          provider: 'gitlab',
          fullName: 'gitlab-org/gitlab-test',
          urls: [
            'http://example.com/gitlab-org/gitlab-test',
            'http://example.com/gitlab-org/gitlab-test.git',
            'git@example.com:gitlab-org/gitlab-test.git',
          ],
          projectId: 5,
          webUrl: 'http://example.com/gitlab-org/gitlab-test',
        },
        // The merge request's iid (what its URL and API use), not its global id.
        number: 1,
        isPullRequest: true,
        commentId: 1244,
        body: '/diff staging',
        author: 'root',
        authorId: 1,
        byBot: false,
      },
    });
  });

  it.each([
    ['a system note', note({ system: true }), /system note/],
    ['an edited note', note({ action: 'update' }), /note update/],
    ['a note on a commit', note({ noteable_type: 'Commit' }), /note on a Commit/],
  ])('ignores %s', (_what, payload, reason) => {
    const normalized = normalizeGitlabNote(payload);
    expect(normalized).toEqual({ ignored: expect.stringMatching(reason) });
  });

  it('is a comment event on the issue for a note on an issue (its iid; not a merge request)', () => {
    const issueNote = gitlabExample('note-hook-issue');
    expect(normalizeGitlabNote(issueNote)).toMatchObject({
      event: {
        kind: 'comment',
        number: (issueNote.issue as { iid: number }).iid,
        isPullRequest: false,
        commentId: (issueNote.object_attributes as { id: number }).id,
      },
    });
  });

  it('refuses a note on an issue without the issue', () => {
    const bare = gitlabExample('note-hook-issue');
    delete bare.issue;
    expect(() => normalizeGitlabNote(bare)).toThrow(/GitLab Note Hook/);
  });

  it("marks a project or group access token's bot user as a bot", () => {
    const bot = note({ note: '/deploy' }, { username: 'project_5_bot_3f2a9c0d1e' });
    expect(normalizeGitlabNote(bot)).toMatchObject({ event: { byBot: true } });
    const person = note({ note: '/deploy' }, { username: 'project_manager' });
    expect(normalizeGitlabNote(person)).toMatchObject({ event: { byBot: false } });
  });
});

describe('GitLab Merge Request Hook, for previews', () => {
  const head = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';

  it('is a pull request event when opened', () => {
    expect(normalizeGitlabMergeRequest(mergeRequest())).toEqual({
      event: {
        kind: 'pull_request',
        repo: expect.objectContaining({ provider: 'gitlab', projectId: 1 }),
        number: 1,
        action: 'opened',
        headSha: head,
        headRef: 'ms-viewport',
        baseRef: 'master',
        fork: false,
      },
    });
  });

  it('is a push to it when updated with `oldrev`, a reopen when reopened', () => {
    const pushed = mergeRequest({ action: 'update', oldrev: 'a'.repeat(40) });
    expect(normalizeGitlabMergeRequest(pushed)).toMatchObject({
      event: { action: 'synchronize', headSha: head },
    });
    expect(normalizeGitlabMergeRequest(mergeRequest({ action: 'reopen' }))).toMatchObject({
      event: { action: 'reopened' },
    });
  });

  it('comes from a fork when its source project is another', () => {
    expect(normalizeGitlabMergeRequest(mergeRequest({ source_project_id: 99 }))).toMatchObject({
      event: { fork: true },
    });
  });

  it.each([
    ['an update without new commits (title, labels)', { action: 'update' }],
    ['a close', { action: 'close' }],
    ['an approval', { action: 'approved' }],
  ])('ignores %s', (_what, attributes) => {
    expect(normalizeGitlabMergeRequest(mergeRequest(attributes))).toEqual({
      ignored: expect.any(String),
    });
  });
});
