import nock from 'nock';
import { GITHUB_API, deliverGithub, githubCommentPayload } from './github.ts';
import type { Harness } from './harness.ts';

let comments = 300;

/** The id the next `/promote` comment gets (unique across tests). */
export function nextComment(): number {
  return comments + 1;
}

/**
 * `/promote` comments in one issue of an app repository, by a maintainer, and the GitHub calls
 * every command makes around the promotion job: 👀, the permission, DAG's command reply, then
 * the job's answer (with its link) and the final reaction.
 */
export function promotionCommands(harness: () => Harness, app: string, issue: number) {
  return {
    async promote(text = '/promote'): Promise<number> {
      const id = ++comments;
      await deliverGithub(
        harness(),
        'issue_comment',
        githubCommentPayload(app, {
          number: issue,
          commentId: id,
          body: text,
          pullRequest: false,
          user: 'lead',
        }),
      );
      return id;
    },

    commandCalls(commentId: number): nock.Scope {
      return nock(GITHUB_API)
        .post(`/repos/${app}/issues/comments/${commentId}/reactions`, { content: 'eyes' })
        .reply(201, {})
        .get(`/repos/${app}/collaborators/lead/permission`)
        .reply(200, { permission: 'admin', role_name: 'maintain' })
        .get(`/repos/${app}/issues/${issue}/comments`)
        .query(true)
        .reply(200, [])
        .post(`/repos/${app}/issues/${issue}/comments`, (b) =>
          String(b.body).startsWith('<!-- dag:command:0 -->'),
        )
        .reply(201, { id: 1 });
    },

    replyCalls(commentId: number, reaction: '+1' | '-1', says: RegExp): nock.Scope {
      return nock(GITHUB_API)
        .get(`/repos/${app}/issues/${issue}/comments`)
        .query(true)
        .reply(200, [])
        .post(
          `/repos/${app}/issues/${issue}/comments`,
          (b) => String(b.body).startsWith('<!-- dag:promote:0 -->') && says.test(String(b.body)),
        )
        .reply(201, { id: 2 })
        .post(`/repos/${app}/issues/comments/${commentId}/reactions`, { content: reaction })
        .reply(201, {});
    },
  };
}

/** A pull request as GitHub's pulls API returns it (the fields DAG reads). */
export function pullResponse(
  input: { number: number; webBase: string; head: string; headRef: string; baseRef: string },
  state: 'open' | 'closed' = 'open',
  merged = false,
) {
  return {
    number: input.number,
    html_url: `${input.webBase}/pull/${input.number}`,
    state,
    merged,
    merged_at: merged ? '2026-11-21T10:00:00Z' : null,
    merge_commit_sha: merged ? input.head : null,
    title: 'Promote',
    body: '',
    head: { ref: input.headRef, sha: input.head },
    base: { ref: input.baseRef },
  };
}
