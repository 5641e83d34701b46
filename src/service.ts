import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appRepoAccess } from './api/app-repo-source.ts';
import { iacRepoAccess } from './api/iac-repo-source.ts';
import { sharedFailedAuthLimit, sharedTokenRateLimit } from './api/auth.ts';
import { FixProposalService } from './api/fix-proposal-service.ts';
import {
  fixProposalsHandler,
  runFixProposalJob,
  type FixProposalJob,
  type FixProposalOutcome,
} from './api/fix-proposals.ts';
import { mcpHandler } from './api/mcp-http.ts';
import { openApiHandler } from './api/openapi.ts';
import { maskText } from './diff/mask-text.ts';
import { publishFixPullRequest } from './fix/publish.ts';
import { SqlApiTokenStore } from './store/api-tokens.ts';
import { SqlFixProposalStore } from './store/fix-proposals.ts';
import { proposalChecks } from './fix/live-check.ts';
import { trustGitlab } from './platform/trust.ts';
import { runGit } from './iac/git.ts';
import { observedGit } from './iac/observed-git.ts';
import { BranchLeases } from './store/branch-lease.ts';
import { GroupCommitter } from './iac/group-commit.ts';
import { IacWorkspace } from './iac/workspace.ts';
import { PreviewPool } from './diff/preview-pool.ts';
import { ClusterClients } from './k8s/client.ts';
import { JOB_STATES, QUEUES, JobQueue, type Delivery } from './jobs/queue.ts';
import { Metrics } from './metrics/registry.ts';
import { platformFactory } from './platform/factory.ts';
import { iacPlatformFactory } from './platform/iac-platform.ts';
import { renderBundle } from './render/bundle.ts';
import { helmAvailable, helmTemplate } from './render/helm-template.ts';
import { loadTemplates } from './render/templates.ts';
import { parseValuesFile } from './render/yaml.ts';
import { createLogger, SecretMasker, type Logger } from './log.ts';
import { sharedWriteLimit } from './platform/github/write-limit.ts';
import { createProbot, githubWebhookHandler, type Handler } from './server/github.ts';
import { gitlabWebhookHandler } from './server/gitlab.ts';
import { createHttpServer } from './server/http.ts';
import { metricsHandler } from './server/metrics.ts';
import { observedWebhook } from './server/webhook-metrics.ts';
import { Intake } from './server/intake.ts';
import { githubSetupHandler } from './server/setup.ts';
import type { Settings } from './settings.ts';
import { stopGracefully, type StoppableParts } from './shutdown.ts';
import { SqlConfigStore } from './store/config-store.ts';
import type { Db } from './store/db.ts';
import { assertSecretsReadable, loadKeyring } from './store/keys.ts';
import { migrate, pendingMigrations } from './store/migrate.ts';
import { openDatabase } from './store/open.ts';
import type { ForgePlatform } from './platform/types.ts';
import type { DeployRequest } from './workflows/deploy-plan.ts';
import { runDiff } from './workflows/diff.ts';
import { diffJobKey, type DiffRequest } from './workflows/diff-request.ts';
import { askDeploy, reportDeploy, runDeploy, type DeployReport } from './workflows/deploy.ts';
import type { ForgeUrls } from './util/commit-url.ts';
import { handleDelivery } from './workflows/dispatch.ts';
import { Monitor } from './monitor/monitor.ts';
import { WatchLeases } from './monitor/leases.ts';
import { SqlRolloutStore } from './store/rollouts.ts';
import { environmentStatus } from './monitor/status.ts';
import type { Environment } from './model.ts';
import type { DeployRecord } from './store/types.ts';
import type { RepoRef } from './events/types.ts';
import { SqlDeployRollouts } from './store/deploy-rollouts.ts';
import { reportRollouts } from './workflows/rollout-report.ts';
import { SqlDeploymentCards } from './store/deployment-cards.ts';
import { updateDeploymentCard, type CardRequest } from './workflows/deployment-card.ts';
import {
  automaticPromotions,
  promotionJobKey,
  runPromotion,
  type PromotionRequest,
} from './workflows/promote.ts';

export type Service = {
  url: string;
  server: Server;
  db: Db;
  queue: JobQueue;
  mode: 'github' | 'gitlab' | 'github+gitlab' | 'setup';
  /** Stops DAG without losing work (src/shutdown.ts); the same promise however often called. */
  close(): Promise<void>;
};

/**
 * Builds DAG from its settings and starts it: database (migrated, secrets sealed), job queue
 * and workers, then the HTTP server. The returned handle stops it all gracefully.
 */
/** Seconds since an ISO 8601 time, when there is one. */
function secondsSince(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : (Date.now() - Date.parse(iso)) / 1000;
}

export async function startService(
  settings: Settings,
  options: {
    log?: Logger;
    masker?: SecretMasker;
    workers?: boolean;
    /** GitHub client-side throttling (on in production; tests against mocks turn it off). */
    githubThrottle?: boolean;
    /**
     * Called when the embedded database's process dies. By default DAG stops and exits 1, so
     * that its supervisor (Docker, Kubernetes, systemd) restarts it; until then /readyz fails.
     */
    onDatabaseLost?: (error: Error) => void;
  } = {},
): Promise<Service> {
  const masker = options.masker ?? new SecretMasker();
  if (settings.github) {
    masker.add(settings.github.webhookSecret);
    masker.add(settings.github.privateKey);
  }
  if (settings.gitlab) masker.add(settings.gitlab.webhookSecret);
  masker.add(settings.metricsToken);
  const log = options.log ?? createLogger({ level: settings.logLevel, masker });
  const metrics = new Metrics();
  const onRequest = metrics.providerRequest.bind(metrics);

  const keyring = loadKeyring(settings.encryption, settings.database, log);
  const db = await openDatabase(settings.database, { log });
  const parts: StoppableParts = { intake: new Intake(), db, log };
  let stopping: Promise<void> | undefined;
  const close = () => (stopping ??= stopGracefully(parts, settings.shutdownTimeoutSeconds * 1000));
  db.onLost?.((error) => {
    if (stopping) return;
    log.fatal({ err: error }, 'the embedded database died: DAG stops and exits 1 to be restarted');
    (options.onDatabaseLost ?? (() => void close().finally(() => process.exit(1))))(error);
  });
  try {
    await migrate(db, log);
    const store = new SqlConfigStore(db, keyring, masker);
    await assertSecretsReadable(store, keyring, settings);
    const normalized = await store.normalize();
    if (normalized.sealed + normalized.resealed + normalized.named > 0) {
      log.info(normalized, 'configuration normalized: secrets sealed, environments named');
    }

    // Templates are compiled (and checked) before DAG accepts any work.
    const templates = loadTemplates(settings.templatesDir);
    const probot = settings.github
      ? createProbot(settings.github, log, {
          throttle: options.githubThrottle ?? true,
          onRequest,
          writeLimit: sharedWriteLimit(db, log),
        })
      : undefined;
    const platformFor = platformFactory({ probot, gitlab: settings.gitlab, onRequest });
    const iacPlatformFor = iacPlatformFactory({
      probot,
      githubApiUrl: settings.github?.baseUrl,
      gitlab: settings.gitlab,
      throttle: options.githubThrottle ?? true,
      onRequest,
    });
    // A self-managed GitLab with a private CA: trusted by the API client and, for its URL, by git.
    const { runner: git, certificates } = trustGitlab(settings.gitlab, runGit);
    if (certificates > 0) {
      log.info({ certificates, gitlab: settings.gitlab?.url }, 'trusting the GitLab CA file');
    }
    const iac = await IacWorkspace.create({
      cacheDir: settings.cacheDir,
      log,
      git: observedGit(git, (operation, outcome, seconds) =>
        metrics.gitOperation(operation, outcome, seconds),
      ),
      onPushRetry: () => metrics.gitPushRetry(),
      gitlabHosts: settings.gitlab ? [new URL(settings.gitlab.url).hostname] : [],
    });
    // Deploys of one IAC branch meet here: one writer per branch across DAG's processes.
    const committer = new GroupCommitter(iac, new BranchLeases(db, log), {
      author: settings.gitAuthor,
      log: log.child({ component: 'group-commit' }),
      onGroup: (size) => metrics.iacGroupCommit(size),
    });

    const queue = await JobQueue.create(db, log, { metrics });
    metrics.watchJobs({
      queues: Object.values(QUEUES),
      states: JOB_STATES,
      waiting: ['created', 'retry'],
      read: () => queue.stats(),
      onError: (error) => log.warn({ err: error }, 'metrics: the job table could not be read'),
    });
    parts.queue = queue;
    const enqueueReport = async (report: DeployReport) => {
      await queue.enqueueReport(report.deployId, report);
    };
    // A push deploys its commit; a request (`/deploy`) first gets its attempt, or is told the
    // environment runs that commit already. The deploy's job is queued before its report (which
    // creates the provider's deployment): announced work always has its job.
    const enqueueDeploy = async (
      request: DeployRequest,
    ): Promise<{ status: 'queued' | 'duplicate' | 'current' }> => {
      let queued = request;
      if (request.requestKey !== undefined) {
        const asked = await askDeploy({ ...request, requestKey: request.requestKey }, store);
        if (asked.status === 'current') return { status: 'current' };
        queued = asked.request;
      }
      const record = await store.beginDeploy({
        environmentId: queued.environmentId,
        sha: queued.sha,
        ref: queued.branch,
        pusher: queued.pusher,
        attempt: queued.attempt,
      });
      const sent = await queue.enqueueDeploy(queued);
      if (record.reportedState === null)
        await enqueueReport({ deployId: record.id, request: queued });
      return sent;
    };
    const enqueueDiff = (request: DiffRequest) =>
      queue.enqueueKeyed(QUEUES.diff, diffJobKey(request), request);
    const enqueuePromotion = (request: PromotionRequest) =>
      queue.enqueueKeyed(
        QUEUES.promote,
        promotionJobKey(request),
        request,
        `route-${request.routeId}`,
      );
    // Links to IAC commits follow the configured forges' URL forms.
    const forges: ForgeUrls = {
      gitlab: settings.gitlab?.url,
      github: settings.github?.baseUrl?.replace(/\/api\/v3\/?$/, ''),
    };
    const clusters = new ClusterClients({ store, log });
    // Diff previews parse, mask and diff thousands of objects: on worker threads, never on the
    // event loop that answers webhooks and probes.
    const previewPool = new PreviewPool(
      settings.diffThreads === undefined ? {} : { threads: settings.diffThreads },
    );
    parts.previewPool = previewPool;
    const tools = {
      render: (input: Parameters<typeof renderBundle>[0]) => renderBundle(input, templates),
      parseValues: parseValuesFile,
    };
    // AI fix proposals: read and verified against the app repository at the environment
    // branch's tip, published as a bot-authored pull request by the dag.fix-proposal job.
    const proposals = new SqlFixProposalStore(db);
    const rollouts = new SqlRolloutStore(db);
    const deployRollouts = new SqlDeployRollouts(db);
    // A deploy to an environment monitoring can see (its cluster has a token) stays in progress
    // on the provider until its rollout ends (src/workflows/rollout-report.ts).
    const awaitsRollout = async (env: Environment) =>
      settings.monitor && (await store.clusterToken(env.clusterId)) !== null;
    const rolloutDeadlineMs = settings.rolloutDeadlineMinutes * 60_000;
    // A committed deploy's rollout is reported now, and once more at its deadline.
    const followRollout = async (environmentId: number, record?: DeployRecord) => {
      await queue.enqueueRollout(environmentId, settings.rolloutReportSeconds);
      if (record) {
        const deadline = new Date(record.updatedAt.getTime() + rolloutDeadlineMs + 1000);
        await queue.enqueueRolloutDeadline(environmentId, record.id, deadline);
      }
    };
    const enqueueRollout = (environmentId: number) => followRollout(environmentId);
    // The deployment card of the request that shipped a pushed commit to a monitored
    // environment (not of a /deploy: its request has its own deploy comment). Unmonitored
    // environments end at their commit, which the deployment shows: no card, no lookup.
    const enqueueCard = async (
      env: Environment,
      sha: string,
      request: { branch: string; repo: RepoRef; pullRequest?: number | undefined },
    ) => {
      if (request.pullRequest !== undefined || !(await awaitsRollout(env))) return;
      await queue.enqueueCard(
        { appId: env.appId, sha, branch: request.branch, repo: request.repo },
        settings.rolloutReportSeconds,
      );
    };
    const cards = new SqlDeploymentCards(db);
    const maskForProposals = (text: string) => masker.mask(maskText(text));
    const { writable: writableAppPlatform, source: proposalSource } = appRepoAccess(platformFor);
    // A fix to IAC files DAG does not render: a pull request on the IAC repository.
    const { writable: writableIacPlatform, source: iacProposalSource } = iacRepoAccess(
      iacPlatformFor,
      store,
      async (target) => (await iac.readFolders({ ...target, branch: null }, [])).branch,
    );
    // What verification checks beyond rendering: Flux objects against the Flux CRDs, and a
    // server-side dry run whose live diff the pull request shows (the preview of `/diff`).
    const verifyExtras = proposalChecks({
      store,
      iac,
      clusters,
      compute: previewPool,
      helmTemplate: (chart, release) => helmTemplate(chart, release, { helm: settings.helmPath }),
      helmAvailable: () => helmAvailable(settings.helmPath),
    });
    if (options.workers ?? true) {
      await queue.work<Delivery>(QUEUES.events, settings.worker, (delivery, job) => {
        // The work a delivery queues carries its id (for its jobs' logs) and, for deploys, the
        // time its webhook was received (the deploy duration's start).
        const { deliveryId, receivedAt } = delivery;
        return handleDelivery(delivery, {
          log: job.log,
          store,
          enqueueDeploy: (request) => enqueueDeploy({ ...request, deliveryId, receivedAt }),
          enqueueDiff: (request) => enqueueDiff({ ...request, deliveryId }),
          enqueuePromotion: (request) => enqueuePromotion({ ...request, deliveryId }),
          platformFor,
          proposals,
          status: (environmentId) => environmentStatus(rollouts, environmentId),
          onFixOutcome: (outcome) => metrics.fixProposal(outcome),
        });
      });
      await queue.work<DiffRequest>(QUEUES.diff, settings.worker, async (request, job) => {
        const platform = await platformFor(request.repo);
        const jobLog = job.log.child({ pr: request.pr.number });
        await runDiff(request, {
          helmTemplate: (chart, release) =>
            helmTemplate(chart, release, { helm: settings.helmPath }),
          helmAvailable: () => helmAvailable(settings.helmPath),
          store,
          platform,
          iac: iac.withLog(jobLog),
          clusters,
          compute: previewPool,
          tools,
          log: jobLog,
        });
      });
      await queue.work<DeployRequest>(
        QUEUES.deploy,
        // Deploys wait for git, not for the CPU: many run at once, and those of one IAC branch
        // share its next group commit.
        { ...settings.worker, concurrency: settings.deployConcurrency },
        async (request, job) => {
          const jobLog = job.log.child({ environmentId: request.environmentId });
          const record = await runDeploy(request, {
            store,
            platform: await platformFor(request.repo),
            iac: committer,
            ...tools,
            log: jobLog,
            mask: (text) => masker.mask(text),
            lastAttempt: job.retryCount >= job.retryLimit,
            report: enqueueReport,
            onOutcome: (environment, outcome) =>
              metrics.deploy(environment, outcome, secondsSince(request.receivedAt)),
            awaitsRollout,
          });
          // A release that reached its environment moves on along automatic routes; one whose
          // rollout is followed, once it runs healthy there (the rollout report).
          if (record?.state !== 'success' || record.rollout !== null) return;
          for (const promotion of await automaticPromotions(store, request)) {
            await enqueuePromotion({ ...promotion, deliveryId: request.deliveryId });
          }
        },
      );
      await queue.work<FixProposalJob>(
        QUEUES.fixProposal,
        settings.worker,
        async (request, job) => {
          await runFixProposalJob(request, {
            proposals,
            config: store,
            source: proposalSource,
            iacSource: iacProposalSource,
            tools,
            verifyExtras,
            appPlatform: async (app) => writableAppPlatform(app),
            iacPlatform: async (environment) => writableIacPlatform(environment),
            publish: async (input, target) =>
              publishFixPullRequest(input, {
                platform: target.platform as ForgePlatform,
                repo: target.repo,
                mask: maskForProposals,
                log: target.log,
              }),
            log: job.log,
            mask: maskForProposals,
            lastAttempt: job.retryCount >= job.retryLimit,
            onOutcome: (outcome) => metrics.fixProposal(outcome),
          });
        },
      );
      await queue.work<DeployReport>(QUEUES.report, settings.worker, async (report, job) => {
        await reportDeploy(report, {
          store,
          platform: await platformFor(report.request.repo),
          log: job.log.child({ deploy: report.deployId }),
          jobId: job.id,
          resume: job.retryCount > 0,
          forges,
          followRollout,
          onReported: (env, record) => enqueueCard(env, record.sha, report.request),
        });
      });
      await queue.work<CardRequest>(QUEUES.card, settings.worker, async (request, job) => {
        await updateDeploymentCard(request, {
          config: store,
          cards,
          platform: await platformFor(request.repo),
          log: job.log.child({ card: request.sha.slice(0, 7) }),
          forges,
        });
      });
      const rolloutWork = async (
        { environmentId }: { environmentId: number },
        job: { log: Logger; retryCount: number },
      ) => {
        await reportRollouts(environmentId, {
          config: store,
          deploys: deployRollouts,
          rollouts,
          platformFor,
          log: job.log.child({ environmentId }),
          forges,
          deadlineMs: rolloutDeadlineMs,
          resume: job.retryCount > 0,
          mask: (text) => masker.mask(maskText(text)),
          onSettled: async (env, record, request) => {
            metrics.rolloutOutcome(
              record.rollout ?? 'pending',
              (Date.now() - record.updatedAt.getTime()) / 1000,
            );
            await enqueueCard(env, record.sha, request);
            if (record.rollout !== 'healthy') return;
            for (const promotion of await automaticPromotions(store, request)) {
              await enqueuePromotion(promotion);
            }
          },
        });
      };
      await queue.work(QUEUES.rollout, settings.worker, rolloutWork);
      await queue.work(QUEUES.rolloutDeadline, settings.worker, rolloutWork);
      await queue.work<PromotionRequest>(
        QUEUES.promote,
        // New promotions wake the worker (NOTIFY); only one waiting behind another of its
        // route is found by the regular poll.
        { ...settings.worker, perGroup: 1 },
        async (request, job) => {
          const jobLog = job.log.child({ route: request.routeId });
          const appPlatform = await platformFor(request.appRepo);
          const outcome = await runPromotion(request, {
            helmTemplate: (chart, release) =>
              helmTemplate(chart, release, { helm: settings.helmPath }),
            helmAvailable: () => helmAvailable(settings.helmPath),
            clusters,
            compute: previewPool,
            store,
            appPlatform,
            iacHost: async (target, token) => iacPlatformFor(target, token),
            iac: iac.withLog(jobLog),
            tools,
            author: settings.gitAuthor,
            log: jobLog,
            mask: (text) => masker.mask(text),
            lastAttempt: job.retryCount >= job.retryLimit,
            forges,
            ...(settings.monitor
              ? { health: (environmentId: number) => environmentStatus(rollouts, environmentId) }
              : {}),
            awaitsRollout,
            onTargetDeployed: async (env, record, deployRequest) => {
              // Merged into the branch the target's cluster reconciles: released (d1 layout).
              if (env.reconciledBranch !== null) await rollouts.markReleased(env.id, record.sha);
              if (record.rollout !== null) await followRollout(env.id, record);
              await enqueueCard(env, record.sha, deployRequest);
            },
          });
          // The card of the request that shipped the promoted commit shows the open promotion.
          if (outcome.status === 'opened' || outcome.status === 'updated') {
            const route = await store.getRoute(request.routeId);
            const from = route && (await store.getEnvironment(route.fromEnvironmentId));
            const promoted = route && (await store.currentPromotion(route.id));
            if (from && promoted?.sourceSha) {
              await enqueueCard(from, promoted.sourceSha, {
                branch: from.branch,
                repo: request.appRepo,
              });
            }
          }
        },
      );
    }

    // Cluster monitoring: this process watches the clusters whose lease it holds.
    if ((options.workers ?? true) && settings.monitor) {
      const monitor = new Monitor({
        config: store,
        rollouts,
        leases: new WatchLeases(db),
        log: log.child({ part: 'monitor' }),
        rollout: { driftGraceMs: settings.driftGraceMinutes * 60_000 },
        mask: (text) => masker.mask(maskText(text)),
        onReconnect: (_clusterId, kind, why) => metrics.watchReconnect(kind, why),
        onState: (environment, state, previous) => {
          metrics.rolloutState(state.phase);
          if (state.drift.drifted && !previous?.drift.drifted) {
            metrics.drift(state.drift.kind ?? 'commit');
          }
          enqueueRollout(environment.id).catch((error: unknown) =>
            log.warn(
              { err: error, environmentId: environment.id },
              'could not ask for a rollout report',
            ),
          );
        },
      });
      parts.monitor = monitor;
      monitor.start();
    }

    // Intake stamps the receive time (deploys are timed from it) and counts what it enqueued.
    const enqueue = async (delivery: Delivery) => {
      const result = await queue.enqueueDelivery({
        ...delivery,
        receivedAt: delivery.receivedAt ?? new Date().toISOString(),
      });
      metrics.webhook(delivery.provider, delivery.event, result.status);
      return result;
    };
    const handlers: Handler[] = [];
    if (settings.github && probot) {
      const handler = githubWebhookHandler(settings.github, enqueue, log);
      handlers.push(observedWebhook('github', handler, metrics));
    }
    if (settings.gitlab) {
      const handler = gitlabWebhookHandler(settings.gitlab, enqueue, log);
      handlers.push(observedWebhook('gitlab', handler, metrics));
    }
    const mode = settings.github
      ? settings.gitlab
        ? 'github+gitlab'
        : 'github'
      : settings.gitlab
        ? 'gitlab'
        : 'setup';
    if (mode !== 'setup') {
      // The REST API and the MCP server: one pipeline, the same tokens and budgets.
      const api = {
        tokens: new SqlApiTokenStore(db, store, { log }),
        rateLimit: sharedTokenRateLimit(db, log),
        failedAuth: sharedFailedAuthLimit(db, log),
        log,
        config: store,
        proposals,
        clusters,
        source: proposalSource,
        iacSource: iacProposalSource,
        tools,
        verifyExtras,
        enqueue: async (job: FixProposalJob) => {
          await queue.enqueueKeyed(QUEUES.fixProposal, `proposal:${job.proposalId}`, job);
        },
        mask: maskForProposals,
        onOutcome: (outcome: FixProposalOutcome) => metrics.fixProposal(outcome),
      };
      const service = new FixProposalService(api);
      handlers.push(
        fixProposalsHandler(api, service),
        mcpHandler({
          ...api,
          service,
          view: {
            config: store,
            deploys: store,
            source: proposalSource,
            tools,
            clusters,
            rollouts,
          },
        }),
        openApiHandler(),
      );
    }
    if (mode === 'setup') {
      handlers.push(
        await githubSetupHandler({ host: settings.host ?? 'localhost', port: settings.port }),
      );
    }

    const server = createHttpServer({
      handlers,
      log,
      metrics: metricsHandler(metrics, settings.metricsToken),
      intake: parts.intake,
      readiness: async () => {
        const checks: Record<string, string> = {};
        try {
          const pending = await pendingMigrations(db);
          checks.database = 'ok';
          checks.migrations = pending.length === 0 ? 'ok' : `pending: ${pending.join(', ')}`;
        } catch {
          checks.database = 'unreachable';
        }
        checks.mode = mode;
        return { ready: checks.database === 'ok' && checks.migrations === 'ok', checks };
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(settings.port, settings.host, () => resolve());
    });
    parts.server = server;
    const address = server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host === '[::]' || host === '0.0.0.0' ? 'localhost' : host}:${address.port}`;
    log.info({ url, mode, database: db.location }, 'DAG is listening');
    if (mode === 'setup') {
      log.info(
        `no GitHub App or GitLab settings: open ${url}/probot to create the GitHub App from app.yml`,
      );
    }
    return { url, server, db, queue, mode, close };
  } catch (error) {
    await close();
    throw error;
  }
}
