import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { PgBoss, type Job } from 'pg-boss';
import { errorMessage, isPermanent, isTransient } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { JobOutcome } from '../metrics/registry.ts';
import type { Db } from '../store/db.ts';
import { processAlive } from '../util/process-alive.ts';

/** Queues DAG runs. Each has its retry and retention policy here, in one place. */
export const QUEUES = {
  /** Verified webhook deliveries, turned into workflow runs by their handler. */
  events: 'dag.events',
  /**
   * One environment to deploy one commit to. Many run at once: those of one IAC repository and
   * branch meet in its group commit (src/iac/group-commit.ts), one writer per branch.
   */
  deploy: 'dag.deploy',
  /**
   * Reporting one deploy's state on the provider (its deployment and statuses): at most one
   * waiting and one running per deploy, so reports of a busy deploy coalesce (`stately`).
   */
  report: 'dag.report',
  /**
   * Following one environment's rollouts on the provider (src/workflows/rollout-report.ts):
   * asked for whenever monitoring sees the environment change, run at most once per interval.
   */
  rollout: 'dag.rollout',
  /**
   * Bringing one app commit's deployment card up to date (src/workflows/deployment-card.ts):
   * asked for whenever a deploy of it is reported, run at most once per interval.
   */
  card: 'dag.card',
  /**
   * A committed deploy's rollout deadline: the environment's rollout report, run once at
   * DAG_ROLLOUT_DEADLINE_MINUTES after the commit (timers waiting here are not work waiting).
   */
  rolloutDeadline: 'dag.rollout-deadline',
  /** A diff preview of a pull request's head for some environments. */
  diff: 'dag.diff',
  /** Opening or updating one route's promotion pull request; one at a time per route. */
  promote: 'dag.promote',
  /** Opening or updating the pull request of one verified fix proposal (src/api/fix-proposals.ts). */
  fixProposal: 'dag.fix-proposal',
} as const;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/** Per-queue differences from QUEUE_POLICY. */
const QUEUE_OVERRIDES: Partial<Record<keyof typeof QUEUES, Record<string, unknown>>> = {
  // A deploy's final status must land: keep trying for hours (backoff capped at 10 min).
  // Retried soon (2 s, doubling): a report only waits for the provider.
  report: { policy: 'stately', retryLimit: 30, retryDelay: 2 },
  rollout: { policy: 'stately', retryLimit: 30, retryDelay: 2 },
  card: { policy: 'stately', retryLimit: 30, retryDelay: 2 },
  rolloutDeadline: { retryLimit: 30, retryDelay: 2 },
};

const QUEUE_POLICY = {
  // Workers wake on NOTIFY when a job is created instead of waiting for their next poll.
  notify: true,
  // Retries back off from 10 s up to 10 min; after 8 failures the job stays `failed`.
  retryLimit: 8,
  retryDelay: 10,
  retryBackoff: true,
  retryDelayMax: 600,
  // A hard cap for a live handler that hangs: pg-boss abandons it and fails the attempt.
  expireInSeconds: 15 * 60,
  // A running job's worker stamps it every HEARTBEAT_REFRESH_SECONDS; a job whose stamp is older
  // than this has lost its worker (a killed process, a lost host) and is put back in line by
  // whichever DAG process notices it first (see #reapStalled), within seconds, not at expiry.
  heartbeatSeconds: 10,
  // A job (and so the key that deduplicates its delivery) is kept 14 days after it ends.
  deleteAfterSeconds: 14 * 24 * 3600,
};

/**
 * How often a worker stamps its running jobs: five beats in a heartbeat interval, so that only a
 * process silent for 10 s (dead, or its event loop or database connection stuck that long) is
 * taken for gone.
 */
const HEARTBEAT_REFRESH_SECONDS = 2;
/** How often a supervising DAG process looks for jobs whose worker is gone. */
const STALL_CHECK_MS = 2_000;

/** The DAG process running a job, recorded in the job's output when it starts. */
export type JobOwner = { host: string; pid: number };

/** This process, as a job's owner. */
const SELF: JobOwner = { host: hostname(), pid: process.pid };

/**
 * Whether an active job's worker is gone: its heartbeat is stale, or it ran on this host in a
 * process that no longer exists. A worker on another host with a fresh heartbeat is alive.
 */
export function ownerGone(job: { stalled: boolean; owner: JobOwner | null }): boolean {
  if (job.stalled) return true;
  return job.owner !== null && job.owner.host === SELF.host && !processAlive(job.owner.pid);
}

function ownerOf(output: unknown): JobOwner | null {
  const owner = (output as { owner?: Partial<JobOwner> } | null)?.owner;
  return typeof owner?.host === 'string' && typeof owner.pid === 'number'
    ? { host: owner.host, pid: owner.pid }
    : null;
}

export function describeOwner(owner: JobOwner | null): string {
  return owner ? `${owner.host}:${owner.pid}` : 'an unknown process';
}

export type Delivery = {
  provider: 'github' | 'gitlab';
  /** The provider's id of this delivery: the same on a redelivery. */
  deliveryId: string;
  event: string;
  payload: unknown;
  /** When DAG received the webhook (ISO 8601): deploys it starts are timed from here. */
  receivedAt?: string | undefined;
};

export const JOB_STATES = [
  'created',
  'retry',
  'active',
  'completed',
  'cancelled',
  'failed',
] as const;
export type JobState = (typeof JOB_STATES)[number];

export type JobSummary = {
  id: string;
  queue: string;
  state: JobState;
  /** Short human description: provider, event and delivery for webhook jobs. */
  summary: string;
  retryCount: number;
  createdOn: Date;
  completedOn: Date | null;
  /** The last error, for failed and retrying jobs. */
  error: string | null;
  /** When the running attempt started (active jobs). */
  startedOn: Date | null;
  /** The running attempt's last heartbeat (active jobs). */
  heartbeatOn: Date | null;
  /** Seconds since the running attempt started and since its last heartbeat (database clock). */
  ageSeconds: number | null;
  heartbeatAgeSeconds: number | null;
  /** The process running it (active jobs), as it recorded itself when it started. */
  owner: JobOwner | null;
  /** Active, with a heartbeat older than its interval: its worker is gone. */
  stalled: boolean;
};

/** What `retry` and `cancel` did with a job. */
export type JobAction = {
  /** The state the job was in. */
  state: JobState;
  /** Whether it was put back in line (retry) or cancelled. */
  done: boolean;
  /** For an active job: the process running it, and whether it still does. */
  owner?: JobOwner | null;
  ownerAlive?: boolean;
};

/** Active jobs whose heartbeat is stale, read straight from the job table (for `dag doctor`). */
export async function findStalledJobs(db: Db): Promise<JobSummary[] | undefined> {
  const { rows } = await db.query<{ exists: boolean }>(
    "SELECT to_regclass('pgboss.job') IS NOT NULL AS exists",
  );
  if (!rows[0]?.exists) return undefined;
  return (await listJobs(db, { state: 'active', limit: 1000 })).filter(ownerGone);
}

const JOB_COLUMNS = `id, name, state::text AS state, data, output, retry_count, created_on,
  completed_on, started_on, heartbeat_on,
  extract(epoch FROM now() - started_on)::float8 AS age_seconds,
  extract(epoch FROM now() - heartbeat_on)::float8 AS heartbeat_age_seconds,
  (state = 'active' AND heartbeat_seconds IS NOT NULL
    AND heartbeat_on + heartbeat_seconds * interval '1s' < now()) AS stalled`;

type JobRow = {
  id: string;
  name: string;
  state: JobState;
  data: unknown;
  output: { message?: string } | null;
  retry_count: number;
  created_on: Date;
  completed_on: Date | null;
  started_on: Date | null;
  heartbeat_on: Date | null;
  age_seconds: number | null;
  heartbeat_age_seconds: number | null;
  stalled: boolean;
};

function summaryOf(row: JobRow): JobSummary {
  const active = row.state === 'active';
  return {
    id: row.id,
    queue: row.name,
    state: row.state,
    summary: describeJob(row.data),
    retryCount: row.retry_count,
    createdOn: new Date(row.created_on),
    completedOn: row.completed_on ? new Date(row.completed_on) : null,
    error: row.state === 'failed' || row.state === 'retry' ? (row.output?.message ?? null) : null,
    startedOn: active && row.started_on ? new Date(row.started_on) : null,
    heartbeatOn: active && row.heartbeat_on ? new Date(row.heartbeat_on) : null,
    ageSeconds: active && row.age_seconds !== null ? Number(row.age_seconds) : null,
    heartbeatAgeSeconds:
      active && row.heartbeat_age_seconds !== null ? Number(row.heartbeat_age_seconds) : null,
    owner: active ? ownerOf(row.output) : null,
    stalled: row.stalled,
  };
}

async function listJobs(
  db: Db,
  options: { state?: JobState | undefined; limit?: number; id?: string },
): Promise<JobSummary[]> {
  // pg-boss offers no state filter, so read its job table (owned by this module) directly.
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS}
       FROM pgboss.job
      WHERE ($1::text IS NULL OR state::text = $1) AND ($3::uuid IS NULL OR id = $3::uuid)
      ORDER BY created_on DESC
      LIMIT $2`,
    [options.state ?? null, options.limit ?? 50, options.id ?? null],
  );
  return rows.map(summaryOf);
}

function describeJob(data: unknown): string {
  const d = (data ?? {}) as Partial<Delivery> & { environmentId?: number; sha?: string };
  if (d.provider && d.event) return `${d.provider} ${d.event} delivery ${d.deliveryId ?? '?'}`;
  if (d.environmentId !== undefined && d.sha) {
    return `deploy ${d.sha.slice(0, 7)} to environment ${d.environmentId}`;
  }
  return 'job';
}

/** A UUID derived from a key, so that the same key always names the same job. */
export function jobIdFor(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  const variant = ((Number.parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export type JobInfo = {
  id: string;
  retryCount: number;
  retryLimit: number;
  /** The job's logger: its lines carry jobId, queue and, for work a webhook started, deliveryId. */
  log: Logger;
};

/** Hears how each job run ended, and of jobs found with their worker gone (metrics). */
export type JobMetrics = {
  jobRun(queue: QueueName, outcome: JobOutcome): void;
  jobStalled?(queue: string): void;
};

/** The delivery a job's data goes back to: a webhook delivery, or a request it queued. */
function deliveryIdOf(data: unknown): string | undefined {
  const id = (data as { deliveryId?: unknown } | null)?.deliveryId;
  return typeof id === 'string' ? id : undefined;
}
export type JobHandler<T> = (data: T, job: JobInfo) => Promise<void>;

const HANDED_BACK = Symbol('handed back');

/** Thrown to pg-boss for a job whose handler was abandoned at shutdown (see stopWorkers). */
class JobHandedBack extends Error {
  constructor(id: string) {
    super(`DAG stopped while job ${id} ran: handed back to the queue`);
    this.name = 'JobHandedBack';
  }
}

/**
 * The durable job queue (pg-boss) on DAG's own database, embedded or Postgres.
 * Enqueueing is one INSERT with a deterministic id, so a redelivered webhook is a no-op;
 * workers on any number of processes fetch with SKIP LOCKED, so no job runs twice at once.
 */
export class JobQueue {
  readonly #boss: PgBoss;
  readonly #db: Db;
  readonly #log: Logger;
  /** Jobs whose handler runs now in this process: id -> hands the job back. */
  readonly #running = new Map<string, () => void>();
  /** Jobs handed back at shutdown, to be put back in line once pg-boss has settled them. */
  readonly #handedBack = new Set<string>();
  /** Set when the workers' time is up: a job fetched even now is handed back at once. */
  #handingBack = false;
  /** The periodic look for jobs whose worker is gone (supervising processes only). */
  #stallTimer: NodeJS.Timeout | undefined;
  #reaping: Promise<void> | undefined;
  #stopped = false;

  /** The logger jobs' own loggers are children of. */
  readonly #jobsLog: Logger;
  readonly #metrics: JobMetrics | undefined;

  private constructor(boss: PgBoss, db: Db, log: Logger, metrics: JobMetrics | undefined) {
    this.#boss = boss;
    this.#db = db;
    this.#log = log.child({ component: 'jobs' });
    this.#jobsLog = log;
    this.#metrics = metrics;
  }

  static async create(
    db: Db,
    log: Logger,
    options: {
      /** Run pg-boss maintenance (expiry, retention) in this process; off for the CLI. */
      supervise?: boolean;
      /** Create the queues and apply their policy; the CLI leaves them as the server set them. */
      manageQueues?: boolean;
      retry?: { limit: number; delaySeconds: number };
      metrics?: JobMetrics;
      /** How often to look for jobs whose worker is gone (supervising processes; tests). */
      stallCheckMs?: number;
    } = {},
  ): Promise<JobQueue> {
    // Its own connections to the same database, embedded or not (the embedded server passes
    // NOTIFY on to every connection: pg-boss's LISTEN connection wakes the workers).
    const boss = new PgBoss({
      connectionString: db.url,
      max: 5,
      schema: 'pgboss',
      useListenNotify: options.manageQueues !== false,
      supervise: options.supervise ?? true,
      schedule: false,
      migrate: true,
    });
    boss.on('error', (error) => log.error({ err: error }, 'job queue error'));
    await boss.start();
    for (const [key, name] of options.manageQueues === false ? [] : Object.entries(QUEUES)) {
      const policy = {
        ...QUEUE_POLICY,
        ...QUEUE_OVERRIDES[key as keyof typeof QUEUES],
        ...(options.retry
          ? { retryLimit: options.retry.limit, retryDelay: options.retry.delaySeconds }
          : {}),
      };
      await boss.createQueue(name, policy);
      // An existing queue takes this version's policy (all but `policy`, fixed at creation).
      const updatable: Record<string, unknown> = { ...policy };
      delete updatable.policy;
      await boss.updateQueue(name, updatable);
    }
    if (options.manageQueues !== false) {
      // Jobs queued before heartbeats were on take them too (a job copies its queue's policy).
      await db.query(
        `UPDATE pgboss.job SET heartbeat_seconds = $2
          WHERE name = ANY($1::text[]) AND state IN ('created', 'retry') AND heartbeat_seconds IS NULL`,
        [Object.values(QUEUES), QUEUE_POLICY.heartbeatSeconds],
      );
    }
    const queue = new JobQueue(boss, db, log, options.metrics);
    if (options.supervise ?? true) queue.#watchStalls(options.stallCheckMs ?? STALL_CHECK_MS);
    return queue;
  }

  #watchStalls(everyMs: number): void {
    this.#stallTimer = setInterval(() => {
      this.#reaping ??= this.#reapStalled().finally(() => (this.#reaping = undefined));
    }, everyMs);
    this.#stallTimer.unref();
  }

  /**
   * Puts back in line, at once, every active job whose heartbeat is older than its interval:
   * its worker is gone (killed, its host lost), and until then the job would hold its group
   * (a deploy, its IAC branch) for the 15-minute expiry. The attempt counts (a job that kills
   * its process each time ends `failed`); the retry is due now rather than after the backoff,
   * since nothing failed that waiting would fix. pg-boss's own monitor does the same more
   * slowly and with the backoff: a job it got to first is brought forward too. Any number of
   * DAG processes may do this at once: the UPDATE takes each job once.
   */
  async #reapStalled(): Promise<void> {
    if (this.#stopped) return;
    const queues = Object.values(QUEUES);
    try {
      const { rows } = await this.#db.query<{
        id: string;
        name: string;
        state: JobState;
        data: unknown;
        retry_count: number;
        silent_seconds: number;
        owner: Partial<JobOwner> | null;
      }>(
        `WITH stalled AS (
           SELECT id, output->'owner' AS owner,
                  round(extract(epoch FROM now() - heartbeat_on))::int AS silent_seconds
             FROM pgboss.job
            WHERE name = ANY($1::text[]) AND state = 'active' AND heartbeat_seconds IS NOT NULL
              AND heartbeat_on + heartbeat_seconds * interval '1s' < now()
            FOR UPDATE SKIP LOCKED
         )
         UPDATE pgboss.job j
            SET state = (CASE WHEN retry_count < retry_limit THEN 'retry' ELSE 'failed' END)::pgboss.job_state,
                start_after = now(),
                completed_on = CASE WHEN retry_count < retry_limit THEN NULL ELSE now() END,
                heartbeat_on = NULL,
                output = jsonb_build_object(
                  'message', format('its worker (%s) is gone: no heartbeat for %s s',
                    coalesce((s.owner->>'host') || ':' || (s.owner->>'pid'), 'unknown'),
                    s.silent_seconds),
                  'owner', s.owner)
           FROM stalled s
          WHERE j.id = s.id AND j.state = 'active'
          RETURNING j.id, j.name, j.state::text AS state, j.data, j.retry_count,
                    s.silent_seconds, s.owner`,
        [queues],
      );
      for (const row of rows) {
        this.#metrics?.jobStalled?.(row.name);
        this.#log.warn(
          {
            jobId: row.id,
            queue: row.name,
            deliveryId: deliveryIdOf(row.data),
            owner: row.owner,
            silentSeconds: row.silent_seconds,
            retryCount: row.retry_count,
            state: row.state,
          },
          row.state === 'failed'
            ? "a job's worker is gone (no heartbeat): it had no retry left and is failed"
            : "a job's worker is gone (no heartbeat): put back in line to run again now",
        );
      }
      await this.#db.query(
        `UPDATE pgboss.job SET start_after = now()
          WHERE name = ANY($1::text[]) AND state = 'retry' AND start_after > now()
            AND output->'value'->>'message' = 'job heartbeat timeout'`,
        [queues],
      );
    } catch (error) {
      if (!this.#stopped) {
        this.#log.warn({ err: error }, 'could not look for jobs whose worker is gone');
      }
    }
  }

  /** Records this process as the running job's owner (in its output, which the run replaces). */
  async #recordOwner(id: string, queue: QueueName): Promise<void> {
    try {
      await this.#db.query(
        `UPDATE pgboss.job
            SET output = (CASE WHEN jsonb_typeof(output) = 'object' THEN output ELSE '{}'::jsonb END)
                         || jsonb_build_object('owner', $3::jsonb)
          WHERE name = $1 AND id = $2::uuid AND state = 'active'`,
        [queue, id, JSON.stringify(SELF)],
      );
    } catch (error) {
      this.#log.warn({ err: error, jobId: id, queue }, "could not record a job's owner");
    }
  }

  /** Records a verified delivery as a job; `duplicate` when this delivery was seen before. */
  async enqueueDelivery(
    delivery: Delivery,
  ): Promise<{ status: 'queued' | 'duplicate'; jobId: string }> {
    const jobId = jobIdFor(`${delivery.provider}:${delivery.deliveryId}`);
    const inserted = await this.#boss.send(QUEUES.events, delivery, { id: jobId });
    return { status: inserted ? 'queued' : 'duplicate', jobId };
  }

  /**
   * Enqueues one deploy: a push's is one job per environment and commit however often asked
   * (`deploy:<env>:<sha>`); a request's (`/deploy`, `dag deploy`: `requestKey`) one per request.
   */
  async enqueueDeploy<
    T extends { environmentId: number; sha: string; requestKey?: string | undefined },
  >(request: T): Promise<{ status: 'queued' | 'duplicate'; jobId: string }> {
    const key = `deploy:${request.environmentId}:${request.sha}`;
    const jobId = jobIdFor(request.requestKey ? `${key}:${request.requestKey}` : key);
    const inserted = await this.#boss.send(QUEUES.deploy, request, { id: jobId });
    return { status: inserted ? 'queued' : 'duplicate', jobId };
  }

  /**
   * Asks for deploy `deployId` to be reported. While a report of it waits, another ask joins it
   * (the waiting one reads the latest state when it runs): `coalesced`.
   */
  async enqueueReport(deployId: number, data: object): Promise<{ status: 'queued' | 'coalesced' }> {
    const id = await this.#boss.send(QUEUES.report, data, { singletonKey: `deploy:${deployId}` });
    return { status: id ? 'queued' : 'coalesced' };
  }

  /**
   * Asks for environment `environmentId`'s rollout report: at most one starts per
   * `intervalSeconds` (a second ask within it is put in the next interval; further asks join
   * that one, which reads the latest state when it runs): `coalesced`.
   */
  async enqueueRollout(
    environmentId: number,
    intervalSeconds: number,
  ): Promise<{ status: 'queued' | 'coalesced' }> {
    return this.#debounced(
      QUEUES.rollout,
      `environment:${environmentId}`,
      { environmentId },
      intervalSeconds,
    );
  }

  /**
   * Asks for environment `environmentId`'s rollout report at `deadline` (a deploy's rollout
   * deadline: the report then ends a rollout still pending as failed). One per deploy.
   */
  async enqueueRolloutDeadline(
    environmentId: number,
    deployId: number,
    deadline: Date,
  ): Promise<void> {
    await this.#boss.send(
      QUEUES.rolloutDeadline,
      { environmentId },
      { id: jobIdFor(`rollout-deadline:${deployId}`), startAfter: deadline },
    );
  }

  /** Asks for an app commit's deployment card, debounced as enqueueRollout is. */
  async enqueueCard(
    card: { appId: number; sha: string; branch: string; repo: object },
    intervalSeconds: number,
  ): Promise<{ status: 'queued' | 'coalesced' }> {
    return this.#debounced(QUEUES.card, `card:${card.appId}:${card.sha}`, card, intervalSeconds);
  }

  async #debounced(
    queue: QueueName,
    key: string,
    data: object,
    intervalSeconds: number,
  ): Promise<{ status: 'queued' | 'coalesced' }> {
    const seconds = Math.max(1, Math.round(intervalSeconds));
    const id = await this.#boss.sendDebounced(queue, data, null, seconds, key);
    return { status: id ? 'queued' : 'coalesced' };
  }

  /**
   * Enqueues a job whose `key` makes it unique: the same key is one job however often asked.
   * Jobs of one `group` run one at a time (with a worker started with `perGroup: 1`).
   */
  async enqueueKeyed(
    queue: QueueName,
    key: string,
    data: object,
    group?: string,
  ): Promise<{ status: 'queued' | 'duplicate'; jobId: string }> {
    const jobId = jobIdFor(`${queue}:${key}`);
    const inserted = await this.#boss.send(queue, data, {
      id: jobId,
      ...(group === undefined ? {} : { group: { id: group } }),
    });
    return { status: inserted ? 'queued' : 'duplicate', jobId };
  }

  /** Runs handler for each job of the queue, `concurrency` at a time in this process. */
  async work<T>(
    queue: QueueName,
    options: { concurrency: number; pollingIntervalSeconds: number; perGroup?: number },
    jobHandler: JobHandler<T>,
  ): Promise<void> {
    const handler = this.#observed(queue, jobHandler);
    // One pg-boss worker per slot, so that each can be told to fetch again as soon as its job is
    // done: pg-boss otherwise waits out its poll interval after every job, and a burst of 50
    // deliveries drained at 4 jobs per 2 s. An empty fetch still waits (or NOTIFY wakes it).
    for (let slot = 0; slot < options.concurrency; slot++) {
      const worker: { id?: string } = {};
      worker.id = await this.#startWorker(queue, options, handler, () => {
        if (worker.id !== undefined && !this.#stopped) this.#boss.notifyWorker(worker.id);
      });
    }
  }

  #startWorker<T>(
    queue: QueueName,
    options: { pollingIntervalSeconds: number; perGroup?: number },
    handler: (data: T, job: Omit<JobInfo, 'log'>) => Promise<void>,
    onDone: () => void,
  ): Promise<string> {
    return this.#boss.work<T>(
      queue,
      {
        localConcurrency: 1,
        pollingIntervalSeconds: options.pollingIntervalSeconds,
        // NOTIFY wakes workers for new jobs; a deploy whose IAC target was busy is found by
        // polling, so the backstop poll stays as frequent as the plain one.
        notifyPollingIntervalSeconds: options.pollingIntervalSeconds,
        batchSize: 1,
        includeMetadata: true,
        // pg-boss stamps the running job's heartbeat this often (the queue's heartbeatSeconds).
        heartbeatRefreshSeconds: HEARTBEAT_REFRESH_SECONDS,
        ...(options.perGroup ? { groupConcurrency: options.perGroup } : {}),
      },
      async (jobs: Job<T>[]) => {
        for (const job of jobs) {
          if (this.#handingBack) {
            // Fetched as the workers' time ran out: not started, handed back at once.
            this.#handedBack.add(job.id);
            throw new JobHandedBack(job.id);
          }
          const meta = job as { retryCount?: number; retryLimit?: number };
          const retryCount = meta.retryCount ?? 0;
          await this.#recordOwner(job.id, queue);
          const run = handler(job.data, {
            id: job.id,
            retryCount,
            retryLimit: meta.retryLimit ?? 0,
          });
          const handedBack = new Promise<typeof HANDED_BACK>((resolve) =>
            this.#running.set(job.id, () => resolve(HANDED_BACK)),
          );
          try {
            if ((await Promise.race([run, handedBack])) === HANDED_BACK) {
              // Abandoned, not interrupted: whatever it does next dies with this process.
              run.catch((error: unknown) =>
                this.#log.debug({ err: error, jobId: job.id }, 'handed-back job ended'),
              );
              this.#handedBack.add(job.id);
              throw new JobHandedBack(job.id);
            }
          } catch (error) {
            if (error instanceof JobHandedBack) throw error;
            if (isPermanent(error) && (await this.#failForGood(job.id, queue))) {
              this.#log.warn(
                {
                  err: error,
                  jobId: job.id,
                  queue,
                  deliveryId: deliveryIdOf(job.data),
                  retryCount,
                  reason: errorMessage(error),
                },
                'job failed for a reason retrying cannot fix: not retried',
              );
              throw error;
            }
            this.#log.warn(
              {
                err: error,
                jobId: job.id,
                queue,
                deliveryId: deliveryIdOf(job.data),
                retryCount,
                transient: isTransient(error),
              },
              'job failed; it will be retried with backoff until its retry limit',
            );
            throw error;
          } finally {
            this.#running.delete(job.id);
            onDone();
          }
        }
      },
    );
  }

  /**
   * Leaves the active job no retry: pg-boss, failing it next, retries only while retry_count is
   * below retry_limit, so the failure is final at once (`dag jobs retry` still gives it one more
   * run). False when the update failed: the job then takes the usual retries.
   */
  async #failForGood(id: string, queue: QueueName): Promise<boolean> {
    try {
      await this.#db.query(
        `UPDATE pgboss.job SET retry_limit = retry_count
          WHERE name = $1 AND id = $2::uuid AND state = 'active'`,
        [queue, id],
      );
      return true;
    } catch (error) {
      this.#log.error({ err: error, jobId: id, queue }, 'could not mark a job failed for good');
      return false;
    }
  }

  /**
   * The handler, given the job's own logger, with how each run ended counted: `completed`, or
   * `retried` / `failed` as the failure will be taken: failed once the retries are spent, or at
   * once for a reason retrying cannot fix (see work()).
   */
  #observed<T>(
    queue: QueueName,
    handler: JobHandler<T>,
  ): (data: T, job: Omit<JobInfo, 'log'>) => Promise<void> {
    return async (data, job) => {
      const deliveryId = deliveryIdOf(data);
      const log = this.#jobsLog.child({
        jobId: job.id,
        queue,
        ...(deliveryId ? { deliveryId } : {}),
      });
      try {
        await handler(data, { ...job, log });
      } catch (error) {
        const final = job.retryCount >= job.retryLimit || isPermanent(error);
        this.#metrics?.jobRun(queue, final ? 'failed' : 'retried');
        throw error;
      }
      this.#metrics?.jobRun(queue, 'completed');
    };
  }

  /**
   * Jobs by queue and state, and each queue's oldest waiting job (`created` or `retry`), read
   * from pg-boss's job table (this module's) for the metrics' job gauges.
   */
  async stats(): Promise<{
    counts: { queue: string; state: JobState; count: number }[];
    oldestWaiting: { queue: string; createdOn: Date }[];
  }> {
    const { rows } = await this.#db.query<{
      name: string;
      state: JobState;
      count: number | string;
      oldest: Date | string | null;
    }>(
      `SELECT name, state::text AS state, count(*) AS count,
              min(created_on) FILTER (WHERE state IN ('created', 'retry')) AS oldest
         FROM pgboss.job
        GROUP BY name, state`,
    );
    return {
      counts: rows.map((row) => ({ queue: row.name, state: row.state, count: Number(row.count) })),
      oldestWaiting: Object.values(
        rows.reduce<Record<string, { queue: string; createdOn: Date }>>((oldest, row) => {
          if (row.oldest === null) return oldest;
          const createdOn = new Date(row.oldest);
          const known = oldest[row.name];
          if (!known || createdOn < known.createdOn)
            oldest[row.name] = { queue: row.name, createdOn };
          return oldest;
        }, {}),
      ),
    };
  }

  /**
   * Puts a failed or cancelled job back in line, or an active one whose worker is gone (see
   * ownerGone) at once, its attempt counted. An active job whose worker is alive is left alone.
   * Undefined when there is no such job.
   */
  async retry(id: string): Promise<JobAction | undefined> {
    return this.#act(id, 'retry', ['failed', 'cancelled'], (queue) => this.#boss.retry(queue, id));
  }

  /**
   * Cancels a job waiting to run, or an active one whose worker is gone (see ownerGone); a
   * cancelled job no longer holds its group. An active job whose worker is alive is left alone.
   */
  async cancel(id: string): Promise<JobAction | undefined> {
    return this.#act(id, 'cancel', ['created', 'retry'], (queue) => this.#boss.cancel(queue, id));
  }

  /**
   * dag jobs retry/cancel on job `id`: `direct` (pg-boss's own) for a job in one of the states
   * `from`; for an active job, taken from its worker if that is gone (#takeBack), else refused.
   * Undefined when there is no such job.
   */
  async #act(
    id: string,
    action: 'retry' | 'cancel',
    from: readonly JobState[],
    direct: (queue: string) => Promise<unknown>,
  ): Promise<JobAction | undefined> {
    const job = await this.find(id);
    if (!job) return undefined;
    if (from.includes(job.state)) {
      await direct(job.queue);
      return { state: job.state, done: true };
    }
    if (job.state !== 'active') return { state: job.state, done: false };
    if (!ownerGone(job))
      return { state: job.state, done: false, owner: job.owner, ownerAlive: true };
    const done = await this.#takeBack(job, action);
    return { state: job.state, done, owner: job.owner, ownerAlive: false };
  }

  /**
   * Takes an active job from its gone worker: back in line now (`retry`: at least one run left)
   * or cancelled. Only the attempt that was read (same started_on): a job meanwhile put back and
   * fetched again by a live worker is not touched.
   */
  async #takeBack(job: JobSummary, action: 'retry' | 'cancel'): Promise<boolean> {
    const message =
      action === 'retry'
        ? `its worker (${describeOwner(job.owner)}) was gone: put back in line by dag jobs retry`
        : `its worker (${describeOwner(job.owner)}) was gone: cancelled by dag jobs cancel`;
    const { rows } = await this.#db.query(
      `UPDATE pgboss.job
          SET state = $3::text::pgboss.job_state,
              start_after = CASE WHEN $3 = 'retry' THEN now() ELSE start_after END,
              retry_limit = CASE WHEN $3 = 'retry' THEN greatest(retry_limit, retry_count + 1)
                                 ELSE retry_limit END,
              completed_on = CASE WHEN $3 = 'retry' THEN NULL ELSE now() END,
              heartbeat_on = NULL,
              output = jsonb_build_object('message', $4::text, 'owner', output->'owner')
        WHERE id = $1::uuid AND state = 'active'
          AND date_trunc('milliseconds', started_on) = $2
        RETURNING id`,
      [job.id, job.startedOn, action === 'retry' ? 'retry' : 'cancelled', message],
    );
    return rows.length === 1;
  }

  /** Recent jobs, newest first, optionally in one state. */
  async list(options: { state?: JobState; limit?: number } = {}): Promise<JobSummary[]> {
    return listJobs(this.#db, options);
  }

  /** One job, by id. */
  async find(id: string): Promise<JobSummary | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    return (await listJobs(this.#db, { id, limit: 1 }))[0];
  }

  /**
   * Stops this process's workers: no new job is fetched, running jobs may finish. A job still
   * running after `handBackAfterMs` is handed back: pg-boss records the attempt as failed
   * (which would delay it by the retry backoff, and count it), so it is then put straight back
   * in line, its attempt not counted, for another DAG process or this one's successor. Its
   * handler is abandoned, not cancelled: the process is about to exit. Jobs are idempotent
   * (a redelivery or a second run does no work twice), so a second run is safe.
   */
  async stopWorkers(handBackAfterMs: number): Promise<{ handedBack: string[] }> {
    const timer = setTimeout(
      () => {
        this.#handingBack = true;
        for (const handBack of this.#running.values()) handBack();
      },
      Math.max(0, handBackAfterMs),
    );
    try {
      await Promise.all(
        Object.values(QUEUES).map((name) => this.#boss.offWork(name, { wait: true })),
      );
    } finally {
      clearTimeout(timer);
      this.#handingBack = false;
    }
    const ids = [...this.#handedBack];
    this.#handedBack.clear();
    if (ids.length === 0) return { handedBack: [] };
    // pg-boss failed these jobs (state retry, or failed on a last attempt) with a start time in
    // the future; no other process can have fetched them since. Put them back in line now, and
    // clear started_on so that the next fetch does not count a retry.
    const { rows } = await this.#db.query<{ id: string }>(
      `UPDATE pgboss.job
          SET state = (CASE WHEN retry_count > 0 THEN 'retry' ELSE 'created' END)::pgboss.job_state,
              start_after = now(), started_on = NULL, completed_on = NULL, heartbeat_on = NULL
        WHERE id = ANY($1::uuid[]) AND state IN ('retry', 'failed')
        RETURNING id`,
      [ids],
    );
    this.#log.warn(
      { jobIds: rows.map((r) => r.id) },
      'jobs still running at shutdown were handed back to the queue',
    );
    return { handedBack: rows.map((r) => r.id) };
  }

  /** Stops the workers (see stopWorkers) and closes the queue. */
  async stop(handBackAfterMs = 20_000): Promise<void> {
    clearInterval(this.#stallTimer);
    this.#stopped = true;
    await this.#reaping;
    await this.stopWorkers(handBackAfterMs);
    await this.#boss.stop({ graceful: true, timeout: 1_000, close: true });
  }
}
