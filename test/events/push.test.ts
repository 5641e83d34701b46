import { describe, expect, it } from 'vitest';
import { normalizeGithubPush, normalizeGitlabPush } from '../../src/events/push.ts';
import { branchPush, githubExample } from '../helpers/github-examples.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';

describe('GitHub push', () => {
  it('normalizes a branch push from @octokit/webhooks-examples', () => {
    const payload = githubExample('push', branchPush);
    const result = normalizeGithubPush(payload);
    expect('event' in result).toBe(true);
    if (!('event' in result)) return;
    const repo = payload.repository as { full_name: string; html_url: string };
    expect(result.event).toMatchObject({
      kind: 'push',
      branch: String(payload.ref).replace('refs/heads/', ''),
      sha: payload.after,
      repo: { provider: 'github', fullName: repo.full_name, webUrl: repo.html_url },
    });
    expect(result.event.repo.urls).toContain(repo.html_url);
  });

  it.each([
    [
      'a tag push',
      (p: Record<string, unknown>) => ({ ...p, ref: 'refs/tags/v1.0.0' }),
      'not a branch push',
    ],
    [
      'a branch deletion',
      (p: Record<string, unknown>) => ({ ...p, deleted: true, after: '0'.repeat(40) }),
      'deleted',
    ],
  ])('ignores %s', (_what, change, reason) => {
    const result = normalizeGithubPush(change(githubExample('push', branchPush)));
    expect(result).toEqual({ ignored: expect.stringContaining(reason) });
  });

  it('rejects a payload that is not a push, naming the field', () => {
    expect(() => normalizeGithubPush({ ref: 'refs/heads/main' })).toThrow(
      /GitHub push payload is invalid at before/,
    );
  });
});

describe('GitLab Push Hook', () => {
  it("normalizes GitLab's documented payload", () => {
    const result = normalizeGitlabPush(gitlabExample('push-hook'));
    expect(result).toEqual({
      event: {
        kind: 'push',
        repo: {
          provider: 'gitlab',
          fullName: 'mike/diaspora',
          projectId: 15,
          webUrl: 'http://example.com/mike/diaspora',
          urls: [
            'http://example.com/mike/diaspora',
            'http://example.com/mike/diaspora.git',
            'git@example.com:mike/diaspora.git',
          ],
        },
        branch: 'master',
        sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
        before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
        pusher: 'jsmith',
        commitUrl:
          'http://example.com/mike/diaspora/-/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      },
    });
  });

  it('ignores a branch deletion and a tag push', () => {
    const deleted = { ...gitlabExample('push-hook'), after: '0'.repeat(40), checkout_sha: null };
    expect(normalizeGitlabPush(deleted)).toEqual({ ignored: 'branch master deleted' });
    const tag = { ...gitlabExample('push-hook'), object_kind: 'tag_push', ref: 'refs/tags/v1' };
    expect(normalizeGitlabPush(tag)).toEqual({
      ignored: expect.stringContaining('not a branch push'),
    });
  });

  it('rejects a malformed payload with the field named', () => {
    expect(() => normalizeGitlabPush({ ...gitlabExample('push-hook'), after: 'abc' })).toThrow(
      /GitLab push payload is invalid at after/,
    );
  });
});
