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
};

/** One job per head commit and set of environments: a repeated /diff is the same job. */
export function diffJobKey(request: DiffRequest): string {
  const envs = [...request.environmentIds].sort((a, b) => a - b).join(',');
  return `${request.repo.provider}:${request.repo.fullName}#${request.pr.number}@${request.pr.headSha}:${envs}`;
}
