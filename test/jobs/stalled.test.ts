// A job whose worker is gone (its DAG process killed, its host lost) leaves it `active` with a
// heartbeat that stops. What that looks like in the job table is written here with SQL (the
// real SIGKILL is test/server/crash.test.ts): a supervising DAG process puts it back in line at
// once, and `retry` / `cancel` take it from a dead owner but never from a live one.

import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobQueue, QUEUES, type Delivery } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/log.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { waitFor } from '../helpers/wait.ts';

const delivery = (n: string): Delivery => ({
  provider: 'github',
  deliveryId: `d-${n}`,
  event: 'push',
  payload: { n },
});
const fast = { concurrency: 1, pollingIntervalSeconds: 0.5 };

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

describe.each(LANES)('jobs whose worker is gone (%s)', (lane) => {
  let lane_: LaneDb;
  const queues: JobQueue[] = [];

  beforeEach(async () => {
    lane_ = await openLane(lane);
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.stop(2_000);
    await lane_.drop();
  });

  /** Makes a queued job look like one a worker took and then stopped beating for. */
  async function abandon(
    jobId: string,
    owner: { host: string; pid: number },
    silentSeconds: number,
  ): Promise<void> {
    const { rowCount } = await lane_.db.query(
      `UPDATE pgboss.job
          SET state = 'active', started_on = now() - interval '1 minute',
              heartbeat_on = now() - $2 * interval '1s',
              output = jsonb_build_object('owner', $3::jsonb)
        WHERE id = $1::uuid AND state = 'created'`,
      [jobId, silentSeconds, JSON.stringify(owner)],
    );
    expect(rowCount).toBe(1);
  }

  it('puts a job with a stale heartbeat back in line at once, logs and counts it, and runs it again', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          done();
        },
      }),
    });
    const stalled: string[] = [];
    // The CLI's kind of queue (no supervision, no workers) queues the job and abandons it.
    const cli = await JobQueue.create(lane_.db, quiet, { supervise: false });
    queues.push(cli);
    const { jobId } = await cli.enqueueDelivery(delivery('orphan'));
    await abandon(jobId, { host: 'gone-host', pid: 4242 }, 60);
    const [listed] = await cli.list();
    expect(listed).toMatchObject({
      id: jobId,
      state: 'active',
      stalled: true,
      owner: { host: 'gone-host', pid: 4242 },
    });
    expect(listed?.heartbeatAgeSeconds).toBeGreaterThanOrEqual(59);
    expect(listed?.ageSeconds).toBeGreaterThanOrEqual(59);

    // A DAG process that supervises and works the queue.
    const server = await JobQueue.create(lane_.db, log, {
      retry: { limit: 3, delaySeconds: 60 }, // a plain failure would wait a minute
      metrics: { jobRun: () => undefined, jobStalled: (queue) => stalled.push(queue) },
      stallCheckMs: 100,
    });
    queues.push(server);
    const runs: { retryCount: number }[] = [];
    await server.work<Delivery>(QUEUES.events, fast, async (_data, job) => {
      runs.push(job);
    });
    await waitFor(async () => (await cli.list({ state: 'completed' })).length === 1, {
      what: 'the abandoned job to run again',
    });
    expect(runs).toEqual([expect.objectContaining({ retryCount: 1 })]); // the lost attempt counts
    expect(stalled).toEqual([QUEUES.events]);
    const warning = lines.find((l) => l.jobId === jobId);
    expect(warning).toMatchObject({
      level: 40,
      queue: QUEUES.events,
      deliveryId: 'd-orphan',
      owner: { host: 'gone-host', pid: 4242 },
      msg: expect.stringContaining("a job's worker is gone"),
    });
  });

  it('a running job names its worker and its heartbeat keeps being stamped', async () => {
    const server = await JobQueue.create(lane_.db, quiet, { stallCheckMs: 100 });
    queues.push(server);
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    await server.work<Delivery>(QUEUES.events, fast, () => held);
    const { jobId } = await server.enqueueDelivery(delivery('long'));
    try {
      await waitFor(async () => (await server.find(jobId))?.owner !== null, {
        what: 'the running job to name its owner',
      });
      expect(await server.find(jobId)).toMatchObject({
        state: 'active',
        owner: { host: hostname(), pid: process.pid },
        stalled: false,
      });
      // Beats every 2 s: a heartbeat newer than the start, well into the run.
      await waitFor(
        async () => {
          const job = await server.find(jobId);
          return (job?.ageSeconds ?? 0) > 4.5 && (job?.heartbeatAgeSeconds ?? 99) < 2.5;
        },
        { what: 'a heartbeat stamped after the start', intervalMs: 200 },
      );
      expect(await server.cancel(jobId)).toMatchObject({ done: false, ownerAlive: true });
    } finally {
      release();
    }
    await waitFor(async () => (await server.find(jobId))?.state === 'completed', {
      what: 'the job to complete',
    });
    expect((await server.find(jobId))?.owner).toBeNull();
  });

  it('retries and cancels an active job only when its owner is gone', async () => {
    const cli = await JobQueue.create(lane_.db, quiet, { supervise: false });
    queues.push(cli);
    const job = async (n: string, owner: { host: string; pid: number }, silent: number) => {
      const { jobId } = await cli.enqueueDelivery(delivery(n));
      await abandon(jobId, owner, silent);
      return jobId;
    };
    const self = { host: hostname(), pid: process.pid };
    const dead = { host: hostname(), pid: await deadPid() };
    const elsewhere = { host: 'another-host', pid: 1 };

    // Alive: this process, or another host whose heartbeat is fresh.
    for (const [n, owner] of [
      ['alive-here', self],
      ['alive-there', elsewhere],
    ] as const) {
      const id = await job(n, owner, 0);
      const refused = { state: 'active', done: false, owner, ownerAlive: true };
      expect(await cli.retry(id)).toEqual(refused);
      expect(await cli.cancel(id)).toEqual(refused);
      expect((await cli.find(id))?.state).toBe('active');
    }

    // Gone: a dead process on this host (heartbeat still fresh), or a stale heartbeat anywhere.
    const deadHere = await job('dead-here', dead, 0);
    expect(await cli.retry(deadHere)).toEqual({
      state: 'active',
      done: true,
      owner: dead,
      ownerAlive: false,
    });
    expect(await cli.find(deadHere)).toMatchObject({
      state: 'retry',
      owner: null,
      error: expect.stringContaining(`its worker (${dead.host}:${dead.pid}) was gone`),
    });
    const silentThere = await job('silent-there', elsewhere, 60);
    expect(await cli.cancel(silentThere)).toMatchObject({ state: 'active', done: true });
    expect((await cli.find(silentThere))?.state).toBe('cancelled');

    // Waiting and finished jobs: cancel takes a waiting one; retry refuses it.
    const { jobId: waiting } = await cli.enqueueDelivery(delivery('waiting'));
    expect(await cli.retry(waiting)).toEqual({ state: 'created', done: false });
    expect(await cli.cancel(waiting)).toEqual({ state: 'created', done: true });
    expect(await cli.cancel(waiting)).toEqual({ state: 'cancelled', done: false });
    expect(await cli.retry(waiting)).toEqual({ state: 'cancelled', done: true });
  });
});
