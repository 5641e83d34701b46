import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../../src/errors.ts';
import { JobQueue, QUEUES, type Delivery } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/log.ts';
import type { JobOutcome } from '../../src/metrics/registry.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { waitFor } from '../helpers/wait.ts';

const fast = { concurrency: 1, pollingIntervalSeconds: 0.5 };
const delivery = (deliveryId: string): Delivery => ({
  provider: 'gitlab',
  deliveryId,
  event: 'Push Hook',
  payload: {},
});

/** What the job queue tells metrics and logs about the jobs it runs. */
describe.each(LANES)('job queue, observed (%s)', (lane) => {
  let db: LaneDb;
  let queue: JobQueue;
  let lines: Record<string, unknown>[];
  let outcomes: string[];

  beforeEach(async () => {
    db = await openLane(lane);
    lines = [];
    outcomes = [];
    const log = createLogger({
      level: 'info',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
          done();
        },
      }),
    });
    queue = await JobQueue.create(db.db, log, {
      retry: { limit: 3, delaySeconds: 1 },
      metrics: {
        jobRun: (name: string, outcome: JobOutcome) => outcomes.push(`${name} ${outcome}`),
      },
    });
  });
  afterEach(async () => {
    await queue.stop(2_000);
    await db.drop();
  });

  it("counts each run's outcome and gives the handler a logger with the job's ids", async () => {
    let transientRuns = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async (data, job) => {
      job.log.info({ step: data.deliveryId }, 'handling');
      if (data.deliveryId === 'user') throw new UserError('the values file is not YAML');
      if (data.deliveryId === 'transient' && ++transientRuns === 1) {
        throw new TransientError('GitLab answered 503');
      }
    });
    const ids: Record<string, string> = {};
    for (const id of ['ok', 'user', 'transient']) {
      ids[id] = (await queue.enqueueDelivery(delivery(id))).jobId;
    }
    await waitFor(() => outcomes.length === 4, { what: 'four job runs to end' });

    expect(outcomes.sort()).toEqual([
      'dag.events completed',
      'dag.events completed',
      'dag.events failed',
      'dag.events retried',
    ]);
    const handling = lines.filter((line) => line.msg === 'handling');
    expect(handling).toHaveLength(4);
    for (const line of handling) {
      expect(line).toMatchObject({ queue: 'dag.events', deliveryId: line.step });
      expect(line.jobId).toBe(ids[line.step as string]);
    }
    // The queue's own lines about a failed job name its delivery too.
    const failures = lines.filter((line) => line.jobId === ids.user && line.level === 40);
    expect(failures.length).toBeGreaterThan(0);
    for (const line of failures) expect(line.deliveryId).toBe('user');
  });

  it('reads jobs by queue and state, and when the oldest waiting job was created', async () => {
    const before = Date.now();
    for (const sha of ['a'.repeat(40), 'b'.repeat(40)]) {
      await queue.enqueueDeploy({ environmentId: 1, sha });
    }
    await queue.enqueueDelivery(delivery('waiting'));
    // Reports of one deploy coalesce while one waits (stately, one per deploy).
    expect(await queue.enqueueReport(7, { deployId: 7 })).toEqual({ status: 'queued' });
    expect(await queue.enqueueReport(7, { deployId: 7 })).toEqual({ status: 'coalesced' });
    expect(await queue.enqueueReport(8, { deployId: 8 })).toEqual({ status: 'queued' });
    const stats = await queue.stats();
    const count = (name: string, state: string) =>
      stats.counts.find((c) => c.queue === name && c.state === state)?.count;
    expect(count(QUEUES.deploy, 'created')).toBe(2);
    expect(count(QUEUES.events, 'created')).toBe(1);
    expect(count(QUEUES.report, 'created')).toBe(2);
    expect(count(QUEUES.deploy, 'completed')).toBeUndefined();
    const oldest = stats.oldestWaiting.find((o) => o.queue === QUEUES.deploy);
    expect(oldest?.createdOn).toBeInstanceOf(Date);
    expect(oldest?.createdOn.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(oldest?.createdOn.getTime()).toBeLessThanOrEqual(Date.now() + 5_000);
    expect(stats.oldestWaiting.map((o) => o.queue).sort()).toEqual([
      QUEUES.deploy,
      QUEUES.events,
      QUEUES.report,
    ]);
  });
});
