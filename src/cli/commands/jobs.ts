import { Option, type Command } from 'commander';
import { UserError } from '../../errors.ts';
import { JobQueue, type JobState, type JobSummary } from '../../jobs/queue.ts';
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
  };
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
        headers: ['id', 'state', 'queue', 'retries', 'created', 'summary', 'error'],
        row: (j) => [
          j.id,
          j.state,
          j.queue,
          j.retryCount,
          j.createdOn,
          j.summary,
          oneLine(j.error),
        ],
        json: jobJson,
        empty: state ? `no ${state} jobs` : 'no jobs',
      });
    });

  jobs
    .command('retry')
    .description('run a failed job again')
    .argument('<id>', 'job id (see: dag jobs list --failed)')
    .action(async (ref: string) => {
      const id = jobId(ref);
      const state = await withQueue(cli, (queue) => queue.retry(id));
      if (!state) throw new UserError(`unknown job: ${id} (see: dag jobs list)`);
      if (state !== 'failed' && state !== 'cancelled') {
        throw new UserError(`job ${id} is ${state}; only failed or cancelled jobs can be retried`);
      }
      cli.print(`job ${id} will run again`);
    });
}
