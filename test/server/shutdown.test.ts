// Graceful shutdown of a real DAG process (`node src/main.ts`, GitLab mode, embedded database in a
// folder): SIGTERM while a webhook body is still arriving, while a deploy is stuck in git, and
// with a deploy that outlives the shutdown deadline. What the provider and the queue see is read
// back from the database after the process has exited.

import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/jobs/queue.ts';
import {
  masterPush,
  push,
  readiness,
  startRealDagStand,
  type RealDagStand,
} from '../helpers/real-dag.ts';
import { waitFor } from '../helpers/wait.ts';

/** A push to a branch no environment follows: an events job, and nothing after it. */
const featurePush = JSON.stringify({ ...push, ref: 'refs/heads/feature' });

let stand: RealDagStand;
let seeded: string;

beforeAll(async () => {
  stand = await startRealDagStand('dag-shutdown');
  // One configured database, copied for each test: an app, its production environment.
  seeded = path.join(stand.dir, 'seeded');
  await stand.seed(seeded);
}, 180_000);

afterEach(() => stand?.killAll());

afterAll(async () => {
  await stand?.stop();
});

describe('stopping a real DAG process (SIGTERM)', () => {
  it('answers a webhook whose body was still arriving, after /readyz turned 503; refuses new ones with 503 and Retry-After once the workers are done', async () => {
    const dataDir = freshDataDir('streamed');
    const dag = await stand.startDag(dataDir, { env: { DAG_SHUTDOWN_TIMEOUT_SECONDS: '20' } });
    const uuid = randomUUID();
    const streamed = await startStreamedWebhook(dag.port, featurePush, uuid);

    dag.kill('SIGTERM');
    // No job runs: the workers stop at once and DAG refuses new requests, waiting for this one.
    await waitFor(async () => (await readiness(dag.port)) === 'refusing', {
      what: '/readyz to report the refusing phase',
    });
    const late = await stand.deliver(dag.port, featurePush, randomUUID());
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('5');

    const answer = await streamed.finish();
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.body)).toEqual({ status: 'queued' });
    expect(await dag.exited).toBe(0);

    // The delivery is in the queue for the next DAG process; the refused one is not.
    const jobs = await jobStates(dataDir);
    expect(jobs.get(jobIdFor(`gitlab:${uuid}`))).toMatchObject({ state: 'created' });
    expect(jobs.size).toBe(1);
    expect(dag.output()).toContain('DAG stopped');
  }, 180_000);

  it('serves webhooks while a running deploy finishes, then exits 0 with the deploy done', async () => {
    const dataDir = freshDataDir('finishes');
    const dag = await stand.startDag(dataDir, { env: { DAG_SHUTDOWN_TIMEOUT_SECONDS: '20' } });
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = stand.git.hold();
    try {
      expect((await stand.deliver(dag.port, deploy.body, randomUUID())).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the deploy to reach git');
      const streamedUuid = randomUUID();
      const streamed = await startStreamedWebhook(dag.port, featurePush, streamedUuid);

      dag.kill('SIGTERM');
      await waitFor(async () => (await readiness(dag.port)) === 'draining', {
        what: '/readyz to turn 503 while the deploy runs',
      });
      const lateUuid = randomUUID();
      const late = await stand.deliver(dag.port, featurePush, lateUuid);
      expect(late.status).toBe(202);
      expect(await late.json()).toEqual({ status: 'queued' });
      expect((await streamed.finish()).status).toBe(202);

      held.release();
      expect(await dag.exited).toBe(0);
      expect((await stand.git.log('iac', 'main'))[0]).toBe(deploy.commit);
      const jobs = await jobStates(dataDir);
      expect(jobs.get(deploy.job)).toMatchObject({ state: 'completed' });
      // Both webhooks are in the queue; the workers had stopped fetching, so they wait there.
      expect(jobs.get(jobIdFor(`gitlab:${streamedUuid}`))).toMatchObject({ state: 'created' });
      expect(jobs.get(jobIdFor(`gitlab:${lateUuid}`))).toMatchObject({ state: 'created' });
    } finally {
      held.release();
    }
    // The deploy's final status is its report job's, queued as the deploy ended: the next DAG
    // process on the same data posts it.
    const next = await stand.startDag(dataDir);
    await next.until(
      () => stand.gitlab.statuses(deploy.sha).includes('success'),
      'the next DAG process to post the final status',
    );
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 180_000);

  it('hands a deploy that outlives the deadline back to the queue; the next DAG process completes it', async () => {
    const dataDir = freshDataDir('handed-back');
    const timeoutSeconds = 6;
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = stand.git.hold();
    let stoppedInMs: number;
    try {
      const dag = await stand.startDag(dataDir, {
        env: { DAG_SHUTDOWN_TIMEOUT_SECONDS: String(timeoutSeconds) },
      });
      expect((await stand.deliver(dag.port, deploy.body, randomUUID())).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the deploy to reach git');
      const signalled = Date.now();
      dag.kill('SIGTERM');
      expect(await dag.exited).toBe(0); // 1 would mean the deadline cut the stop short
      stoppedInMs = Date.now() - signalled;
      expect(dag.output()).toContain('handed back to the queue');
    } finally {
      held.release();
    }
    // Back in line at once (not `active` until its 15-minute expiry), the attempt not counted.
    expect((await jobStates(dataDir)).get(deploy.job)).toMatchObject({
      state: 'created',
      retryCount: 0,
      due: true,
    });

    // Like a new pod: same database, a fresh cache folder.
    const next = await stand.startDag(dataDir, { cache: 'cache-2' });
    await next.until(
      async () => (await stand.git.log('iac', 'main')).includes(deploy.commit),
      'the handed-back deploy to be committed by the next DAG process',
    );
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    expect((await jobStates(dataDir)).get(deploy.job)).toMatchObject({
      state: 'completed',
      retryCount: 0,
    });
    console.log(`handed-back stop took ${stoppedInMs} ms (deadline ${timeoutSeconds} s)`);
  }, 240_000);
});

function freshDataDir(name: string): string {
  const dataDir = path.join(stand.dir, name);
  cpSync(seeded, dataDir, { recursive: true });
  return dataDir;
}

/**
 * A webhook request that DAG has begun to handle (it answered `100 Continue`, which Node does
 * just before it calls DAG's request handler) with half its body sent; `finish` sends the rest.
 */
async function startStreamedWebhook(
  port: number,
  body: string,
  uuid: string,
): Promise<{ finish(): Promise<{ status: number; body: string }> }> {
  const bytes = Buffer.from(body);
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/gitlab/webhooks',
    headers: {
      'content-type': 'application/json',
      'content-length': bytes.length,
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': stand.secret,
      'idempotency-key': uuid,
      expect: '100-continue',
    },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    req.flushHeaders();
  });
  const half = Math.floor(bytes.length / 2);
  await new Promise<void>((resolve) => req.write(bytes.subarray(0, half), () => resolve()));
  return {
    finish() {
      req.end(bytes.subarray(half));
      return answer;
    },
  };
}

type JobRow = { state: string; retryCount: number; due: boolean };

/** The queue's jobs by id, read from the (closed) embedded database. */
async function jobStates(dataDir: string): Promise<Map<string, JobRow>> {
  const db = await stand.openDag(dataDir);
  try {
    const { rows } = await db.query<{
      id: string;
      state: string;
      retry_count: number;
      due: boolean;
    }>('SELECT id, state::text AS state, retry_count, start_after <= now() AS due FROM pgboss.job');
    return new Map(
      rows.map((r) => [r.id, { state: r.state, retryCount: r.retry_count, due: r.due }]),
    );
  } finally {
    await db.close();
  }
}
