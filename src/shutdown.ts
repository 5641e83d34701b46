import type { Server } from 'node:http';
import { constants } from 'node:os';
import type { JobQueue } from './jobs/queue.ts';
import type { Logger } from './log.ts';
import type { Intake } from './server/intake.ts';
import type { Db } from './store/db.ts';

/** What a running DAG is made of, as far as stopping it goes; parts not started yet are absent. */
export type StoppableParts = {
  intake: Intake;
  db: Db;
  log: Logger;
  queue?: JobQueue;
  server?: Server;
  /** The diff preview's worker threads (src/diff/preview-pool.ts). */
  previewPool?: { close(): Promise<void> };
  /** Cluster monitoring: its watches, and its leases given up for another process to take. */
  monitor?: { stop(): Promise<void> };
};

/**
 * Stops DAG in an order that loses no work, within `timeoutMs` all told:
 * 1. readiness off (`/readyz` 503): the load balancer stops routing here; webhooks that still
 *    arrive are served as usual (verify, one INSERT);
 * 2. workers stop fetching; running jobs finish, and those still running when the jobs' share
 *    of the time is up are handed back to the queue (run again elsewhere or after a restart);
 * 3. new requests get 503 with Retry-After; requests in flight finish;
 * 4. the HTTP server, the queue, the diff preview's worker threads and the database close.
 * Steps 3 and 4 keep a reserve (a fifth of the time, at most 3 s) for themselves.
 */
export async function stopGracefully(parts: StoppableParts, timeoutMs: number): Promise<void> {
  const { intake, log } = parts;
  const started = Date.now();
  const deadline = started + timeoutMs;
  const reserve = Math.min(3_000, timeoutMs / 5);
  const step = async (name: string, run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      log.error({ err, step: name }, 'stop step failed');
    }
  };

  intake.drain();
  log.info({ timeoutMs }, 'stopping: readiness off, running jobs finishing');
  await step('workers', async () => {
    const result = await parts.queue?.stopWorkers(deadline - reserve - Date.now());
    log.info({ handedBack: result?.handedBack.length ?? 0 }, 'workers stopped');
  });

  intake.refuse();
  await step('http', async () => {
    if (!parts.server) return;
    if (!(await intake.idle(deadline - reserve / 2))) {
      log.warn({ inFlight: intake.inFlight }, 'requests still in flight at the deadline: cut off');
    }
    await closeServer(parts.server);
  });
  await step('monitor', async () => parts.monitor?.stop());
  await step('queue', async () => parts.queue?.stop(0));
  await step('preview pool', async () => parts.previewPool?.close());
  await step('database', () => parts.db.close());
  log.info({ ms: Date.now() - started }, 'DAG stopped');
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The process side (src/main.ts): the first SIGTERM or SIGINT stops DAG gracefully and exits
 * 0; a second one exits at once (128 + signal number); a stop still running at `timeoutMs`
 * exits 1. A job cut off by a forced exit is put back in line by the next DAG process that
 * notices its heartbeat stopped (src/jobs/queue.ts), within seconds.
 */
export function exitOnSignals(
  stop: () => Promise<void>,
  options: {
    timeoutMs: number;
    proc?: {
      on(signal: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
      exit(code: number): void;
    };
    say?: (line: string) => void;
  },
): void {
  const { timeoutMs, proc = process, say = (line: string) => console.error(line) } = options;
  let stopping = false;
  const onSignal = (signal: 'SIGTERM' | 'SIGINT') => {
    if (stopping) {
      say(`${signal} again: exiting now`);
      proc.exit(128 + constants.signals[signal]);
      return;
    }
    stopping = true;
    say(`${signal}: stopping DAG (at most ${timeoutMs / 1000} s; ${signal} again to exit now)`);
    const deadline = setTimeout(() => {
      say(`DAG did not stop within ${timeoutMs / 1000} s: exiting`);
      proc.exit(1);
    }, timeoutMs);
    deadline.unref();
    stop().then(
      () => proc.exit(0),
      (error: unknown) => {
        say(`stopping DAG failed: ${String(error)}`);
        proc.exit(1);
      },
    );
  };
  proc.on('SIGTERM', () => onSignal('SIGTERM'));
  proc.on('SIGINT', () => onSignal('SIGINT'));
}
