// The inputs and the output of the rollout-state core (src/monitor/rollout-state.ts). Plain data,
// no I/O: the watches feed it, the reporting reads it.
import type { HelmType } from '../model.ts';

/** Enough of an environment to find its objects: where its release lives and how it is built. */
export type MonitoredEnvironment = {
  /** The environment's name (for texts only). */
  name: string;
  /** The release's namespace (`helm_namespace`, default `default`). */
  namespace: string;
  /** The Helm release name, which is also the HelmRelease's name for `flux`. */
  releaseName: string;
  helmType: HelmType;
};

/** The source commit DAG last committed to the IAC repository for this environment. */
export type CommittedCommit = { sha: string; committedAt: Date };

export type RolloutOptions = {
  /** How long the live commit may differ from the committed one before that is drift. */
  driftGraceMs?: number;
  /** A container that restarted this often (and is not ready) counts as crash-looping. */
  restartThreshold?: number;
  /** Longest `reason`, in characters. */
  maxReasonLength?: number;
};

export type RolloutInput = {
  environment: MonitoredEnvironment;
  /**
   * The live objects the watches hold for this environment: its HelmRelease, workloads
   * (Deployment, StatefulSet, DaemonSet), their Pods and Events, as plain JSON. Anything else,
   * or anything in another namespace, is ignored; malformed fields read as unknown.
   */
  objects: readonly unknown[];
  committed: CommittedCommit | null;
  now: Date;
  /** The state computed last time, so `since` holds while the phase stays the same. */
  previous?: RolloutState | null;
  options?: RolloutOptions;
};

export const ROLLOUT_PHASES = ['unknown', 'progressing', 'healthy', 'failed'] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

export const MONITORED_WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;
export type WorkloadKind = (typeof MONITORED_WORKLOAD_KINDS)[number];

export type WorkloadState = {
  kind: WorkloadKind;
  name: string;
  /** Replicas (pods scheduled, for a DaemonSet) wanted; null when the object does not say. */
  desired: number | null;
  updated: number | null;
  ready: number | null;
  available: number | null;
  phase: RolloutPhase;
  reason: string | null;
  /** The source commit of its pod template (`dag.dev/source-commit`), when the chart puts it there. */
  commit: string | null;
};

/**
 * Which source commit runs. `from`: the pod templates of workloads that finished rolling out;
 * the ready pods of an older template while every workload rolls out; or, when no workload
 * carries provenance, the HelmRelease once it is released at its generation.
 */
export type LiveCommit = { sha: string; from: 'workloads' | 'pods' | 'helmrelease' };

export type DriftKind = 'commit' | 'edited';
export type Drift = { drifted: boolean; kind: DriftKind | null; since: Date | null };

export type RolloutState = {
  phase: RolloutPhase;
  /** The commit fully rolled out (see LiveCommit), or null when none can be told. */
  liveCommit: LiveCommit | null;
  /** A different commit some workload is rolling out right now, or null. */
  rollingOutCommit: string | null;
  committedCommit: string | null;
  /** One line, bounded, naming the cause; null when there is nothing to say (healthy, unknown). */
  reason: string | null;
  /** When the current phase began. */
  since: Date;
  workloads: WorkloadState[];
  drift: Drift;
};
