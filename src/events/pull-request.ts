import { z } from 'zod';
import { MAX_GITHUB_COMMENT_CHARS, gitRef, githubInstallation, sha, word } from './fields.ts';
import { gitlabProject, gitlabRepo } from './gitlab-project.ts';
import { invalidPayload } from './invalid.ts';
import type {
  CommentEvent,
  MergedPullRequestEvent,
  Normalized,
  PullRequestEvent,
  PullRequestStateEvent,
  RepoRef,
} from './types.ts';

const repository = z.looseObject({
  full_name: z.string().min(3),
  html_url: z.string().url(),
  clone_url: z.string().optional(),
  ssh_url: z.string().optional(),
});
const installation = githubInstallation;

const githubComment = z.looseObject({
  action: word,
  issue: z.looseObject({
    number: z.number().int().positive(),
    pull_request: z.looseObject({}).optional(),
  }),
  comment: z.looseObject({
    id: z.number().int(),
    // Bounded before anything parses it: GitHub stores no longer comment.
    body: z.string().max(MAX_GITHUB_COMMENT_CHARS).nullable(),
    user: z.looseObject({ login: z.string(), type: z.string() }),
  }),
  repository,
  installation,
});

const githubPullRequest = z.looseObject({
  action: word,
  number: z.number().int().positive(),
  pull_request: z.looseObject({
    head: z.looseObject({
      sha,
      ref: gitRef,
      repo: z.looseObject({ full_name: z.string() }).nullable(),
    }),
    base: z.looseObject({ ref: gitRef, repo: z.looseObject({ full_name: z.string() }) }),
  }),
  repository,
  installation,
});

function githubRepo(r: z.infer<typeof repository>, inst: z.infer<typeof installation>): RepoRef {
  return {
    provider: 'github',
    fullName: r.full_name,
    urls: [r.html_url, r.clone_url, r.ssh_url].filter(
      (u): u is string => typeof u === 'string' && u.length > 0,
    ),
    installationId: inst.id,
    webUrl: r.html_url,
  };
}

/** A GitHub issue_comment: only newly created comments can hold commands. */
export function normalizeGithubComment(payload: unknown): Normalized<CommentEvent> {
  const parsed = githubComment.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitHub issue_comment', parsed.error);
  const p = parsed.data;
  if (p.action !== 'created') return { ignored: `comment ${p.action}, not created` };
  return {
    event: {
      kind: 'comment',
      repo: githubRepo(p.repository, p.installation),
      number: p.issue.number,
      isPullRequest: p.issue.pull_request !== undefined,
      commentId: p.comment.id,
      body: p.comment.body ?? '',
      author: p.comment.user.login,
      byBot: p.comment.user.type === 'Bot',
    },
  };
}

const PR_ACTIONS = new Set(['opened', 'reopened', 'synchronize']);

export function normalizeGithubPullRequest(payload: unknown): Normalized<PullRequestEvent> {
  const parsed = githubPullRequest.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitHub pull_request', parsed.error);
  const p = parsed.data;
  if (!PR_ACTIONS.has(p.action)) return { ignored: `pull request ${p.action}` };
  const pr = p.pull_request;
  return {
    event: {
      kind: 'pull_request',
      repo: githubRepo(p.repository, p.installation),
      number: p.number,
      action: p.action as PullRequestEvent['action'],
      headSha: pr.head.sha,
      headRef: pr.head.ref,
      baseRef: pr.base.ref,
      fork: pr.head.repo?.full_name !== pr.base.repo.full_name,
    },
  };
}

const githubPullRequestClosed = githubPullRequest.extend({
  pull_request: z.looseObject({
    merged: z.boolean().nullable().optional(),
    body: z.string().nullable().optional(),
  }),
});

/** A pull request merged (closed with `merged`): DAG's promotions report the target's deploy. */
export function normalizeGithubMerge(payload: unknown): Normalized<MergedPullRequestEvent> {
  const parsed = githubPullRequestClosed.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitHub pull_request', parsed.error);
  const p = parsed.data;
  if (p.action !== 'closed' || p.pull_request.merged !== true) {
    return { ignored: `pull request ${p.action}, not merged` };
  }
  return {
    event: {
      kind: 'merged',
      repo: githubRepo(p.repository, p.installation),
      number: p.number,
      body: p.pull_request.body ?? '',
    },
  };
}

/**
 * Whether a description holds DAG's fix marker (what it says is checked in the job, against
 * DAG's records): a state change of any other pull request does not concern fix proposals.
 */
const FIX_MARKER = /^<!-- dag:fix \{/m;

/** A fix pull request merged, closed unmerged or reopened (on GitHub). */
export function normalizeGithubPullRequestState(
  payload: unknown,
): Normalized<PullRequestStateEvent> {
  const parsed = githubPullRequestClosed.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitHub pull_request', parsed.error);
  const p = parsed.data;
  const state =
    p.action === 'closed'
      ? p.pull_request.merged === true
        ? 'merged'
        : 'closed'
      : p.action === 'reopened'
        ? 'reopened'
        : undefined;
  if (!state) return { ignored: `pull request ${p.action}` };
  const body = p.pull_request.body ?? '';
  if (!FIX_MARKER.test(body)) return { ignored: `pull request ${state}, not a fix pull request` };
  return {
    event: {
      kind: 'pull_request_state',
      repo: githubRepo(p.repository, p.installation),
      number: p.number,
      state,
      body,
    },
  };
}

const gitlabMergeRequest = z.looseObject({
  object_kind: word,
  project: gitlabProject,
  object_attributes: z.looseObject({
    iid: z.number().int().positive(),
    action: word.optional(),
    state: word,
    description: z.string().nullable().optional(),
  }),
});

/** A GitLab Merge Request Hook for a merge: DAG's promotions report the target's deploy. */
export function normalizeGitlabMerge(payload: unknown): Normalized<MergedPullRequestEvent> {
  const parsed = gitlabMergeRequest.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab Merge Request Hook', parsed.error);
  const p = parsed.data;
  const mr = p.object_attributes;
  if (p.object_kind !== 'merge_request' || mr.action !== 'merge') {
    return { ignored: `merge request ${mr.action ?? mr.state}, not merged` };
  }
  return {
    event: {
      kind: 'merged',
      repo: gitlabRepo(p.project),
      number: mr.iid,
      body: mr.description ?? '',
    },
  };
}

const GITLAB_STATES = new Map<string, PullRequestStateEvent['state']>([
  ['merge', 'merged'],
  ['close', 'closed'],
  ['reopen', 'reopened'],
]);

/** A GitLab Merge Request Hook for a fix merge request merged, closed or reopened. */
export function normalizeGitlabMergeRequestState(
  payload: unknown,
): Normalized<PullRequestStateEvent> {
  const parsed = gitlabMergeRequest.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab Merge Request Hook', parsed.error);
  const p = parsed.data;
  const mr = p.object_attributes;
  const state = mr.action === undefined ? undefined : GITLAB_STATES.get(mr.action);
  if (p.object_kind !== 'merge_request' || !state) {
    return { ignored: `merge request ${mr.action ?? mr.state}` };
  }
  const body = mr.description ?? '';
  if (!FIX_MARKER.test(body)) return { ignored: `merge request ${state}, not a fix merge request` };
  return {
    event: { kind: 'pull_request_state', repo: gitlabRepo(p.project), number: mr.iid, state, body },
  };
}
