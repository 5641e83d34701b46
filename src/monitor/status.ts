// An environment's status as people and agents read it, the same for every reader (`dag envs
// status`, the MCP tool get_environment): the commit DAG committed, the commit live in the
// cluster, the rollout's phase and reason, since when, drift, and when DAG last looked. Built
// from what monitoring stored; an environment it has not seen reads as not observed.

import type { SqlRolloutStore } from '../store/rollouts.ts';
import type { RolloutPhase } from './types.ts';

export type EnvironmentStatus = {
  /** The source commit of the environment's newest successful deploy. */
  committedCommit: string | null;
  /** The source commit running in the cluster, as monitoring last saw it. */
  liveCommit: string | null;
  /** A commit some workload is rolling out now. */
  rollingOutCommit: string | null;
  /** `not-observed`: monitoring has not seen the environment (off, or not yet). */
  phase: RolloutPhase | 'not-observed';
  reason: string | null;
  /** When the phase began (ISO 8601). */
  since: string | null;
  drift: { drifted: boolean; kind: 'commit' | 'edited' | null; since: string | null };
  /** When monitoring last evaluated the environment (ISO 8601). */
  observedAt: string | null;
};

export async function environmentStatus(
  rollouts: Pick<SqlRolloutStore, 'get' | 'committed'>,
  environmentId: number,
): Promise<EnvironmentStatus> {
  const [stored, committed] = await Promise.all([
    rollouts.get(environmentId),
    rollouts.committed(environmentId),
  ]);
  if (!stored) {
    return {
      committedCommit: committed?.sha ?? null,
      liveCommit: null,
      rollingOutCommit: null,
      phase: 'not-observed',
      reason: null,
      since: null,
      drift: { drifted: false, kind: null, since: null },
      observedAt: null,
    };
  }
  const { state } = stored;
  return {
    committedCommit: committed?.sha ?? state.committedCommit,
    liveCommit: state.liveCommit?.sha ?? null,
    rollingOutCommit: state.rollingOutCommit,
    phase: state.phase,
    reason: state.reason,
    since: state.since.toISOString(),
    drift: {
      drifted: state.drift.drifted,
      kind: state.drift.kind,
      since: state.drift.since?.toISOString() ?? null,
    },
    observedAt: stored.observedAt.toISOString(),
  };
}
