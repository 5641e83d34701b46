// Where a committed deploy's rollout stands, from the environment's rollout state: the pure rule
// behind the deployment statuses that follow a rollout (src/workflows/rollout-report.ts).

import type { RolloutOutcome } from '../store/types.ts';
import { sameCommit } from './rollout-state.ts';
import type { RolloutState } from './types.ts';

export type Outcome = { outcome: RolloutOutcome; reason: string | null };

/**
 * The outcome of deploying `sha`: healthy once the cluster runs it healthy; failed while its
 * rollout fails (with the cause); superseded when a newer commit was committed for the
 * environment before this one rolled out; else pending. `committed`: the commit DAG committed
 * last for the environment.
 */
export function rolloutOutcome(
  sha: string,
  state: RolloutState | undefined,
  committed: string | null,
): Outcome {
  const live = state?.liveCommit?.sha ?? null;
  if (state?.phase === 'healthy' && live !== null && sameCommit(live, sha)) {
    return { outcome: 'healthy', reason: null };
  }
  if (committed !== null && !sameCommit(committed, sha)) {
    return { outcome: 'superseded', reason: `${committed.slice(0, 7)} was committed after it` };
  }
  // A failure is this commit's when its pods fail (rolling it out, or running it), or when no
  // workload rolls anything out and the commit is what the cluster was given (a HelmRelease
  // that cannot install it). A failure of the commit before is not this one's.
  const rollingOut = state?.rollingOutCommit ?? null;
  const given = state?.committedCommit ?? null;
  const concerned =
    (rollingOut !== null && sameCommit(rollingOut, sha)) ||
    (live !== null && sameCommit(live, sha)) ||
    (rollingOut === null && given !== null && sameCommit(given, sha));
  if (state?.phase === 'failed' && concerned) {
    return { outcome: 'failed', reason: state.reason ?? 'the rollout failed' };
  }
  return { outcome: 'pending', reason: null };
}
