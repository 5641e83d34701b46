import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, DagError, TransientError, reasonOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequests } from '../platform/types.ts';
import type { Bundle, BundleInput, ChartSource } from '../render/types.ts';
import type {
  App,
  ConfigStore,
  DeployRecord,
  DeployStore,
  Environment,
  Iac,
} from '../store/types.ts';
import { iacCommitUrl, type ForgeUrls } from '../util/commit-url.ts';
import { repoKey } from '../util/repo-url.ts';
import type { DeployRequest } from './deploy-plan.ts';
import { escapeMarkdown, fitComment } from './markdown.ts';

/** What the deploy workflow needs from the IAC side (src/iac's IacWorkspace fits). */
export interface IacWriter {
  apply(
    target: { url: string; token: string | null; branch: string | null },
    changes: { path: string; files: Record<string, string>; message: string }[],
    options: { author: { name: string; email: string } },
  ): Promise<{ branch: string; head: string; commits: { sha: string | null }[] }>;
}

export type DeployDeps = {
  store: ConfigStore & DeployStore;
  platform: Platform;
  iac: IacWriter;
  render: (input: BundleInput) => Bundle;
  parseValues: (text: string, source: string) => Record<string, unknown>;
  author: { name: string; email: string };
  log: Logger;
  /** Scrubs secrets from text shown to users. */
  mask: (text: string) => string;
  /** This is the job's last attempt: report a transient failure instead of retrying. */
  lastAttempt: boolean;
  /** The configured GitLab and GitHub Enterprise, for links to IAC commits. */
  forges?: ForgeUrls | undefined;
  /**
   * Hears how the deploy ended, when it ends: as the IAC commit is pushed (`success`), finds the
   * folder already holding the release (`unchanged`), or fails for good (`failure`). A failure
   * that will be retried is not an end. For metrics.
   */
  onOutcome?: (environment: string, outcome: 'success' | 'unchanged' | 'failure') => void;
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
  const values = {
    base: await read(`${folder}/values.yaml`),
    environment: await read(`${folder}/values-${env.name}.yaml`),
  };
  const appChart =
    env.helmType === 'plain' && chart.kind === 'app-repo'
      ? await reader.readFolder(chart.path)
      : undefined;
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

/** A /deploy of a pull request reports in the pull request too, in its own sticky comment. */
async function reportOnPullRequest(
  platform: Platform,
  request: DeployRequest,
  env: Environment,
  text: string,
): Promise<void> {
  if (request.pullRequest === undefined || !('upsertComments' in platform)) return;
  await (platform as Platform & PullRequests).upsertComments(
    request.repo,
    request.pullRequest,
    `deploy-${env.name}`,
    [fitComment(text, request.repo.provider)],
  );
}

/**
 * How long a claim to create a deploy's provider deployment holds. A DAG process that claimed
 * it and died before storing the id is taken over after this; the taker looks the deployment
 * up first where the provider can list them (findDeployment), so the rare duplicate is left
 * only for a provider without that capability.
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
  options: { wait: boolean },
): Promise<DeployRecord | undefined> {
  const deadline = Date.now() + (CLAIM_STALE_SECONDS + 30) * 1000;
  let pause = 25;
  for (;;) {
    if (record.providerDeploymentId) return record;
    const claim = await store.claimDeployment(record.id, CLAIM_STALE_SECONDS);
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
 * Announces a deploy as soon as it is queued: the provider's deployment for the environment,
 * in state `queued`, so the app repository shows it while it waits for its IAC target. Posted
 * once per deploy attempt, however many deliveries announce it.
 */
export async function announceDeploy(
  request: DeployRequest,
  deps: { store: ConfigStore & DeployStore; platform: Platform },
): Promise<void> {
  const env = await deps.store.getEnvironment(request.environmentId);
  if (!env) return;
  let record: DeployRecord | undefined = await beginFor(deps.store, request, env.id);
  if (record.state !== 'queued' || record.reportedState !== null) return;
  record = await ensureDeployment(deps.platform, deps.store, request, env.name, record, {
    wait: false,
  });
  // Another delivery won the claim: it announces. Else only the first to mark posts `queued`.
  if (!record || !(await deps.store.markReported(record.id, 'queued', { onlyFirst: true }))) {
    return;
  }
  await deps.platform.setDeploymentState(
    request.repo,
    {
      id: record.providerDeploymentId as string,
      sha: request.sha,
      ref: request.branch,
      environment: env.name,
    },
    {
      state: 'queued',
      description: `Queued: DAG deploys ${request.sha.slice(0, 7)} to ${env.name}`,
    },
  );
}

/**
 * Deploys one commit to one environment: renders the release bundle, commits it to the
 * environment's folder of its IAC repo, and reports on the app repo (deployment and status).
 * Idempotent per deploy attempt: a repeat finds the attempt done, or resumes it.
 */
export async function runDeploy(
  request: DeployRequest,
  deps: DeployDeps,
): Promise<DeployRecord | undefined> {
  const { store, platform, log } = deps;
  const env = await store.getEnvironment(request.environmentId);
  if (!env) {
    log.info(
      { environmentId: request.environmentId },
      'environment removed since the push; nothing to deploy',
    );
    return undefined;
  }
  const app = (await store.getApp(env.appId)) as App;
  const iac = (await store.getIac(env.iacId)) as Iac;
  let record = await beginFor(store, request, env.id);
  if (record.state === 'success') {
    log.info({ deploy: record.id }, 'already deployed; nothing to do');
    return record;
  }
  try {
    record = (await ensureDeployment(platform, store, request, env.name, record, {
      wait: true,
    })) as DeployRecord;
  } catch (error) {
    // No deployment to report on (e.g. the provider does not know the commit): say it here.
    if (error instanceof DagError && (error.kind === 'user' || error.kind === 'config')) {
      await store.updateDeploy(record.id, { state: 'failure', error: deps.mask(reasonOf(error)) });
      deps.onOutcome?.(env.name, 'failure');
    }
    throw error;
  }
  const deployment = {
    id: record.providerDeploymentId as string,
    sha: request.sha,
    ref: request.branch,
    environment: env.name,
  };
  // A run resumed after its in_progress was posted (a handed-back job) does not repeat it.
  if (await store.markReported(record.id, 'in_progress')) {
    await platform.setDeploymentState(request.repo, deployment, {
      state: 'in_progress',
      description: `Committing the release to ${iac.name}`,
    });
  }
  record = await store.updateDeploy(record.id, { state: 'in_progress' });

  let ended = false;
  try {
    const reader: SourceReader = {
      readFile: (path) => platform.readFile(request.repo, request.sha, path),
      readFolder: (path) => platform.readFolder(request.repo, request.sha, path),
    };
    const bundle = await buildBundle(reader, deps, app, env, {
      sha: request.sha,
      branch: request.branch,
      commitUrl: request.commitUrl,
    });
    const token = await store.iacToken(iac.id);
    const result = await deps.iac.apply(
      { url: iac.repoUrl, token, branch: env.iacBranch },
      [
        {
          path: env.iacPath,
          files: bundle.files,
          message: deployCommitMessage({ app, env, request }),
        },
      ],
      { author: deps.author },
    );
    const commit = result.commits[0]?.sha ?? null;
    deps.onOutcome?.(env.name, commit ? 'success' : 'unchanged');
    ended = true;
    const shown = commit ?? result.head;
    record = await store.updateDeploy(record.id, {
      state: 'success',
      iacCommit: shown,
      reportedState: 'success',
    });
    await platform.setDeploymentState(request.repo, deployment, {
      state: 'success',
      description: commit
        ? `Committed ${commit.slice(0, 7)} to ${iac.name} ${result.branch}:${env.iacPath}`
        : `${iac.name} ${result.branch}:${env.iacPath} already had this release`,
      logUrl: iacCommitUrl(iac, shown, deps.forges),
    });
    const link = iacCommitUrl(iac, shown, deps.forges);
    await reportOnPullRequest(
      platform,
      request,
      env,
      [
        `**DAG** deployed \`${request.sha.slice(0, 7)}\` of #${request.pullRequest} to **${env.name}**: ` +
          `IAC commit ${link ? `[\`${shown.slice(0, 7)}\`](${link})` : `\`${shown.slice(0, 7)}\``} ` +
          `in ${iac.name} \`${result.branch}:${env.iacPath}\`${commit ? '' : ' (already there)'}.`,
        '',
        `${env.name} now runs this pull request's code until the next deploy to it.`,
      ].join('\n'),
    );
    log.info(
      { deploy: record.id, environment: env.name, iacCommit: shown, changed: commit !== null },
      'deployed',
    );
    return record;
  } catch (error) {
    const permanent =
      error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
    const reason = deps.mask(reasonOf(error));
    log.warn({ err: error, deploy: record.id, permanent }, 'deploy failed');
    if (!permanent && !deps.lastAttempt) {
      await store.updateDeploy(record.id, { reportedState: 'queued' });
      await platform.setDeploymentState(request.repo, deployment, {
        state: 'queued',
        description: deps.mask(`Retrying: ${reason}`),
      });
      throw error;
    }
    if (!ended) deps.onOutcome?.(env.name, 'failure');
    record = await store.updateDeploy(record.id, {
      state: 'failure',
      error: reason,
      reportedState: 'failure',
    });
    await platform.setDeploymentState(request.repo, deployment, {
      state: 'failure',
      description: reason,
    });
    await reportOnPullRequest(
      platform,
      request,
      env,
      `**DAG** could not deploy \`${request.sha.slice(0, 7)}\` of #${request.pullRequest} to **${env.name}**: ${escapeMarkdown(reason)}`,
    );
    if (permanent) return record;
    throw error;
  }
}
