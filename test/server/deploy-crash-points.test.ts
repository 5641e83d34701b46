// A real DAG process (`node src/main.ts`, GitLab mode, embedded database) killed with SIGKILL at
// chosen points of a deploy, then restarted on the same data: each deploy lands in the IAC repo
// exactly once and its deployment reaches its final status exactly once, within 30 s of the
// restart. The points: before the deployment is announced (GitLab's create parked), after the
// IAC push but before the final status (the status parked), and after the final status. (During
// git is test/server/crash.test.ts.)

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { embeddedLayout, lockOwner } from '../../src/store/embedded-layout.ts';
import { masterPush, startRealDagStand, type Dag, type RealDagStand } from '../helpers/real-dag.ts';
import { waitFor } from '../helpers/wait.ts';

let stand: RealDagStand;
let dataDir: string;
let restarts = 0;

beforeAll(async () => {
  stand = await startRealDagStand('dag-crash-points');
  dataDir = path.join(stand.dir, 'data');
  await stand.seed(dataDir);
}, 180_000);

afterEach(() => stand?.killAll());

afterAll(async () => {
  await stand?.stop();
});

function startDag(): Promise<Dag> {
  restarts += 1;
  return stand.startDag(dataDir, { cache: `cache-${restarts}`, pollMs: 100 });
}

/** SIGKILLs `dag` and waits for its database process to free the data folder. */
async function kill(dag: Dag): Promise<void> {
  dag.kill('SIGKILL');
  expect(await dag.exited).toBe(null);
  await waitFor(() => lockOwner(embeddedLayout(dataDir)) === undefined, {
    timeoutMs: 30_000,
    what: 'the dead DAG’s database process to release the data folder',
  });
}

async function landed(subject: string): Promise<number> {
  return (await stand.git.log('iac', 'main')).filter((s) => s === subject).length;
}

/** After a restart: the deploy committed once, one deployment, its statuses ending in success. */
async function expectDeliveredOnce(next: Dag, deploy: ReturnType<typeof masterPush>) {
  const restartedAt = Date.now();
  await next.until(
    async () =>
      (await landed(deploy.commit)) === 1 && stand.gitlab.statuses(deploy.sha).at(-1) === 'success',
    'the deploy to be committed and its final status posted',
  );
  const finalMs = Date.now() - restartedAt;
  expect(finalMs).toBeLessThan(30_000);
  await next.until(async () => {
    const res = await fetch(`http://127.0.0.1:${next.port}/metrics`);
    const text = await res.text();
    return !/^dag_jobs\{[^}]*state="(created|retry|active)"[^}]*\} [1-9]/m.test(text);
  }, 'the job queue to settle');
  expect(await landed(deploy.commit)).toBe(1);
  expect(stand.gitlab.deployments(deploy.sha)).toBe(1);
  const statuses = stand.gitlab.statuses(deploy.sha);
  expect(statuses.filter((s) => s === 'success')).toHaveLength(1);
  // In order: never back from a later state to an earlier one.
  const rank = { pending: 0, running: 1, success: 2, failed: 2 } as Record<string, number>;
  const ranks = statuses.map((s) => rank[s] ?? -1);
  expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
  return finalMs;
}

describe('a DAG process killed (SIGKILL) at a point of a deploy, then restarted', () => {
  it('before the deployment is announced: one commit, one deployment, a final status', async () => {
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = stand.gitlab.hold(
      (r) => r.method === 'POST' && /\/deployments$/.test(r.path) && r.body.sha === deploy.sha,
    );
    try {
      const dag = await startDag();
      expect((await stand.deliver(dag.port, deploy.body)).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the deployment to be asked for');
      await kill(dag);
    } finally {
      held.release();
    }
    // The parked create was answered after the kill: GitLab holds a deployment nobody recorded.
    // The rerun finds it (findDeployment) instead of creating a second one.
    const next = await startDag();
    const ms = await expectDeliveredOnce(next, deploy);
    console.log(`crash before announce: final status ${ms} ms after the restart`);
  }, 240_000);

  it('after the IAC push, before the final status: the status is posted once after the restart', async () => {
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = stand.gitlab.hold(
      (r) =>
        r.method === 'POST' &&
        r.path.endsWith(`/statuses/${deploy.sha}`) &&
        r.body.state === 'success',
    );
    try {
      const dag = await startDag();
      expect((await stand.deliver(dag.port, deploy.body)).status).toBe(202);
      await dag.until(
        async () => held.parked > 0 && (await landed(deploy.commit)) === 1,
        'the deploy to be pushed and its final status to be on its way',
      );
      await kill(dag);
    } finally {
      held.release();
    }
    const next = await startDag();
    const ms = await expectDeliveredOnce(next, deploy);
    console.log(`crash after push: final status ${ms} ms after the restart`);
  }, 240_000);

  it('after the final status: nothing is done twice', async () => {
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const dag = await startDag();
    expect((await stand.deliver(dag.port, deploy.body)).status).toBe(202);
    await dag.until(
      () => stand.gitlab.statuses(deploy.sha).at(-1) === 'success',
      'the final status',
    );
    await kill(dag);
    const next = await startDag();
    await expectDeliveredOnce(next, deploy);
  }, 240_000);
});
