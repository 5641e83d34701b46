import { GITHUB_EVENTS, GITLAB_EVENTS } from './handled.ts';
import {
  normalizeGithubComment,
  normalizeGithubMerge,
  normalizeGithubPullRequest,
  normalizeGithubPullRequestState,
  normalizeGitlabMerge,
  normalizeGitlabMergeRequestState,
} from './pull-request.ts';
import {
  isGitlabMerge,
  normalizeGitlabMergeRequest,
  normalizeGitlabNote,
} from './gitlab-merge-request.ts';
import { normalizeGithubPush, normalizeGitlabPush } from './push.ts';
import type { Normalized } from './types.ts';

export type Provider = 'github' | 'gitlab';

/** What the webhook endpoint does with a verified delivery. */
export type Triage = { status: 'enqueue' } | { status: 'ignore'; reason: string };

type Normalize = (payload: unknown) => Normalized<unknown>;

/** The first of `normalizers` that does not ignore the payload (or the first's reason). */
function either(...normalizers: [Normalize, ...Normalize[]]): Normalize {
  return (payload) => {
    const results = normalizers.map((normalize) => normalize(payload));
    return results.find((r) => !('ignored' in r)) ?? (results[0] as Normalized<unknown>);
  };
}

/**
 * The normalizers of the events DAG acts on, run at intake exactly as the job will run them.
 * A closed pull request (a merged merge request) is a possible promotion merge or a fix pull
 * request's end; any other action a possible preview (a reopened one also a fix pull request's).
 */
const NORMALIZERS: Partial<Record<`${Provider}:${string}`, Normalize>> = {
  'github:push': normalizeGithubPush,
  'github:issue_comment': normalizeGithubComment,
  'github:pull_request': (payload) =>
    (payload as { action?: unknown } | null)?.action === 'closed'
      ? either(normalizeGithubMerge, normalizeGithubPullRequestState)(payload)
      : either(normalizeGithubPullRequest, normalizeGithubPullRequestState)(payload),
  'gitlab:Push Hook': normalizeGitlabPush,
  'gitlab:Merge Request Hook': (payload) =>
    isGitlabMerge(payload)
      ? either(normalizeGitlabMerge, normalizeGitlabMergeRequestState)(payload)
      : either(normalizeGitlabMergeRequest, normalizeGitlabMergeRequestState)(payload),
  'gitlab:Note Hook': normalizeGitlabNote,
};

/**
 * Checks a verified delivery before it is enqueued: events DAG does not handle, and deliveries
 * its normalizer ignores (a tag push, an edited comment), are acknowledged without a job; a
 * malformed delivery of a handled event throws InvalidPayload (answered 400, never enqueued).
 */
export function triage(provider: Provider, event: string, payload: unknown): Triage {
  const handled = provider === 'github' ? GITHUB_EVENTS : GITLAB_EVENTS;
  if (!handled.has(event)) return { status: 'ignore', reason: 'not an event DAG handles' };
  const normalize = NORMALIZERS[`${provider}:${event}`];
  if (!normalize) return { status: 'enqueue' };
  const normalized = normalize(payload);
  return 'ignored' in normalized
    ? { status: 'ignore', reason: normalized.ignored }
    : { status: 'enqueue' };
}
