import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { GITHUB_EVENTS, GITLAB_EVENTS } from '../events/handled.ts';
import type { ProviderRequest } from '../platform/request-metrics.ts';

export type WebhookOutcome =
  'queued' | 'duplicate' | 'ignored' | 'rejected_signature' | 'malformed' | 'too_large' | 'error';

/** How a job run ended: done, failed for good, or failed and put back for a retry. */
export type JobOutcome = 'completed' | 'failed' | 'retried';

/** How a deploy ended: a commit pushed, the folder already held the release, or failed for good. */
export type DeployOutcome = 'success' | 'unchanged' | 'failure';

/** Jobs by queue and state, and when each queue's oldest waiting job was created. */
export type JobStats = {
  counts: { queue: string; state: string; count: number }[];
  oldestWaiting: { queue: string; createdOn: Date }[];
};

/** The queues and states reported; every pair is reported (0 when empty), so series never vanish. */
export type JobStatsSource = {
  queues: readonly string[];
  states: readonly string[];
  /** Waiting states: a queue's depth and oldest waiting job count these. */
  waiting: readonly string[];
  read: () => Promise<JobStats>;
  /** A failed read leaves the job gauges empty for that scrape; this hears why. */
  onError?: (error: unknown) => void;
};

const DEPLOY_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];
const REQUEST_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const GIT_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120];

/**
 * DAG's metrics, in a registry of their own per service instance (never prom-client's global
 * one), with Node's default process metrics. Modules get this object (or one of its methods)
 * through their dependencies; labels take only bounded values: configured environment names,
 * provider hosts, templated API routes, queue names, fixed outcome words.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #webhooks: Counter<'provider' | 'event' | 'outcome'>;
  readonly #jobRuns: Counter<'queue' | 'outcome'>;
  readonly #jobsStalled: Counter<'queue'>;
  readonly #deploys: Counter<'environment' | 'outcome'>;
  readonly #deployDuration: Histogram<'environment' | 'outcome'>;
  readonly #providerRequests: Counter<'provider' | 'host' | 'route' | 'status'>;
  readonly #providerDuration: Histogram<'provider' | 'host' | 'route'>;
  readonly #rateLimit: Gauge<'provider' | 'host' | 'resource'>;
  readonly #gitOperations: Counter<'operation' | 'outcome'>;
  readonly #gitDuration: Histogram<'operation'>;
  readonly #pushRetries: Counter;
  readonly #groupSize: Histogram;
  readonly #watchReconnects: Counter<'kind' | 'reason'>;
  readonly #rolloutStates: Counter<'phase'>;
  readonly #rollouts: Histogram<'outcome'>;
  readonly #drifted: Counter<'kind'>;
  readonly #fixProposals: Counter<'outcome'>;
  #jobStats: JobStatsSource | undefined;
  #pendingStats: Promise<JobStats | undefined> | undefined;

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
    this.#webhooks = new Counter({
      name: 'dag_webhook_deliveries_total',
      help: 'Webhook deliveries received, by provider, event and how DAG answered them.',
      labelNames: ['provider', 'event', 'outcome'],
      registers,
    });
    this.#jobRuns = new Counter({
      name: 'dag_job_runs_total',
      help: 'Job runs that ended, by queue and outcome (completed, failed for good, retried).',
      labelNames: ['queue', 'outcome'],
      registers,
    });
    this.#jobsStalled = new Counter({
      name: 'dag_jobs_stalled_total',
      help: 'Running jobs found with their worker gone (no heartbeat) and put back in line, by queue.',
      labelNames: ['queue'],
      registers,
    });
    const stats = () => this.#readJobStats();
    const source = () => this.#jobStats;
    /** A gauge of the job table, reset and `fill`ed from the scrape's one read of it. */
    const jobGauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (gauge: Gauge<L>, read: JobStats, from: JobStatsSource) => void,
    ) =>
      new Gauge<L>({
        name,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset();
          const read = await stats();
          const from = source();
          if (!read || !from) return;
          fill(this, read, from);
        },
      });
    jobGauge(
      'dag_jobs',
      'Jobs in the job table, by queue and state (read at scrape time).',
      ['queue', 'state'],
      (gauge, read, from) => {
        for (const queue of from.queues) {
          for (const state of from.states) {
            const found = read.counts.find((c) => c.queue === queue && c.state === state);
            gauge.set({ queue, state }, found?.count ?? 0);
          }
        }
      },
    );
    jobGauge(
      'dag_queue_depth',
      'Jobs waiting to run (created, or waiting for a retry), by queue (read at scrape time).',
      ['queue'],
      (gauge, read, from) => {
        for (const queue of from.queues) {
          const waiting = read.counts.filter(
            (c) => c.queue === queue && from.waiting.includes(c.state),
          );
          gauge.set(
            { queue },
            waiting.reduce((sum, c) => sum + c.count, 0),
          );
        }
      },
    );
    jobGauge(
      'dag_queue_oldest_waiting_seconds',
      'Age of the oldest waiting job, by queue; 0 when none waits (read at scrape time).',
      ['queue'],
      (gauge, read, from) => {
        const now = Date.now();
        for (const queue of from.queues) {
          const oldest = read.oldestWaiting.find((o) => o.queue === queue);
          gauge.set({ queue }, oldest ? Math.max(0, (now - oldest.createdOn.getTime()) / 1000) : 0);
        }
      },
    );
    this.#deploys = new Counter({
      name: 'dag_deploys_total',
      help: 'Deploys that ended, by environment and outcome (success, unchanged, failure).',
      labelNames: ['environment', 'outcome'],
      registers,
    });
    this.#deployDuration = new Histogram({
      name: 'dag_deploy_duration_seconds',
      help: 'From the webhook that asked for a deploy being received to the IAC commit pushed (or the deploy failing), by environment and outcome.',
      labelNames: ['environment', 'outcome'],
      buckets: DEPLOY_BUCKETS,
      registers,
    });
    this.#providerRequests = new Counter({
      name: 'dag_provider_requests_total',
      help: 'HTTP requests to the GitHub and GitLab APIs (each attempt), by provider, host, templated route and status (`error`: no answer).',
      labelNames: ['provider', 'host', 'route', 'status'],
      registers,
    });
    this.#providerDuration = new Histogram({
      name: 'dag_provider_request_duration_seconds',
      help: 'Duration of HTTP requests to the GitHub and GitLab APIs (each attempt), by provider, host and templated route.',
      labelNames: ['provider', 'host', 'route'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.#rateLimit = new Gauge({
      name: 'dag_provider_ratelimit_remaining',
      help: 'Requests left in the rate-limit window, as the last answer of the provider said (x-ratelimit-remaining, ratelimit-remaining).',
      labelNames: ['provider', 'host', 'resource'],
      registers,
    });
    this.#gitOperations = new Counter({
      name: 'dag_git_operations_total',
      help: 'git commands DAG ran on IAC repositories, by command and outcome (success, or the failure kind).',
      labelNames: ['operation', 'outcome'],
      registers,
    });
    this.#gitDuration = new Histogram({
      name: 'dag_git_operation_duration_seconds',
      help: 'Duration of git commands DAG ran on IAC repositories, by command.',
      labelNames: ['operation'],
      buckets: GIT_BUCKETS,
      registers,
    });
    this.#pushRetries = new Counter({
      name: 'dag_git_push_retries_total',
      help: 'Pushes to an IAC branch tried again because the branch moved under DAG.',
      registers,
    });
    this.#fixProposals = new Counter({
      name: 'dag_fix_proposals_total',
      help: 'Fix proposals by outcome: requests answered (accepted, duplicate, rejected, refused, failed) and pull requests published (opened, updated, unchanged, person-pushed, failed), and proposals whose pull request people merged, closed or reopened.',
      labelNames: ['outcome'],
      registers,
    });
    this.#watchReconnects = new Counter({
      name: 'dag_cluster_watch_reconnects_total',
      help: 'Cluster watches opened again, by kind watched and why: ended (the watch ended or its connection dropped: watched again from where it was), gone (410: listed again), error (after a backoff).',
      labelNames: ['kind', 'reason'],
      registers,
    });
    this.#rolloutStates = new Counter({
      name: 'dag_rollout_states_total',
      help: 'Rollout states monitoring saw environments enter (unknown, progressing, healthy, failed), each change counted once.',
      labelNames: ['phase'],
      registers,
    });
    this.#rollouts = new Histogram({
      name: 'dag_rollout_duration_seconds',
      help: "From a deploy's IAC commit to its rollout's outcome on the cluster, by outcome: healthy, failed, superseded (a newer commit came first).",
      labelNames: ['outcome'],
      buckets: [5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers,
    });
    this.#drifted = new Counter({
      name: 'dag_drift_total',
      help: 'Environments monitoring saw drift from their IAC repository, by kind: commit (another commit live than committed, past the grace period), edited (objects edited outside git).',
      labelNames: ['kind'],
      registers,
    });
    this.#groupSize = new Histogram({
      name: 'dag_iac_group_commit_size',
      help: 'Deploys written to an IAC branch in one push (one commit each).',
      buckets: [1, 2, 4, 8, 16, 32, 50],
      registers,
    });
  }

  /**
   * A webhook delivery was answered. `event` is the provider's header as sent (unverified on a
   * rejected delivery): an event DAG handles keeps its name, any other is `other`.
   */
  webhook(provider: 'github' | 'gitlab', event: string | undefined, outcome: WebhookOutcome): void {
    const handled = provider === 'github' ? GITHUB_EVENTS : GITLAB_EVENTS;
    const label = event !== undefined && handled.has(event) ? event : 'other';
    this.#webhooks.inc({ provider, event: label, outcome });
  }

  jobRun(queue: string, outcome: JobOutcome): void {
    this.#jobRuns.inc({ queue, outcome });
  }

  /** A running job was found with its worker gone (no heartbeat) and put back in line. */
  jobStalled(queue: string): void {
    this.#jobsStalled.inc({ queue });
  }

  /** Where the job gauges read from at scrape time (the job queue's stats()). */
  watchJobs(source: JobStatsSource): void {
    this.#jobStats = source;
  }

  /** A deploy ended; seconds since its webhook was received, when that is known. */
  deploy(environment: string, outcome: DeployOutcome, seconds: number | undefined): void {
    this.#deploys.inc({ environment, outcome });
    if (seconds !== undefined && Number.isFinite(seconds) && seconds >= 0) {
      this.#deployDuration.observe({ environment, outcome }, seconds);
    }
  }

  providerRequest(request: ProviderRequest): void {
    const { provider, host, route } = request;
    this.#providerRequests.inc({ provider, host, route, status: String(request.status) });
    this.#providerDuration.observe({ provider, host, route }, request.seconds);
    if (request.rateLimit) {
      this.#rateLimit.set(
        { provider, host, resource: request.rateLimit.resource },
        request.rateLimit.remaining,
      );
    }
  }

  gitOperation(operation: string, outcome: string, seconds: number): void {
    this.#gitOperations.inc({ operation, outcome });
    this.#gitDuration.observe({ operation }, seconds);
  }

  gitPushRetry(): void {
    this.#pushRetries.inc();
  }

  /** A fix proposal request was answered, or its job ended (src/api/fix-proposals.ts). */
  fixProposal(outcome: string): void {
    this.#fixProposals.inc({ outcome });
  }

  /** A cluster watch was opened again (src/monitor/resource-watch.ts). */
  watchReconnect(kind: string, reason: string): void {
    this.#watchReconnects.inc({ kind, reason });
  }

  /** Monitoring saw an environment's rollout reach a new state. */
  rolloutState(phase: string): void {
    this.#rolloutStates.inc({ phase });
  }

  /** A deploy's rollout reached its outcome, `seconds` after its IAC commit. */
  rolloutOutcome(outcome: string, seconds: number): void {
    this.#rollouts.observe({ outcome }, Math.max(0, seconds));
  }

  /** Monitoring saw an environment drift (counted when it starts). */
  drift(kind: string): void {
    this.#drifted.inc({ kind });
  }

  iacGroupCommit(size: number): void {
    this.#groupSize.observe(size);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** One read of the job table per scrape, shared by the three job gauges. */
  #readJobStats(): Promise<JobStats | undefined> {
    const source = this.#jobStats;
    if (!source) return Promise.resolve(undefined);
    this.#pendingStats ??= source
      .read()
      .catch((error: unknown) => {
        source.onError?.(error);
        return undefined;
      })
      .finally(() => {
        // The gauges of one scrape collect concurrently and share this read; the next reads again.
        this.#pendingStats = undefined;
      });
    return this.#pendingStats;
  }
}
