import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TransientError, UserError } from '../../src/errors.ts';
import { JobQueue, QUEUES, type Delivery } from '../../src/jobs/queue.ts';
import { createLogger } from '../../src/log.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { waitFor } from '../helpers/wait.ts';

const fast = { concurrency: 1, pollingIntervalSeconds: 0.5 };
let deliveries = 0;
const delivery = (): Delivery => ({
  provider: 'github',
  deliveryId: `permanent-${++deliveries}`,
  event: 'issue_comment',
  payload: {},
});

/**
 * A job that fails for a reason retrying cannot fix (the input was wrong, or DAG's
 * configuration is) fails at once, instead of taking its retries: a comment GitHub refuses
 * (422) used to be posted again and again until the retry limit.
 */
describe.each(LANES)('job queue, failures retrying cannot fix (%s)', (lane) => {
  let db: LaneDb;
  let queue: JobQueue;
  let lines: string[];

  beforeEach(async () => {
    db = await openLane(lane);
    lines = [];
    const log = createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    queue = await JobQueue.create(db.db, log, { retry: { limit: 3, delaySeconds: 1 } });
  });
  afterEach(async () => {
    await queue.stop(2_000);
    await db.drop();
  });

  it.each([
    [
      'a user error',
      () =>
        new UserError("GitHub API: writing DAG's command comment on #7 failed (HTTP 422)", {
          status: 422,
        }),
    ],
    ['a configuration error', () => new ConfigError('GITLAB_TOKEN is not set')],
  ])('fails a job that throws %s at once, says so once, and lists it', async (_what, error) => {
    let attempts = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      attempts++;
      throw error();
    });
    const { jobId } = await queue.enqueueDelivery(delivery());
    await waitFor(async () => (await queue.list({ state: 'failed' })).length === 1, {
      what: 'the job to fail',
    });
    // `failed` is final: no retry is scheduled, so the one attempt is all there will be.
    expect(attempts).toBe(1);
    const [failed] = await queue.list({ state: 'failed' });
    expect(failed).toMatchObject({ id: jobId, retryCount: 0, error: error().message });
    const said = lines.filter((line) => line.includes(jobId)).map((line) => JSON.parse(line));
    expect(said).toEqual([
      expect.objectContaining({
        level: 40,
        msg: 'job failed for a reason retrying cannot fix: not retried',
        reason: error().message,
      }),
    ]);
  });

  it('still runs such a job once more on `dag jobs retry`, for an operator who fixed the cause', async () => {
    let attempts = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      attempts++;
      if (attempts === 1) throw new ConfigError('GITLAB_TOKEN is not set');
    });
    const { jobId } = await queue.enqueueDelivery(delivery());
    await waitFor(async () => (await queue.list({ state: 'failed' })).length === 1, {
      what: 'the job to fail',
    });
    expect(await queue.retry(jobId)).toEqual({ state: 'failed', done: true });
    await waitFor(async () => (await queue.list({ state: 'completed' })).length === 1, {
      what: 'the retried job to complete',
    });
    expect(attempts).toBe(2);
  });

  it('retries a transient failure as before', async () => {
    let attempts = 0;
    await queue.work<Delivery>(QUEUES.events, fast, async () => {
      attempts++;
      if (attempts === 1) throw new TransientError('GitHub API: 502');
    });
    await queue.enqueueDelivery(delivery());
    await waitFor(async () => (await queue.list({ state: 'completed' })).length === 1, {
      what: 'the job to complete on its retry',
      timeoutMs: 20_000,
    });
    expect(attempts).toBe(2);
  });
});
