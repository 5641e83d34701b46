// The state of a Flux HelmRelease (helm.toolkit.fluxcd.io/v2), from its status conditions.
import type { EventView, FluxSourceView, HelmReleaseView } from './live-objects.ts';
import { commitIn, conditionOf, timeOf } from './live-objects.ts';
import { oneLine, reasonAndMessage } from './reason-text.ts';
import type { RolloutPhase } from './types.ts';

/**
 * Ready/Released reasons helm-controller sets when an action failed. The remediation outcomes
 * (RollbackSucceeded, UninstallSucceeded) count too: they mean the upgrade failed and was undone,
 * so the committed release is not running.
 */
export const HELM_FAILURE_REASONS = new Set([
  'InstallFailed',
  'UpgradeFailed',
  'TestFailed',
  'RollbackFailed',
  'UninstallFailed',
  'RollbackSucceeded',
  'UninstallSucceeded',
  'RetriesExceeded',
  'PostRendererFailed',
]);

export type HelmReleaseVerdict = {
  phase: RolloutPhase;
  reason: string | null;
  at: Date | undefined;
  /** Ready=True at the generation it observed: the release of its spec is installed. */
  released: boolean;
  /** Its generation is newer than the one helm-controller observed: the conditions are stale. */
  unobserved: boolean;
  /** The source commit on the HelmRelease (what Flux was given, not necessarily what runs). */
  commit: string | undefined;
};

/**
 * In order: a generation helm-controller has not observed yet → progressing (its conditions are
 * about the previous spec, so they must not fail the new commit); Stalled=True, or Ready/Released
 * False with a failure reason, or TestSuccess=False, or the newest history entry `failed` →
 * failed; Reconciling=True → progressing; Ready=True → healthy; Ready=False for another reason
 * (a chart source not ready, a dependency) → progressing with its message: helm-controller keeps
 * retrying those and sets Stalled when it gives up; no Ready at all → progressing.
 */
export function helmReleaseState(
  release: HelmReleaseView,
  events: readonly EventView[],
): HelmReleaseVerdict {
  const name = release.metadata.name ?? '';
  const base = {
    released: false,
    unobserved: false,
    commit: commitIn(release.metadata.annotations),
  };
  const verdict = (
    phase: RolloutPhase,
    reason: string | undefined,
    at: Date | undefined,
  ): HelmReleaseVerdict => ({
    ...base,
    phase,
    reason: reason === undefined ? null : oneLine(`HelmRelease ${name}: ${reason}`),
    at,
  });
  const { generation } = release.metadata;
  const { observedGeneration, conditions, history } = release.status;
  if (
    generation !== undefined &&
    (observedGeneration === undefined || observedGeneration < generation)
  ) {
    const observed = observedGeneration === undefined ? 'none' : String(observedGeneration);
    return {
      ...verdict(
        'progressing',
        `generation ${generation} not yet reconciled (observed ${observed})`,
        undefined,
      ),
      unobserved: true,
    };
  }
  const ready = conditionOf(conditions, 'Ready');
  const stalled = conditionOf(conditions, 'Stalled');
  const released = conditionOf(conditions, 'Released');
  const tested = conditionOf(conditions, 'TestSuccess');
  const reconciling = conditionOf(conditions, 'Reconciling');
  if (stalled?.status === 'True') {
    // Ready's message carries the failed action; Stalled's often only says retries ran out.
    const failure =
      ready?.status === 'False' && HELM_FAILURE_REASONS.has(ready.reason ?? '') ? ready : stalled;
    return verdict(
      'failed',
      reasonAndMessage(failure.reason, failure.message),
      timeOf(stalled.lastTransitionTime),
    );
  }
  for (const condition of [ready, released, tested]) {
    if (condition?.status !== 'False') continue;
    if (condition.type === 'TestSuccess' || HELM_FAILURE_REASONS.has(condition.reason ?? '')) {
      return verdict(
        'failed',
        reasonAndMessage(condition.reason, condition.message),
        timeOf(condition.lastTransitionTime),
      );
    }
  }
  const newest = history[0];
  if (ready?.status !== 'True' && newest?.status === 'failed') {
    const chart = newest.chartVersion ? ` of chart ${newest.chartVersion}` : '';
    return verdict('failed', `the newest Helm release${chart} failed`, timeOf(newest.lastDeployed));
  }
  if (reconciling?.status === 'True') {
    return verdict(
      'progressing',
      reasonAndMessage(reconciling.reason, reconciling.message) ?? 'reconciling',
      timeOf(reconciling.lastTransitionTime),
    );
  }
  if (ready?.status === 'True') {
    return { ...verdict('healthy', undefined, timeOf(ready.lastTransitionTime)), released: true };
  }
  if (ready?.status === 'False') {
    return verdict(
      'progressing',
      reasonAndMessage(ready.reason, ready.message),
      timeOf(ready.lastTransitionTime),
    );
  }
  const warning = latestHelmReleaseWarning(name, events);
  const hint = warning ? `; ${reasonAndMessage(warning.reason, warning.message)}` : '';
  return verdict('progressing', `not ready yet${hint}`, undefined);
}

/** The newest Warning event about the HelmRelease. */
export function latestHelmReleaseWarning(
  name: string,
  events: readonly EventView[],
  reason?: string,
): EventView | undefined {
  let latest: EventView | undefined;
  for (const event of events) {
    if (event.involved.kind !== 'HelmRelease' || event.involved.name !== name) continue;
    if (reason === undefined ? event.type !== 'Warning' : event.reason !== reason) continue;
    if (!latest || (event.at?.getTime() ?? 0) > (latest.at?.getTime() ?? 0)) latest = event;
  }
  return latest;
}

/**
 * The release's verdict with its chart source's trouble in it: a source that gave up (Stalled)
 * fails the release; one not ready (a Git or Helm repository failing to fetch) names the cause
 * of a release that is not healthy, which helm-controller only reports as a chart not ready.
 */
export function withSource(
  verdict: HelmReleaseVerdict,
  source: FluxSourceView | undefined,
): HelmReleaseVerdict {
  if (!source || verdict.phase === 'healthy' || verdict.phase === 'failed') return verdict;
  const name = `${source.kind} ${source.metadata.name ?? ''}`;
  const stalled = conditionOf(source.status.conditions, 'Stalled');
  const ready = conditionOf(source.status.conditions, 'Ready');
  if (stalled?.status === 'True') {
    return {
      ...verdict,
      phase: 'failed',
      reason: oneLine(`${name}: ${reasonAndMessage(stalled.reason, stalled.message) ?? 'stalled'}`),
      at: timeOf(stalled.lastTransitionTime),
    };
  }
  if (ready?.status === 'False') {
    return {
      ...verdict,
      reason: oneLine(`${name}: ${reasonAndMessage(ready.reason, ready.message) ?? 'not ready'}`),
    };
  }
  return verdict;
}
