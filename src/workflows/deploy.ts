import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, DagError, TransientError, reasonOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequests } from '../platform/types.ts';
import type { Bundle, BundleInput, ChartSource } from '../render/types.ts';
import type {
  ConfigStore,
  DeployRecord,
  DeployRolloutRequest,
  DeployState,
  DeployStore,
} from '../store/types.ts';
import { iacCommitUrl, type ForgeUrls } from '../util/commit-url.ts';
import { repoKey } from '../util/repo-url.ts';
import type { DeployRequest } from './deploy-plan.ts';
import { errorBlock, escapeMarkdown, fitComment } from './markdown.ts';
import type { App, Environment, Iac } from '../model.ts';

/** What the deploy workflow needs from the IAC side (src/iac's GroupCommitter fits). */
export interface IacCommitter {
  commit(
    key: string,
    target: { url: string; token: string | null; branch: string | null },
    change: { path: string; files: Record<string, string>; message: string },
    log?: Logger,
  ): Promise<{ branch: string; head: string; sha: string | null; groupSize: number }>;
}

/** The report job's data: which deploy to report, and the request that made it. */
export type DeployReport = { deployId: number; request: DeployRequest };

export type DeployDeps = {
  store: ConfigStore & DeployStore;
  /** The app repository's provider: only read here (files at the commit). */
  platform: Platform;
  iac: IacCommitter;
  render: (input: BundleInput) => Bundle;
  parseValues: (text: string, source: string) => Record<string, unknown>;
  log: Logger;
  /** Scrubs secrets from text shown to users. */
  mask: (text: string) => string;
  /** This is the job's last attempt: report a transient failure instead of retrying. */
  lastAttempt: boolean;
  /**
   * Asks for the deploy's state to be reported on the provider (the report job, coalesced per
   * deploy): called after every recorded step.
   */
  report: (report: DeployReport) => Promise<void>;
  /**
   * Hears how the deploy ended, when it ends: as the IAC commit is pushed (`success`), finds the
   * folder already holding the release (`unchanged`), or fails for good (`failure`). A failure
   * that will be retried is not an end. For metrics.
   */
  onOutcome?: (environment: string, outcome: 'success' | 'unchanged' | 'failure') => void;
  /**
   * Whether monitoring follows this environment's rollout: then a pushed deploy is not over at
   * its IAC commit (its deployment stays `in_progress` until the cluster runs the commit
   * healthy, rollout-report.ts). Unset: every deploy ends at its commit.
   */
  awaitsRollout?: ((env: Environment) => Promise<boolean>) | undefined;
};

/** A DNS-1123 release name derived from the app's name (Helm allows 53 characters). */
export function releaseNameFor(app: App): string {
  const name = app.name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 53)
    .replace(/-+$/, '');
  return name || `app-${app.id}`;
}

/**
 * The image DAG deploys when neither the app (`image_repository`) nor its values name one: the
 * registry of the app's host, only where that registry is known: `ghcr.io/<owner>/<repo>` for
 * github.com, `registry.gitlab.com/<path>` for gitlab.com. A GitHub Enterprise Server or
 * self-managed GitLab registry has a name of the operator's choosing (or none): DAG does not
 * guess it (null), and the bundle says so.
 */
export function defaultImageRepository(app: App): string | null {
  const key = repoKey(app.repoUrl);
  if (!key) return null;
  const [host, ...path] = key.split('/');
  if (app.gitProvider === 'github' && host === 'github.com') return `ghcr.io/${path.join('/')}`;
  if (app.gitProvider === 'gitlab' && host === 'gitlab.com') {
    return `registry.gitlab.com/${path.join('/')}`;
  }
  return null;
}

export function chartSourceOf(app: App): ChartSource {
  const { chart } = app;
  const missing = (what: string) =>
    new ConfigError(`app ${app.name} uses chart source '${chart.source}' but has no ${what}`);
  switch (chart.source) {
    case 'app-repo':
      return { kind: 'app-repo', path: chart.path };
    case 'helm':
      if (!chart.repoUrl) throw missing('chart_repo_url');
      if (!chart.name) throw missing('chart_name');
      return { kind: 'helm', url: chart.repoUrl, chart: chart.name, version: chart.version };
    case 'oci':
      if (!chart.repoUrl) throw missing('chart_repo_url');
      return { kind: 'oci', url: chart.repoUrl, version: chart.version };
    case 'git':
      if (!chart.repoUrl) throw missing('chart_repo_url');
      return { kind: 'git', url: chart.repoUrl, ref: chart.version, path: chart.path };
  }
}

export function deployCommitMessage(input: {
  app: App;
  env: Environment;
  request: DeployRequest;
}): string {
  const { app, env, request } = input;
  return [
    `deploy(${app.name}): ${env.name} ${request.sha.slice(0, 7)}`,
    '',
    `Deploy ${request.repo.fullName}@${request.sha.slice(0, 12)} (${request.branch}) to ${env.name}.`,
    '',
    `Source: ${request.commitUrl}`,
    `Dag-App: ${app.name}`,
    `Dag-Environment: ${env.name}`,
    `Dag-Source-Repo: ${app.repoUrl}`,
    `Dag-Source-Commit: ${request.sha}`,
    `Dag-Pushed-By: ${request.pusher}`,
    '',
  ].join('\n');
}

/** Reads the app repo at the deployed commit: the provider API, or a local checkout. */
export type SourceReader = {
  readFile(path: string): Promise<string | undefined>;
  readFolder(path: string): Promise<Record<string, string> | undefined>;
};

export type BundleTools = {
  render: (input: BundleInput) => Bundle;
  parseValues: (text: string, source: string) => Record<string, unknown>;
};

/** The exact bundle a deploy of `source.sha` to `env` commits. */
export async function buildBundle(
  reader: SourceReader,
  tools: BundleTools,
  app: App,
  env: Environment,
  source: { sha: string; branch: string; commitUrl: string },
): Promise<Bundle> {
  const chart = chartSourceOf(app);
  const folder = app.valuesPath.replace(/\/+$/, '');
  const read = async (file: string) => {
    const text = await reader.readFile(file);
    return text === undefined ? {} : tools.parseValues(text, file);
  };
  // The reads are independent: asked at once.
  const [base, environment, appChart] = await Promise.all([
    read(`${folder}/values.yaml`),
    read(`${folder}/values-${env.name}.yaml`),
    env.helmType === 'plain' && chart.kind === 'app-repo'
      ? reader.readFolder(chart.path)
      : Promise.resolve(undefined),
  ]);
  const values = { base, environment };
  return tools.render({
    app: {
      name: app.name,
      repoUrl: app.repoUrl,
      gitProvider: app.gitProvider,
      chart,
      chartSecretRef: app.chart.secretRef,
      imageRepository: app.imageRepository,
      defaultImageRepository: defaultImageRepository(app),
      imageTagFormat: app.imageTagFormat,
    },
    environment: {
      name: env.name,
      helmType: env.helmType,
      namespace: env.helmNamespace ?? 'default',
      releaseName: env.helmName ?? releaseNameFor(app),
      iacPath: env.iacPath,
    },
    source,
    values,
    appChart,
  });
}

/**
 * A /deploy of a pull request reports in the pull request too, in its own sticky comment; `text`
 * names the change request as the provider does.
 */
async function reportOnPullRequest(
  platform: PullRequests,
  request: DeployRequest,
  env: Environment,
  text: (names: ChangeRequestNames) => string,
): Promise<void> {
  if (request.pullRequest === undefined) return;
  await platform.upsertComments(request.repo, request.pullRequest, `deploy-${env.name}`, [
    fitComment(text(platform), request.repo.provider),
  ]);
}

/**
 * How long a claim to create a deploy's provider deployment holds. A DAG process that claimed
 * it and died before storing the id is taken over after this, or at once by a rerun of the job
 * that claimed it (the claim's owner: the report job's id, the same when pg-boss runs it again
 * after its worker died). The taker looks the deployment up first where the provider can list
 * them (findDeployment), so the rare duplicate is left only for a provider without that.
 */
export const CLAIM_STALE_SECONDS = 120;

/**
 * The provider's deployment of this deploy attempt, created exactly once across every DAG
 * process: the caller whose atomic claim in the database wins creates it and stores its id.
 * A loser waits for that id (`wait`), or returns undefined and leaves reporting to the winner.
 */
export async function ensureDeployment(
  platform: Platform,
  store: DeployStore,
  request: DeployRequest,
  environment: string,
  record: DeployRecord,
  options: {
    wait: boolean;
    /** Who claims (a job id): the same job run again takes its own claim over at once. */
    owner?: string | undefined;
  },
): Promise<DeployRecord | undefined> {
  const deadline = Date.now() + (CLAIM_STALE_SECONDS + 30) * 1000;
  let pause = 25;
  for (;;) {
    if (record.providerDeploymentId) return record;
    const claim = await store.claimDeployment(record.id, CLAIM_STALE_SECONDS, options.owner);
    if (claim.claimed) {
      try {
        const found =
          claim.takenOver && platform.findDeployment
            ? await platform.findDeployment(request.repo, {
                sha: request.sha,
                environment,
                attempt: record.attempt,
              })
            : undefined;
        const id =
          found ??
          (await platform.createDeployment(request.repo, {
            sha: request.sha,
            ref: request.branch,
            environment,
            description: `DAG deploys ${request.sha.slice(0, 7)} to ${environment}`,
            attempt: record.attempt,
          }));
        return await store.updateDeploy(record.id, { providerDeploymentId: id });
      } catch (error) {
        // An answer lost on the way back (a 502 from a proxy, a reset connection) may hide a
        // deployment the provider did create: look before anyone creates another.
        const uncertain = !(
          error instanceof DagError &&
          (error.kind === 'user' || error.kind === 'config')
        );
        const created =
          uncertain && platform.findDeployment
            ? await platform
                .findDeployment(request.repo, {
                  sha: request.sha,
                  environment,
                  attempt: record.attempt,
                })
                .catch(() => undefined)
            : undefined;
        if (created) return await store.updateDeploy(record.id, { providerDeploymentId: created });
        await store.releaseDeploymentClaim(record.id);
        throw error;
      }
    }
    if (!options.wait) return undefined;
    if (Date.now() > deadline) {
      throw new TransientError(`the ${environment} deployment was not created in time`);
    }
    await sleep(pause);
    pause = Math.min(pause * 2, 1000);
    const again = await store.getDeploy(record.id);
    if (!again) throw new TransientError(`deploy ${record.id} was removed`);
    record = again;
  }
}

/** The deploy record a request runs on: its own attempt, or a push's latest (or first). */
function beginFor(
  store: DeployStore,
  request: DeployRequest,
  environmentId: number,
): Promise<DeployRecord> {
  return store.beginDeploy({
    environmentId,
    sha: request.sha,
    ref: request.branch,
    pusher: request.pusher,
    attempt: request.attempt,
  });
}

/**
 * A person's request to deploy a commit (`/deploy`, `dag deploy`): `current` when the
 * environment runs that commit already (nothing to queue), else the request with the attempt
 * it deploys, for the deploy job: a new attempt when the commit ran there before and the
 * environment runs something else now (a redeploy, a rollback).
 */
export async function askDeploy(
  request: DeployRequest & { requestKey: string },
  store: DeployStore,
): Promise<
  | { status: 'current'; record: DeployRecord }
  | { status: 'new' | 'joined'; record: DeployRecord; request: DeployRequest }
> {
  const asked = await store.requestDeploy({
    environmentId: request.environmentId,
    sha: request.sha,
    ref: request.branch,
    pusher: request.pusher,
    requestKey: request.requestKey,
  });
  if (asked.status === 'current') return asked;
  return { ...asked, request: { ...request, attempt: asked.record.attempt } };
}

/**
 * Deploys one commit to one environment, as a recorded state machine: each run reads the
 * deploy's recorded state and does that state's one step, so a rerun (a retry, a job whose
 * worker died) resumes from what is recorded:
 *
 * - `queued` → `in_progress`: nothing else to do; the report job announces it.
 * - `in_progress` → `success`: render the release bundle from the app repository at the commit
 *   (provider reads), then commit it to the environment's IAC folder in the branch's next group
 *   commit (GroupCommitter: the branch is held only for git). A rerun after a push that was not
 *   recorded finds the folder holding the release already and records the branch's tip.
 * - `success`/`failure`: nothing to do.
 *
 * It never writes to the provider: after each recorded step it asks for a report (`report`),
 * which a separate, coalescing job posts (reportDeploy), so a burst of deploys never waits for
 * paced status writes. A transient failure leaves the state as it was (the job retries it); a
 * permanent one, or the last attempt, records `failure`.
 */
export async function runDeploy(
  request: DeployRequest,
  deps: DeployDeps,
): Promise<DeployRecord | undefined> {
  const { store, log } = deps;
  const env = await store.getEnvironment(request.environmentId);
  if (!env) {
    log.info(
      { environmentId: request.environmentId },
      'environment removed since the push; nothing to deploy',
    );
    return undefined;
  }
  const [app, iac, begun] = await Promise.all([
    store.getApp(env.appId) as Promise<App>,
    store.getIac(env.iacId) as Promise<Iac>,
    beginFor(store, request, env.id),
  ]);
  let record = begun;
  const report = () => deps.report({ deployId: record.id, request });
  if (record.state === 'success' || record.state === 'failure') {
    log.info({ deploy: record.id, state: record.state }, 'deploy already ended; nothing to do');
    // Its report may not have been asked for yet (the run before died right after the end).
    await report();
    return record;
  }
  let reported: Promise<void> = Promise.resolve();
  if (record.state === 'queued') {
    record = await store.updateDeploy(record.id, { state: 'in_progress' });
    // Asked for while the release is read and rendered (a job insert, not a provider call).
    reported = report();
  }
  let result: Awaited<ReturnType<IacCommitter['commit']>>;
  try {
    const reader: SourceReader = {
      readFile: (path) => deps.platform.readFile(request.repo, request.sha, path),
      readFolder: (path) => deps.platform.readFolder(request.repo, request.sha, path),
    };
    const [bundle, token] = await Promise.all([
      buildBundle(reader, deps, app, env, {
        sha: request.sha,
        branch: request.branch,
        commitUrl: request.commitUrl,
      }),
      store.iacToken(iac.id),
      reported,
    ]);
    result = await deps.iac.commit(
      `iac:${iac.id}:${env.iacBranch ?? ''}`,
      { url: iac.repoUrl, token, branch: env.iacBranch },
      {
        path: env.iacPath,
        files: bundle.files,
        message: deployCommitMessage({ app, env, request }),
      },
      log,
    );
  } catch (error) {
    const permanent =
      error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
    const reason = deps.mask(reasonOf(error));
    log.warn({ err: error, deploy: record.id, permanent }, 'deploy failed');
    if (!permanent && !deps.lastAttempt) {
      // Shown by `dag deploys list` while the job retries; the state stays in_progress.
      await store.updateDeploy(record.id, { error: reason });
      throw error;
    }
    deps.onOutcome?.(env.name, 'failure');
    record = await store.updateDeploy(record.id, { state: 'failure', error: reason });
    await report();
    if (permanent) return record;
    throw error;
  }
  // Pushed: recorded before anything else can fail (a failed report request is retried with
  // the job, which then finds the deploy ended and asks again).
  const followed = (await deps.awaitsRollout?.(env)) ?? false;
  record = await store.updateDeploy(record.id, {
    state: 'success',
    iacCommit: result.sha ?? result.head,
    iacChanged: result.sha !== null,
    iacBranch: result.branch,
    ...(followed ? { awaitRollout: rolloutRequestOf(request) } : {}),
  });
  deps.onOutcome?.(env.name, result.sha ? 'success' : 'unchanged');
  log.info(
    {
      deploy: record.id,
      environment: env.name,
      iacCommit: record.iacCommit,
      changed: result.sha !== null,
      groupSize: result.groupSize,
    },
    'deployed',
  );
  await report();
  return record;
}

/** What the rollout report keeps of a deploy's request (nothing of the webhook delivery). */
export function rolloutRequestOf(request: DeployRequest): DeployRolloutRequest {
  const { environmentId, target, sha, branch, pusher, repo, commitUrl, pullRequest } = request;
  return {
    environmentId,
    target,
    sha,
    branch,
    pusher,
    commitUrl,
    ...(pullRequest === undefined ? {} : { pullRequest }),
    repo: {
      provider: repo.provider,
      fullName: repo.fullName,
      urls: repo.urls.slice(0, 10),
      webUrl: repo.webUrl,
      ...(repo.projectId === undefined ? {} : { projectId: repo.projectId }),
      ...(repo.installationId === undefined ? {} : { installationId: repo.installationId }),
    },
  };
}

type DeploymentStatus = Parameters<Platform['setDeploymentState']>[2];

/** The order deployment states are reported in: a report never moves a deployment back. */
const REPORT_RANK: Record<DeployState, number> = {
  queued: 0,
  in_progress: 1,
  success: 2,
  failure: 2,
};

export type ReportDeps = {
  store: ConfigStore & DeployStore;
  /** The app repository's provider: deployments, and the pull request a /deploy came from. */
  platform: Platform & PullRequests;
  log: Logger;
  /** The report job's id: a rerun of it takes over the deployment claim it made. */
  jobId?: string | undefined;
  /**
   * The job ran before (its worker died, or a post failed): what it posted may have landed, so
   * the provider is read before posting again.
   */
  resume?: boolean | undefined;
  /** The configured GitLab and GitHub Enterprise, for links to IAC commits. */
  forges?: ForgeUrls | undefined;
  /**
   * Asks for the environment's rollout report (rollout-report.ts), once a deploy whose rollout
   * is followed has its commit posted: its deployment is ended from there.
   */
  followRollout?: ((environmentId: number, record: DeployRecord) => Promise<void>) | undefined;
  /** A state of the deploy was posted (the deployment card follows it). */
  onReported?: ((env: Environment, record: DeployRecord) => Promise<void>) | undefined;
};

/**
 * The report job: makes the provider show the deploy's recorded state. It creates the
 * deployment (exactly once, ensureDeployment) and posts the latest recorded state only, when it
 * is further along than what was posted: states a busy deploy passed through meanwhile are
 * skipped (coalesced), never posted out of order. An ended deploy of a `/deploy` also says so
 * in its pull request. Runs off the IAC path, retried until it lands: the final state of every
 * deploy is always delivered.
 */
export async function reportDeploy(report: DeployReport, deps: ReportDeps): Promise<void> {
  const { store, platform, log } = deps;
  const { request } = report;
  let record = await store.getDeploy(report.deployId);
  if (!record) {
    log.info({ deploy: report.deployId }, 'deploy record removed; nothing to report');
    return;
  }
  const env = await store.getEnvironment(record.environmentId);
  const iac = env ? await store.getIac(env.iacId) : undefined;
  if (!env || !iac) return;
  const further = (r: DeployRecord) =>
    r.reportedState === null || REPORT_RANK[r.state] > REPORT_RANK[r.reportedState];
  if (!further(record)) return;
  try {
    record = (await ensureDeployment(platform, store, request, env.name, record, {
      wait: true,
      owner: deps.jobId,
    })) as DeployRecord;
  } catch (error) {
    if (!(error instanceof DagError && (error.kind === 'user' || error.kind === 'config'))) {
      throw error;
    }
    // The provider will not take a deployment (e.g. it does not know the commit): nothing to
    // report on; the deploy's own outcome stands, and a /deploy hears of it in its PR.
    log.warn({ err: error, deploy: record.id }, 'no provider deployment to report on');
    const { state } = record;
    const ended = record;
    if (state === 'success' || state === 'failure') {
      await reportOnPullRequest(platform, request, env, (names) =>
        pullRequestText(request, env, iac, ended, deps, names),
      );
    }
    await store.markReported(record.id, state);
    return;
  }
  // What is posted and marked is the record as it is now: the deploy may have moved on while
  // the deployment was created (or waited for).
  const { state, reportedState: reported } = record;
  if (!further(record)) return;
  const status = statusOf(record, env, iac, deps.forges);
  // A commit whose rollout is followed stays in progress. GitLab shows one status per state
  // and refuses to restate `running`: there its commit status keeps the earlier description.
  const restated = status.state === 'in_progress' && reported === 'in_progress';
  if (!(restated && platform.provider === 'gitlab')) {
    await platform.setDeploymentState(
      request.repo,
      {
        id: record.providerDeploymentId as string,
        sha: request.sha,
        ref: request.branch,
        environment: env.name,
      },
      { ...status, resume: deps.resume },
    );
  }
  if (state === 'success' || state === 'failure') {
    await reportOnPullRequest(platform, request, env, (names) =>
      pullRequestText(request, env, iac, record, deps, names),
    );
  }
  await store.markReported(record.id, state);
  log.info({ deploy: record.id, state, skipped: reported }, 'deploy reported');
  await deps.onReported?.(env, record);
  if (state === 'success' && record.rollout !== null) await deps.followRollout?.(env.id, record);
}

function statusOf(
  record: DeployRecord,
  env: Environment,
  iac: Iac,
  forges: ForgeUrls | undefined,
): DeploymentStatus {
  const short = record.sha.slice(0, 7);
  switch (record.state) {
    case 'queued':
      return { state: 'queued', description: `Queued: DAG deploys ${short} to ${env.name}` };
    case 'in_progress':
      return { state: 'in_progress', description: `Committing the release to ${iac.name}` };
    case 'failure':
      return { state: 'failure', description: record.error ?? 'the deploy failed' };
    case 'success': {
      const commit = record.iacCommit as string;
      const where = `${iac.name} ${record.iacBranch ?? env.iacBranch ?? ''}:${env.iacPath}`;
      if (record.rollout !== null) {
        // Monitored: the deployment follows the rollout from here (rollout-report.ts).
        return {
          state: 'in_progress',
          description: record.iacChanged
            ? `Committed ${commit.slice(0, 7)} to ${where}; rolling out`
            : `${where} already had this release; rolling out`,
          logUrl: iacCommitUrl(iac, commit, forges),
        };
      }
      return {
        state: 'success',
        description: record.iacChanged
          ? `Committed ${commit.slice(0, 7)} to ${where}`
          : `${where} already had this release`,
        logUrl: iacCommitUrl(iac, commit, forges),
      };
    }
  }
}

/** How the provider names a change request in text (GitHub's words by default). */
type ChangeRequestNames = Pick<PullRequests, 'changeRequestNoun' | 'changeRequestRef'>;
const GITHUB_NAMES: ChangeRequestNames = {
  changeRequestNoun: 'pull request',
  changeRequestRef: (number) => `#${number}`,
};

/** What an ended deploy of a `/deploy` says in its pull request (the `deploy-<env>` comment). */
export function pullRequestText(
  request: DeployRequest,
  env: Environment,
  iac: Iac,
  record: DeployRecord,
  deps: Pick<ReportDeps, 'forges'>,
  names: ChangeRequestNames = GITHUB_NAMES,
): string {
  const short = request.sha.slice(0, 7);
  const ref = names.changeRequestRef(request.pullRequest ?? 0);
  if (record.state !== 'success') {
    return `**DAG** could not deploy \`${short}\` of ${ref} to **${escapeMarkdown(env.name)}**:\n\n${errorBlock(record.error ?? 'the deploy failed')}`;
  }
  const shown = record.iacCommit as string;
  const link = iacCommitUrl(iac, shown, deps.forges);
  const branch = record.iacBranch ?? env.iacBranch ?? '';
  return [
    `**DAG** deployed \`${short}\` of ${ref} to **${env.name}**: ` +
      `IAC commit ${link ? `[\`${shown.slice(0, 7)}\`](${link})` : `\`${shown.slice(0, 7)}\``} ` +
      `in ${iac.name} \`${branch}:${env.iacPath}\`${record.iacChanged ? '' : ' (already there)'}.`,
    '',
    `${env.name} now runs this ${names.changeRequestNoun}'s code until the next deploy to it.`,
  ].join('\n');
}
