import { Option, type Command } from 'commander';
import { UserError } from '../../errors.ts';
import {
  JobQueue,
  describeOwner,
  type JobAction,
  type JobState,
  type JobSummary,
} from '../../jobs/queue.ts';
import { createLogger } from '../../log.ts';
import { withContext, type Context } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { jobId, jobState, positiveInteger } from '../validate.ts';

type ListOptions = { failed?: boolean; state?: string; limit: string; json?: boolean };

function jobJson(job: JobSummary) {
  return {
    id: job.id,
    queue: job.queue,
    state: job.state,
    summary: job.summary,
    retryCount: job.retryCount,
    createdOn: job.createdOn.toISOString(),
    completedOn: job.completedOn ? job.completedOn.toISOString() : null,
    error: job.error,
    owner: job.owner,
    startedOn: job.startedOn ? job.startedOn.toISOString() : null,
    ageSeconds: job.ageSeconds === null ? null : Math.round(job.ageSeconds),
    heartbeatOn: job.heartbeatOn ? job.heartbeatOn.toISOString() : null,
    heartbeatAgeSeconds:
      job.heartbeatAgeSeconds === null ? null : Math.round(job.heartbeatAgeSeconds),
    stalled: job.stalled,
  };
}

/** `42s`, `3m05s`, `2h07m`. */
export function duration(seconds: number | null): string | null {
  if (seconds === null) return null;
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** A job's state, with `(stalled)` for an active one whose worker stopped beating. */
function stateOf(job: JobSummary): string {
  return job.stalled ? `${job.state} (stalled)` : job.state;
}

/** Why `retry` or `cancel` left an active job alone, or what it did. */
function refusal(id: string, action: JobAction, verb: string): UserError {
  return new UserError(
    `job ${id} is running in a live DAG process (${describeOwner(action.owner ?? null)}, heartbeat fresh); it cannot be ${verb} while it runs (stop that process, or wait: a job whose worker dies is put back in line within seconds)`,
  );
}

function oneLine(text: string | null, max = 80): string | null {
  if (text === null) return null;
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 3)}...` : line;
}

/** Runs fn with the job queue open on the context's database (no maintenance, no workers). */
async function withQueue<T>(cli: Cli, fn: (queue: JobQueue) => Promise<T>): Promise<T> {
  return withContext(cli, async ({ db }: Context) => {
    const log = createLogger({
      level: 'error',
      masker: cli.masker,
      destination: { write: (line: string) => void cli.stderr.write(line) },
    });
    const queue = await JobQueue.create(db, log, { supervise: false, manageQueues: false });
    try {
      return await fn(queue);
    } finally {
      await queue.stop(5_000);
    }
  });
}

export function registerJobCommands(program: Command, cli: Cli): void {
  const jobs = program.command('jobs').description('the durable job queue');

  jobs
    .command('list')
    .description('recent jobs, newest first')
    .addOption(new Option('--failed', 'only failed jobs').conflicts('state'))
    .option(
      '--state <state>',
      'only jobs in this state: created, retry, active, completed, cancelled, failed',
    )
    .option('--limit <n>', 'at most this many jobs', '50')
    .option('--json', 'print a JSON array')
    .action(async (options: ListOptions) => {
      const state: JobState | undefined = options.failed
        ? 'failed'
        : options.state === undefined
          ? undefined
          : jobState(options.state);
      const limit = positiveInteger('--limit', options.limit, 1000);
      const all = await withQueue(cli, (queue) => queue.list({ state, limit }));
      printList(cli, options, all, {
        headers: [
          'id',
          'state',
          'queue',
          'retries',
          'created',
          'owner',
          'age',
          'heartbeat',
          'summary',
          'error',
        ],
        row: (j) => [
          j.id,
          stateOf(j),
          j.queue,
          j.retryCount,
          j.createdOn,
          j.owner ? describeOwner(j.owner) : null,
          duration(j.ageSeconds),
          j.heartbeatAgeSeconds === null ? null : `${duration(j.heartbeatAgeSeconds)} ago`,
          j.summary,
          oneLine(j.error),
        ],
        json: jobJson,
        empty: state ? `no ${state} jobs` : 'no jobs',
      });
    });

  jobs
    .command('retry')
    .description('run a failed or cancelled job again, or a running one whose worker is gone')
    .argument('<id>', 'job id (see: dag jobs list --failed)')
    .action(async (ref: string) => {
      const id = jobId(ref);
      const action = await withQueue(cli, (queue) => queue.retry(id));
      if (!action) throw new UserError(`unknown job: ${id} (see: dag jobs list)`);
      if (action.ownerAlive) throw refusal(id, action, 'retried');
      if (!action.done) {
        throw new UserError(
          action.state === 'active'
            ? `job ${id} changed while DAG looked at it (see: dag jobs list)`
            : `job ${id} is ${action.state}; only failed or cancelled jobs, or running ones whose worker is gone, can be retried`,
        );
      }
      cli.print(
        action.state === 'active'
          ? `job ${id} will run again (its worker ${describeOwner(action.owner ?? null)} is gone)`
          : `job ${id} will run again`,
      );
    });

  jobs
    .command('cancel')
    .description('cancel a job waiting to run, or a running one whose worker is gone')
    .argument('<id>', 'job id (see: dag jobs list)')
    .action(async (ref: string) => {
      const id = jobId(ref);
      const action = await withQueue(cli, (queue) => queue.cancel(id));
      if (!action) throw new UserError(`unknown job: ${id} (see: dag jobs list)`);
      if (action.ownerAlive) throw refusal(id, action, 'cancelled');
      if (!action.done) {
        throw new UserError(
          action.state === 'active'
            ? `job ${id} changed while DAG looked at it (see: dag jobs list)`
            : `job ${id} is ${action.state}; only waiting jobs, or running ones whose worker is gone, can be cancelled`,
        );
      }
      cli.print(
        action.state === 'active'
          ? `job ${id} cancelled (its worker ${describeOwner(action.owner ?? null)} is gone)`
          : `job ${id} cancelled`,
      );
    });
}
