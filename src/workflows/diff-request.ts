import type { RepoRef } from '../events/types.ts';
import type { PullRequestInfo } from '../platform/types.ts';

/** The data of a diff job: one pull request head, some environments of its app. */
export type DiffRequest = {
  repo: RepoRef;
  appId: number;
  pr: PullRequestInfo;
  environmentIds: number[];
  /** 'command': someone asked with /diff; 'auto': the pull request opened or moved. */
  origin: 'command' | 'auto';
  /** The /diff comment, which gets its final reaction when the preview is posted. */
  commentId?: number | undefined;
  /** The webhook delivery that asked for this preview: its job's log lines carry the id. */
  deliveryId?: string | undefined;
};

/**
 * One job per head commit, set of environments and asking comment: a redelivered webhook is
 * the same job, a new /diff comment asks again.
 */
export function diffJobKey(request: DiffRequest): string {
  const envs = [...request.environmentIds].sort((a, b) => a - b).join(',');
  const asker = request.commentId === undefined ? 'auto' : `comment-${request.commentId}`;
  return `${request.repo.provider}:${request.repo.fullName}#${request.pr.number}@${request.pr.headSha}:${envs}:${asker}`;
}
