import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobQueue, QUEUES, jobIdFor, type Delivery } from '../../src/jobs/queue.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import type { Db } from '../../src/store/db.ts';
import { freshPostgresDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { waitFor } from '../helpers/wait.ts';
import { quiet } from '../helpers/quiet-log.ts';

const delivery = (n: number | string): Delivery => ({
  provider: 'github',
  deliveryId: `d-${n}`,
  event: 'push',
  payload: { n },
});
const fast = { concurrency: 3, pollingIntervalSeconds: 0.5 };

describe('jobIdFor', () => {
  it('is a stable RFC 4122 UUID per key', () => {
    expect(jobIdFor('github:1')).toBe(jobIdFor('github:1'));
    expect(jobIdFor('github:1')).not.toBe(jobIdFor('gitlab:1'));
    expect(jobIdFor('x')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe.each(LANES)('job queue (%s)', (lane) => {
  let lane_: LaneDb;
  let queue: JobQueue;

  beforeEach(async () => {
    lane_ = await openLane(lane);
    queue = await JobQueue.create(lane_.db, quiet, { retry: { limit: 1, delaySeconds: 1 } });
  });
  afterEach(async () => {
    await queue.stop(2_000);
    await lane_.drop();
  });

  it('enqueues a delivery once, however often it is redelivered', async () => {
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await queue.enqueueDelivery(delivery('same')));
    expect(results.map((r) => r.status)).toEqual([
      'queued',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    expect(await queue.list()).toHaveLength(1);
  });

  it('retries a failing job with backoff, then parks it as failed where operators see it', async () => {
    let attempts = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      attempts++;
      throw new Error('IAC repository unreachable');
    });
    const { jobId } = await queue.enqueueDelivery(delivery('fails'));
    await waitFor(async () => (await queue.list({ state: 'failed' })).length === 1, {
      what: 'the job to fail',
    });
    expect(attempts).toBe(2); // the first run and one retry
    const [failed] = await queue.list({ state: 'failed' });
    expect(failed).toMatchObject({ id: jobId, state: 'failed', retryCount: 1 });
    expect(failed?.error).toContain('IAC repository unreachable');
    expect(await queue.retry(jobId)).toEqual({ state: 'failed', done: true });
    await waitFor(() => attempts === 3, { what: 'the retried job to run' });
  });

  it('lets a job running when the workers stop finish', async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      started = true;
      await held;
    });
    const { jobId } = await queue.enqueueDelivery(delivery('finishes'));
    await waitFor(() => started, { what: 'the job to start' });
    const stopping = queue.stopWorkers(60_000);
    release();
    expect(await stopping).toEqual({ handedBack: [] });
    const [job] = await queue.list();
    expect(job).toMatchObject({ id: jobId, state: 'completed' });
  });

  it('hands a job still running when the workers time is up back to the queue at once, the attempt not counted', async () => {
    let started = false;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      started = true;
      await new Promise(() => {}); // never ends: stuck in git, say
    });
    const { jobId } = await queue.enqueueDelivery(delivery('stuck'));
    await waitFor(() => started, { what: 'the job to start' });
    expect(await queue.stopWorkers(50)).toEqual({ handedBack: [jobId] });
    const { rows } = await lane_.db.query<{ state: string; retry_count: number; due: boolean }>(
      'SELECT state::text AS state, retry_count, start_after <= now() AS due FROM pgboss.job WHERE id = $1',
      [jobId],
    );
    expect(rows).toEqual([{ state: 'created', retry_count: 0, due: true }]);

    // Whoever works the queue next (here this process again) runs it as a first attempt.
    let rerun: { retryCount: number } | undefined;
    await queue.work<Delivery>(QUEUES.events, fast, async (_data, job) => {
      rerun = job;
    });
    await waitFor(async () => (await queue.list({ state: 'completed' })).length === 1, {
      what: 'the handed-back job to run again',
    });
    expect(rerun?.retryCount).toBe(0);
  });

  it('completes a job that succeeds on retry', async () => {
    let attempts = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      attempts++;
      if (attempts === 1) throw new Error('transient');
    });
    await queue.enqueueDelivery(delivery('flaky'));
    await waitFor(async () => (await queue.list({ state: 'completed' })).length === 1, {
      what: 'the job to complete',
    });
    expect(attempts).toBe(2);
  });
});

describe('job queue on one Postgres shared by several DAG processes', () => {
  let fresh: FreshDatabase;
  const dbs: Db[] = [];
  const queues: JobQueue[] = [];

  beforeEach(async () => {
    fresh = await freshPostgresDatabase();
  });
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.stop(2_000);
    for (const db of dbs.splice(0)) await db.close();
    await fresh.drop();
  });

  it('never runs the same job twice, and runs every job', async () => {
    const { migrate } = await import('../../src/store/migrate.ts');
    for (let i = 0; i < 3; i++) {
      const db = await openPostgres(fresh.url);
      if (i === 0) await migrate(db);
      dbs.push(db);
      queues.push(await JobQueue.create(db, quiet));
    }
    const runs = new Map<string, number>();
    const active = new Set<string>();
    let overlaps = 0;
    for (const [i, q] of queues.entries()) {
      await q.work<Delivery>(QUEUES.events, fast, async (data) => {
        const key = data.deliveryId;
        if (active.has(key)) overlaps++;
        active.add(key);
        runs.set(key, (runs.get(key) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 5 + i));
        active.delete(key);
      });
    }
    const total = 60;
    await Promise.all(
      Array.from({ length: total }, (_, n) =>
        queues[n % queues.length]?.enqueueDelivery(delivery(n)),
      ),
    );
    await waitFor(() => runs.size === total, { timeoutMs: 30_000, what: 'every job to run' });
    await new Promise((r) => setTimeout(r, 1_000)); // a second run would show up now
    expect(overlaps).toBe(0);
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
  });
});
