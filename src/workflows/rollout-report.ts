// The rollout report job (dag.rollout, one per environment, debounced): a deploy to a
// monitored environment is `in_progress` from its IAC commit until its cluster runs the commit
// healthy (`success`), fails to (`failure`, with the cause), or a newer commit is committed
// before it rolled out (`inactive`; GitLab: canceled). It reads the environment's rollout state
// as monitoring last stored it, settles each open rollout (rollout-outcome.ts), and posts what
// was not posted yet. Asked for at most once per interval per environment (the queue debounces
// it), and it always reads the latest state: a flapping rollout costs one update per interval,
// and the last one is always delivered.

import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type { Environment, Iac } from '../model.ts';
import { rolloutOutcome } from '../monitor/rollout-outcome.ts';
import type { RolloutState } from '../monitor/types.ts';
import type { Platform } from '../platform/types.ts';
import type { SqlDeployRollouts } from '../store/deploy-rollouts.ts';
import type { SqlRolloutStore } from '../store/rollouts.ts';
import type {
  ConfigStore,
  DeployRecord,
  DeployRolloutRequest,
  RolloutOutcome,
} from '../store/types.ts';
import { iacCommitUrl, type ForgeUrls } from '../util/commit-url.ts';

export type RolloutReportDeps = {
  config: Pick<ConfigStore, 'getEnvironment' | 'getIac'>;
  deploys: SqlDeployRollouts;
  rollouts: Pick<SqlRolloutStore, 'get' | 'committed'>;
  platformFor: (repo: RepoRef) => Promise<Platform>;
  log: Logger;
  forges?: ForgeUrls | undefined;
  /**
   * How long after its IAC commit a rollout may stay pending: then it is ended as failed (the
   * cluster was not seen running the commit: unreachable, or Flux never applied it).
   */
  deadlineMs?: number | undefined;
  now?: () => Date;
  /** Scrubs secrets from a cluster's reason before it is kept and shown (statuses, cards). */
  mask?: ((text: string) => string) | undefined;
  /**
   * The job ran before (its worker died, or a post failed): what it posted may have landed, so
   * the provider is read before posting again (GitLab refuses a status moved where it is).
   */
  resume?: boolean | undefined;
  /**
   * A rollout reached an outcome and it was posted (automatic promotions start from a healthy
   * one; the deployment card follows it; metrics count it).
   */
  onSettled?: (
    env: Environment,
    record: DeployRecord,
    request: DeployRolloutRequest,
    state: RolloutState | undefined,
  ) => Promise<void>;
};

type Settled = Exclude<RolloutOutcome, 'pending'>;

/** Settles and posts the environment's open rollouts; how many outcomes it posted. */
export async function reportRollouts(
  environmentId: number,
  deps: RolloutReportDeps,
): Promise<number> {
  const { config, deploys, rollouts, log } = deps;
  const env = await config.getEnvironment(environmentId);
  const iac = env ? await config.getIac(env.iacId) : undefined;
  if (!env || !iac) return 0;
  const [stored, committed, open] = await Promise.all([
    rollouts.get(environmentId),
    rollouts.committed(environmentId),
    deploys.open(environmentId),
  ]);
  let posted = 0;
  for (const { record: found, request } of open) {
    let record = found;
    if (record.rollout === 'pending' || record.rollout === 'failed') {
      let { outcome, reason } = rolloutOutcome(record.sha, stored?.state, committed?.sha ?? null);
      const now = (deps.now ?? (() => new Date()))().getTime();
      if (
        outcome === 'pending' &&
        record.rollout === 'pending' &&
        deps.deadlineMs !== undefined &&
        now - record.updatedAt.getTime() >= deps.deadlineMs
      ) {
        outcome = 'failed';
        reason = `not running in ${env.name} ${Math.round(deps.deadlineMs / 60_000)} minutes after its IAC commit (${stored ? `the cluster shows: ${stored.state.phase}${stored.state.reason ? `, ${stored.state.reason}` : ''}` : 'monitoring has not seen the environment'})`;
      }
      if (outcome !== 'pending' && outcome !== record.rollout) {
        const shown = reason === null || !deps.mask ? reason : deps.mask(reason);
        record = (await deploys.settle(record.id, outcome, shown)) ?? record;
      }
    }
    const outcome = record.rollout;
    if (outcome === null || outcome === 'pending' || outcome === record.rolloutReported) continue;
    // Its commit must be posted first (the deploy's report job asks for this one after that).
    if (record.reportedState !== 'success') continue;
    if (request && record.providerDeploymentId !== null) {
      const platform = await deps.platformFor(request.repo);
      await platform.setDeploymentState(
        request.repo,
        {
          id: record.providerDeploymentId,
          sha: record.sha,
          ref: request.branch,
          environment: env.name,
        },
        { ...rolloutStatus(record, outcome, env, iac, deps.forges), resume: deps.resume },
      );
    }
    await deploys.markReported(record.id, outcome);
    posted++;
    log.info(
      { deploy: record.id, environmentId, rollout: outcome, reason: record.rolloutReason },
      `rollout of ${record.sha.slice(0, 7)} in ${env.name}: ${outcome}`,
    );
    if (request) await deps.onSettled?.(env, record, request, stored?.state);
  }
  return posted;
}

/** The deployment status a settled rollout posts. */
export function rolloutStatus(
  record: DeployRecord,
  outcome: Settled,
  env: Environment,
  iac: Iac,
  forges: ForgeUrls | undefined,
): Parameters<Platform['setDeploymentState']>[2] {
  const short = record.sha.slice(0, 7);
  const logUrl = record.iacCommit ? iacCommitUrl(iac, record.iacCommit, forges) : undefined;
  switch (outcome) {
    case 'healthy':
      return { state: 'success', description: `${env.name} runs ${short}, healthy`, logUrl };
    case 'failed':
      return {
        state: 'failure',
        description: `Rollout failed: ${record.rolloutReason ?? 'the rollout failed'}`,
        logUrl,
      };
    case 'superseded':
      return {
        state: 'inactive',
        description: `Superseded before it rolled out: ${record.rolloutReason ?? 'a newer commit was committed'}`,
      };
  }
}
