// The rollout state of one workload (Deployment, StatefulSet, DaemonSet) with its pods and events.
import type { ContainerStatusView, EventView, PodView, WorkloadView } from './live-objects.ts';
import { commitIn, conditionOf, stringAt, timeOf } from './live-objects.ts';
import { oneLine, reasonAndMessage } from './reason-text.ts';
import type { RolloutPhase, WorkloadState } from './types.ts';

export const DEFAULT_RESTART_THRESHOLD = 3;

/** A workload's state plus when its current phase began, when the objects tell. */
export type WorkloadVerdict = WorkloadState & { at: Date | undefined };

/** Waiting reasons that do not go away by waiting: the pod cannot start as specified. */
const START_ERRORS = new Set([
  'ImagePullBackOff',
  'ErrImagePull',
  'InvalidImageName',
  'ErrImageNeverPull',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** A pod-template-hash or controller-revision-hash suffix: no dashes. */
const HASH_SUFFIX = /^[a-z0-9]+$/;

/** The pods a workload controls, by their controller owner reference. */
export function podsOf(workload: WorkloadView, pods: readonly PodView[]): PodView[] {
  const name = workload.metadata.name ?? '';
  return pods.filter((pod) => {
    const refs = pod.metadata.ownerReferences;
    const owner = refs.find((ref) => ref.controller === true) ?? refs[0];
    if (!owner) return false;
    if (workload.kind === 'Deployment') {
      return owner.kind === 'ReplicaSet' && isReplicaSetOf(owner.name, name);
    }
    return owner.kind === workload.kind && owner.name === name;
  });
}

/** `web-5d9c7b` belongs to Deployment `web`, not to `web-api` (whose sets are `web-api-<hash>`). */
function isReplicaSetOf(replicaSet: string, deployment: string): boolean {
  return (
    replicaSet.startsWith(`${deployment}-`) &&
    HASH_SUFFIX.test(replicaSet.slice(deployment.length + 1))
  );
}

/**
 * Whether a pod runs the workload's current template. Told by DAG's provenance when both carry
 * it, else by the StatefulSet's revision hash; otherwise assumed current, since a finished
 * rollout leaves only current pods and one in progress is judged by its counts first.
 */
export function isCurrentPod(workload: WorkloadView, pod: PodView): boolean {
  const wanted = commitIn(workload.spec.template.metadata.annotations);
  const running = commitIn(pod.metadata.annotations);
  if (wanted && running) return wanted === running;
  if (workload.kind === 'StatefulSet' && workload.status.updateRevision) {
    const revision = stringAt(pod.metadata.labels, 'controller-revision-hash');
    if (revision) return revision === workload.status.updateRevision;
  }
  return true;
}

/**
 * Why a pod is failing, naming container and pod, or undefined. Only waiting reasons, the last
 * termination reason and restart counts are read: never the pod's spec, so no environment value
 * or secret can reach a pull request.
 */
export function podFailure(pod: PodView, restartThreshold: number): string | undefined {
  const podName = pod.metadata.name ?? '?';
  const containers: ContainerStatusView[] = [
    ...pod.status.initContainerStatuses,
    ...pod.status.containerStatuses,
  ];
  for (const container of containers) {
    const where = `container ${container.name} in pod ${podName}`;
    const waiting = container.state.waiting;
    const restarts = container.restartCount ?? 0;
    const lastReason = container.lastState.terminated.reason;
    const last = lastReason ? `, last terminated: ${lastReason}` : '';
    if (waiting.reason !== undefined && START_ERRORS.has(waiting.reason)) {
      const message = waiting.message ? `: ${waiting.message}` : '';
      return `${waiting.reason} of ${where}${message}`;
    }
    if (waiting.reason === 'CrashLoopBackOff') {
      return `CrashLoopBackOff of ${where} (restarts ${restarts}${last})`;
    }
    if (restarts >= restartThreshold && container.ready !== true) {
      const what = lastReason === 'OOMKilled' ? 'OOMKilled' : 'restarting';
      return `${what}: ${where} (restarts ${restarts}${last})`;
    }
  }
  return undefined;
}

/** The newest Warning event about the workload, its ReplicaSets or its pods. */
export function latestWarning(
  workload: WorkloadView,
  pods: readonly PodView[],
  events: readonly EventView[],
): EventView | undefined {
  const name = workload.metadata.name ?? '';
  const podNames = new Set(pods.map((pod) => pod.metadata.name));
  const about = (event: EventView): boolean => {
    const { kind, name: involved } = event.involved;
    if (involved === undefined) return false;
    if (kind === workload.kind) return involved === name;
    if (kind === 'ReplicaSet')
      return workload.kind === 'Deployment' && isReplicaSetOf(involved, name);
    return kind === 'Pod' && podNames.has(involved);
  };
  let latest: EventView | undefined;
  for (const event of events) {
    if (event.type !== 'Warning' || !about(event)) continue;
    if (!latest || (event.at?.getTime() ?? 0) > (latest.at?.getTime() ?? 0)) latest = event;
  }
  return latest;
}

type Counts = Pick<WorkloadState, 'desired' | 'updated' | 'ready' | 'available'>;

function countsOf(workload: WorkloadView): Counts {
  const status = workload.status;
  if (workload.kind === 'DaemonSet') {
    return {
      desired: status.desiredNumberScheduled ?? null,
      updated: status.updatedNumberScheduled ?? null,
      ready: status.numberReady ?? null,
      available: status.numberAvailable ?? null,
    };
  }
  return {
    // Kubernetes defaults spec.replicas to 1; a missing field on a live object means that too.
    desired: workload.spec.replicas ?? 1,
    updated: status.updatedReplicas ?? (status.observedGeneration === undefined ? null : 0),
    ready: status.readyReplicas ?? (status.observedGeneration === undefined ? null : 0),
    available: status.availableReplicas ?? (status.observedGeneration === undefined ? null : 0),
  };
}

/**
 * Whether the rollout is done, and if not what it waits for. Mirrors `kubectl rollout status`:
 * a Deployment is done when every replica is updated and available and no old one is left; a
 * StatefulSet when the pods above its partition are updated and all are ready (a partitioned
 * rollout stops there on purpose); a DaemonSet when every scheduled pod is updated and available.
 */
function waitingFor(workload: WorkloadView, counts: Counts): string | undefined {
  const { desired, updated, ready, available } = counts;
  if (desired === null || updated === null || available === null) return 'no status yet';
  const status = workload.status;
  if (workload.kind === 'Deployment') {
    if (workload.spec.paused) return 'rollout paused';
    if (updated < desired) return `${updated} of ${desired} replicas updated`;
    if ((status.replicas ?? updated) > updated) {
      return `${(status.replicas ?? updated) - updated} old replicas pending termination`;
    }
    if (available < desired) return `${available} of ${desired} updated replicas available`;
    return undefined;
  }
  if (workload.kind === 'StatefulSet') {
    if (workload.spec.updateStrategy.type === 'OnDelete') {
      return (ready ?? 0) < desired ? `${ready ?? 0} of ${desired} replicas ready` : undefined;
    }
    const partition = Math.min(workload.spec.updateStrategy.rollingUpdate.partition ?? 0, desired);
    if (updated < desired - partition)
      return `${updated} of ${desired - partition} replicas updated`;
    if ((ready ?? 0) < desired) return `${ready ?? 0} of ${desired} replicas ready`;
    if (
      partition === 0 &&
      status.updateRevision !== undefined &&
      status.currentRevision !== undefined &&
      status.updateRevision !== status.currentRevision
    ) {
      return `revision ${status.updateRevision} not yet current`;
    }
    return undefined;
  }
  if (updated < desired) return `${updated} of ${desired} pods updated`;
  if (available < desired) return `${available} of ${desired} updated pods available`;
  return undefined;
}

/**
 * One workload's phase, in order: spec not yet observed by its controller → progressing;
 * Progressing=False with ProgressDeadlineExceeded → failed; a current pod crash-looping or unable
 * to start → failed; rollout not done → progressing (with the newest warning event, if any);
 * else healthy.
 */
export function workloadState(
  workload: WorkloadView,
  allPods: readonly PodView[],
  events: readonly EventView[],
  restartThreshold = DEFAULT_RESTART_THRESHOLD,
): WorkloadVerdict {
  const counts = countsOf(workload);
  const base = {
    kind: workload.kind,
    name: workload.metadata.name ?? '',
    ...counts,
    commit: commitIn(workload.spec.template.metadata.annotations) ?? null,
  };
  const verdict = (
    phase: RolloutPhase,
    reason: string | undefined,
    at?: Date,
  ): WorkloadVerdict => ({
    ...base,
    phase,
    reason: reason === undefined ? null : oneLine(`${workload.kind} ${base.name}: ${reason}`),
    at,
  });
  const { generation } = workload.metadata;
  const { observedGeneration } = workload.status;
  if (
    generation !== undefined &&
    (observedGeneration === undefined || observedGeneration < generation)
  ) {
    return verdict('progressing', `generation ${generation} not yet observed by its controller`);
  }
  const progressing = conditionOf(workload.status.conditions, 'Progressing');
  if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
    return verdict(
      'failed',
      reasonAndMessage(progressing.reason, progressing.message),
      timeOf(progressing.lastTransitionTime),
    );
  }
  const pods = podsOf(workload, allPods);
  for (const pod of pods) {
    if (!isCurrentPod(workload, pod)) continue;
    const failure = podFailure(pod, restartThreshold);
    if (failure) return verdict('failed', failure);
  }
  const waiting = waitingFor(workload, counts);
  if (waiting !== undefined) {
    const warning = latestWarning(workload, pods, events);
    const hint = warning ? `; ${reasonAndMessage(warning.reason, warning.message)}` : '';
    // No `at`: Progressing and Available keep status True across rollouts, so their transition
    // times say nothing about when this rollout began.
    return verdict('progressing', `${waiting}${hint}`);
  }
  return verdict('healthy', undefined);
}
