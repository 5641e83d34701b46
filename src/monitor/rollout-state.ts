// The rollout state of one environment: what DAG deployed, as the cluster runs it. Pure: the
// watches (list+watch, leases) hand over the current objects and `now`; the reporting turns the
// result into pull-request comments and deployment statuses, and uses reportKey to write only
// when what a person would read has changed.
//
// Phase rules, first match wins:
//
//  0. Nothing observed (no HelmRelease for `flux` and no workload, or no workload for `plain`)
//     → unknown.
//  1. The HelmRelease's generation is not observed yet (metadata.generation >
//     status.observedGeneration) → progressing: its conditions describe the previous spec and
//     must not decide for the new commit.
//  2. The HelmRelease failed: Stalled=True, Ready/Released=False with a failure reason
//     (InstallFailed, UpgradeFailed, RollbackSucceeded after remediation, ...), TestSuccess=False,
//     or its newest history entry failed → failed, with the condition's message.
//  3. A workload failed: Progressing=False with ProgressDeadlineExceeded, or a pod of its current
//     template waiting in CrashLoopBackOff, an image pull or container config error, or restarted
//     `restartThreshold` (3) times without being ready (OOMKilled said so) → failed, naming
//     container and pod. Pods of an older template are ignored: a rollout replaces them.
//  4. The HelmRelease is reconciling or not ready yet → progressing.
//  5. A workload is rolling out (not every replica updated and available, old ones left, its
//     controller has not seen its generation) → progressing.
//  6. Everything is rolled out, but the commit that runs is not the committed one: within
//     `driftGraceMs` of the commit → progressing (Flux has not pulled it yet); after → failed,
//     since the commit never reached the cluster (a suspended or broken Kustomization, a source
//     that cannot be fetched).
//  7. Otherwise → healthy. When no object carries provenance the commit cannot be checked and
//     rule 6 does not apply.
//
// Drift (reported beside the phase, not instead of it):
//  - `commit`: the running commit (else the HelmRelease's) differs from the committed one for
//    longer than driftGraceMs after committedAt, and the committed one is not rolling out.
//    `since` is committedAt: it differs from then on.
//  - `edited`: the live HelmRelease says someone changed it outside git. Two signals only, both
//    sound without a copy of the rendered bundle: `spec.suspend: true` (DAG never renders it, so
//    it was set by hand or by `flux suspend`), and a `DriftDetected` event from helm-controller's
//    drift detection (it compares the live objects with the release manifest) newer than the
//    last release. A generation that moved says nothing by itself, since every upgrade moves
//    it; Flux's lastAttemptedRevision ≠ lastAppliedRevision is a failed upgrade, covered by rule 2.
//  Commit drift is reported before edited drift when both hold.
import type { EventView, HelmReleaseView, PodView } from './live-objects.ts';
import { commitIn, readLiveObjects, sourceOf, timeOf } from './live-objects.ts';
import type { HelmReleaseVerdict } from './helm-release-state.ts';
import { helmReleaseState, latestHelmReleaseWarning, withSource } from './helm-release-state.ts';
import { MAX_REASON_LENGTH, oneLine } from './reason-text.ts';
import type {
  CommittedCommit,
  Drift,
  LiveCommit,
  RolloutInput,
  RolloutPhase,
  RolloutState,
  WorkloadState,
} from './types.ts';
import type { WorkloadVerdict } from './workload-state.ts';
import { DEFAULT_RESTART_THRESHOLD, podsOf, workloadState } from './workload-state.ts';

export const DEFAULT_DRIFT_GRACE_MS = 10 * 60 * 1000;

type Verdict = { phase: RolloutPhase; reason: string | null; at: Date | undefined };

/** The rollout state of one environment from its live objects. Never throws on object content. */
export function rolloutState(input: RolloutInput): RolloutState {
  const { environment, committed, now, previous } = input;
  const graceMs = input.options?.driftGraceMs ?? DEFAULT_DRIFT_GRACE_MS;
  const threshold = input.options?.restartThreshold ?? DEFAULT_RESTART_THRESHOLD;
  const maxReason = input.options?.maxReasonLength ?? MAX_REASON_LENGTH;
  const live = readLiveObjects(input.objects, environment);
  const workloads = live.workloads.map((workload) =>
    workloadState(workload, live.pods, live.events, threshold),
  );
  const release =
    environment.helmType === 'flux' && live.helmRelease
      ? withSource(
          helmReleaseState(live.helmRelease, live.events),
          sourceOf(live.helmRelease, live.sources),
        )
      : undefined;
  const ownPods = live.workloads.flatMap((workload) => podsOf(workload, live.pods));
  const commits = liveCommits(workloads, ownPods, release, committed);
  const observed = commits.live?.sha ?? release?.commit;
  // A committed commit that is rolling out is on its way, however slowly: not drift.
  const commitLate =
    committed !== null &&
    observed !== undefined &&
    !sameCommit(observed, committed.sha) &&
    !(commits.rollingOut !== null && sameCommit(commits.rollingOut, committed.sha));
  const pastGrace =
    committed !== null && now.getTime() - committed.committedAt.getTime() >= graceMs;
  const verdict = decide({
    environment,
    workloads,
    release,
    committed,
    commits,
    commitLate,
    pastGrace,
    now,
  });
  return {
    phase: verdict.phase,
    liveCommit: commits.live,
    rollingOutCommit: commits.rollingOut,
    committedCommit: committed?.sha.toLowerCase() ?? null,
    reason: verdict.reason === null ? null : oneLine(verdict.reason, maxReason),
    since: sinceOf(verdict, previous, now),
    workloads: workloads.map((workload) => workloadSummary(workload, maxReason)),
    drift: driftOf({
      // A plain chart has no HelmRelease: one of the same name is someone else's.
      helmRelease: release ? live.helmRelease : undefined,
      events: live.events,
      committed,
      drifted: commitLate && pastGrace,
      previous,
      now,
    }),
  };
}

/** The reported part of a workload's verdict (its `at` only feeds `since`). */
function workloadSummary(verdict: WorkloadVerdict, maxReason: number): WorkloadState {
  const { kind, name, desired, updated, ready, available, phase, reason, commit } = verdict;
  const bounded = reason === null ? null : oneLine(reason, maxReason);
  return { kind, name, desired, updated, ready, available, phase, reason: bounded, commit };
}

type Decision = {
  environment: RolloutInput['environment'];
  workloads: readonly WorkloadVerdict[];
  release: HelmReleaseVerdict | undefined;
  committed: CommittedCommit | null;
  commits: { live: LiveCommit | null; rollingOut: string | null };
  commitLate: boolean;
  pastGrace: boolean;
  now: Date;
};

/** The phase rules of the comment at the top, in their order. */
function decide(d: Decision): Verdict {
  const { release, workloads, committed } = d;
  if (!release && workloads.length === 0) {
    const { helmType, namespace, releaseName } = d.environment;
    const missing =
      helmType === 'flux'
        ? `no HelmRelease ${releaseName} and no workloads in namespace ${namespace}`
        : `no workloads of release ${releaseName} in namespace ${namespace}`;
    return { phase: 'unknown', reason: missing, at: undefined };
  }
  if (release?.unobserved) return release;
  if (release?.phase === 'failed') return release;
  const failed = workloads.find((workload) => workload.phase === 'failed');
  if (failed) return failed;
  if (release?.phase === 'progressing') return release;
  const rolling = workloads.find((workload) => workload.phase === 'progressing');
  if (rolling) return rolling;
  if (committed && d.commitLate) {
    const running = d.commits.live?.sha ?? d.release?.commit ?? '';
    const wanted = short(committed.sha);
    if (!d.pastGrace) {
      return {
        phase: 'progressing',
        reason: `waiting for commit ${wanted} to reach the cluster (running ${short(running)})`,
        at: undefined,
      };
    }
    const minutes = Math.floor((d.now.getTime() - committed.committedAt.getTime()) / 60_000);
    return {
      phase: 'failed',
      reason: `commit ${wanted} was committed ${minutes} min ago but is not live (running ${short(running)})`,
      at: undefined,
    };
  }
  const at = latest([release?.at, ...workloads.map((workload) => workload.at)]);
  return { phase: 'healthy', reason: null, at };
}

/**
 * Which commit runs and which one is rolling out.
 *
 * Workloads carry the commit in their pod template (DAG's default chart puts it there; an app's
 * chart may). A workload that finished its rollout runs its template's commit; one still rolling
 * out is moving to its template's commit. When the finished ones disagree, the "newest" is the
 * committed commit if it is among them (DAG commits in order, so it is the newest DAG knows),
 * else the commit most of them run. While every workload is rolling out, the running commit is
 * read from ready pods of an older template. With no provenance on workloads, a HelmRelease that
 * is released at its generation runs its own commit; one not yet released is rolling its out.
 */
export function liveCommits(
  workloads: readonly WorkloadState[],
  pods: readonly PodView[],
  release: HelmReleaseVerdict | undefined,
  committed: CommittedCommit | null,
): { live: LiveCommit | null; rollingOut: string | null } {
  const done = workloads
    .filter((w) => w.phase === 'healthy' && w.commit)
    .map((w) => w.commit as string);
  const moving = workloads
    .filter((w) => w.phase !== 'healthy' && w.commit)
    .map((w) => w.commit as string);
  let live: LiveCommit | null = null;
  let rollingOut = pick(moving, committed);
  const doneSha = pick(done, committed);
  if (doneSha) {
    live = { sha: doneSha, from: 'workloads' };
  } else if (moving.length > 0) {
    const readyPods = pods
      .filter(isReady)
      .flatMap((pod) => commitIn(pod.metadata.annotations) ?? []);
    const older = pick(
      readyPods.filter((sha) => !moving.includes(sha)),
      null,
    );
    if (older) live = { sha: older, from: 'pods' };
  } else if (release?.released && release.commit) {
    live = { sha: release.commit, from: 'helmrelease' };
  }
  if (rollingOut === null && release?.commit && !release.released && release.commit !== live?.sha) {
    rollingOut = release.commit;
  }
  if (rollingOut !== null && rollingOut === live?.sha) rollingOut = null;
  return { live, rollingOut };
}

/** The committed commit when among the candidates, else the most frequent (ties: the smallest). */
function pick(shas: readonly string[], committed: CommittedCommit | null): string | null {
  if (shas.length === 0) return null;
  if (committed) {
    const match = shas.find((sha) => sameCommit(sha, committed.sha));
    if (match) return match;
  }
  const counts = new Map<string, number>();
  for (const sha of shas) counts.set(sha, (counts.get(sha) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0] ?? null;
}

function isReady(pod: PodView): boolean {
  const containers = pod.status.containerStatuses;
  return containers.length > 0 && containers.every((container) => container.ready === true);
}

/** Two shas name the same commit when one is a prefix of the other (short shas from people). */
export function sameCommit(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x.length >= 7 && y.length >= 7 && (x.startsWith(y) || y.startsWith(x));
}

function short(sha: string): string {
  return sha === '' ? 'unknown' : sha.slice(0, 7);
}

function latest(dates: readonly (Date | undefined)[]): Date | undefined {
  let found: Date | undefined;
  for (const date of dates) if (date && (!found || date > found)) found = date;
  return found;
}

/**
 * When the current phase began: kept from `previous` while the phase stays the same; else the
 * time the objects give (a condition's transition), unless that is older than the previous
 * state (then the condition held already and something else changed the phase, so now is the
 * better estimate) or in the future (clock skew); else now.
 */
function sinceOf(verdict: Verdict, previous: RolloutState | null | undefined, now: Date): Date {
  if (previous && previous.phase === verdict.phase && isDate(previous.since)) return previous.since;
  const at = verdict.at;
  if (!at || at > now) return now;
  if (previous && isDate(previous.since) && at < previous.since) return now;
  return at;
}

function isDate(value: unknown): value is Date {
  return value instanceof Date && !Number.isNaN(value.getTime());
}

function driftOf(args: {
  helmRelease: HelmReleaseView | undefined;
  events: readonly EventView[];
  committed: CommittedCommit | null;
  drifted: boolean;
  previous: RolloutState | null | undefined;
  now: Date;
}): Drift {
  const { helmRelease, committed, previous, now } = args;
  if (args.drifted && committed) {
    return { drifted: true, kind: 'commit', since: committed.committedAt };
  }
  if (!helmRelease) return { drifted: false, kind: null, since: null };
  const name = helmRelease.metadata.name ?? '';
  const detected = latestHelmReleaseWarning(name, args.events, 'DriftDetected');
  const lastRelease = timeOf(helmRelease.status.history[0]?.lastDeployed);
  if (detected?.at && (!lastRelease || detected.at > lastRelease)) {
    return { drifted: true, kind: 'edited', since: detected.at };
  }
  if (helmRelease.spec.suspend === true) {
    const kept = previous?.drift.kind === 'edited' && isDate(previous.drift.since);
    return { drifted: true, kind: 'edited', since: kept ? previous.drift.since : now };
  }
  return { drifted: false, kind: null, since: null };
}

/**
 * What a person reads in a report, as a string: phase, commits, reason and drift. Counts and
 * times are left out (digits in the reason too, so "2 of 3 updated" and "restarts 4" read the
 * same as one step later), so a caller writes a comment only when this changes.
 */
export function reportKey(state: RolloutState): string {
  return JSON.stringify([
    state.phase,
    state.liveCommit?.sha ?? null,
    state.rollingOutCommit,
    state.committedCommit,
    state.reason?.replace(/\d+/g, '#') ?? null,
    state.drift.drifted,
    state.drift.kind,
  ]);
}

/** Whether two states would read the same to a person (see reportKey). */
export function sameReport(a: RolloutState, b: RolloutState): boolean {
  return reportKey(a) === reportKey(b);
}
