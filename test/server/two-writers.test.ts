// Two real DAG processes (`node src/main.ts`, GitLab mode) on one Postgres database, four deploy
// workers each, deploying to one IAC branch at once: the git server sees one push at a time (no
// two receive-packs of the branch overlap), every deploy lands exactly once, nothing is forced,
// and each deploy's deployment ends `success` with its statuses in order. The same push sent
// under several delivery ids to both processes at once is one commit and one deployment.

import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { masterPush, startRealDagStand, type Dag, type RealDagStand } from '../helpers/real-dag.ts';
import { waitFor } from '../helpers/wait.ts';

let stand: RealDagStand;
let database: FreshDatabase;
let dags: Dag[] = [];

beforeAll(async () => {
  stand = await startRealDagStand('dag-two-writers');
  database = await freshPostgresDatabase();
  await stand.seed(database.url);
  const start = (name: string) =>
    stand.startDag(path.join(stand.dir, name), {
      cache: 'cache',
      pollMs: 100,
      env: {
        DATABASE_URL: database.url,
        DAG_WORKER_CONCURRENCY: '4',
        DAG_DEPLOY_CONCURRENCY: '4',
      },
    });
  dags = [await start('a'), await start('b')];
}, 240_000);

/** Waits until no job waits, retries or runs: what is asserted after it cannot change. */
async function settled(): Promise<void> {
  await waitFor(
    async () => {
      const text = await (await fetch(`http://127.0.0.1:${dags[0]?.port}/metrics`)).text();
      return !/^dag_jobs\{[^}]*state="(created|retry|active)"[^}]*\} [1-9]/m.test(text);
    },
    { timeoutMs: 60_000, what: 'the job queue to settle' },
  );
}

afterEach(settled);

afterAll(async () => {
  stand?.killAll();
  await stand?.stop();
  await database?.drop();
});

const rank: Record<string, number> = { pending: 0, running: 1, success: 2, failed: 2 };

function expectInOrder(statuses: string[]) {
  const ranks = statuses.map((s) => rank[s] ?? -1);
  expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
}

describe('two DAG processes deploying to one IAC branch', () => {
  it('never push it at once, and land every deploy exactly once with its final status', async () => {
    const deploys = Array.from({ length: 16 }, () => masterPush(randomBytes(20).toString('hex')));
    const pushesBefore = stand.git.pushSpans.length;
    const responses = await Promise.all(
      deploys.map((d, i) => stand.deliver((dags[i % 2] as Dag).port, d.body)),
    );
    expect(responses.map((r) => r.status)).toEqual(deploys.map(() => 202));
    await (dags[0] as Dag).until(async () => {
      const log = await stand.git.log('iac', 'main');
      return deploys.every((d) => log.includes(d.commit));
    }, 'every deploy to land in the IAC repo');
    await (dags[0] as Dag).until(
      () => deploys.every((d) => stand.gitlab.statuses(d.sha).at(-1) === 'success'),
      'every deployment to end success',
    );
    await settled();

    const log = await stand.git.log('iac', 'main');
    for (const d of deploys) expect(log.filter((s) => s === d.commit)).toHaveLength(1);
    expect(stand.git.forcePushes).toBe(0);
    const spans = stand.git.pushSpans.slice(pushesBefore).filter((s) => s.repo === 'iac');
    const sorted = [...spans].sort((a, b) => a.start - b.start);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i]?.start).toBeGreaterThanOrEqual(sorted[i - 1]?.end as number);
    }
    for (const d of deploys) {
      expect(stand.gitlab.deployments(d.sha)).toBe(1);
      expect(stand.gitlab.statuses(d.sha).filter((s) => s === 'success')).toHaveLength(1);
      expectInOrder(stand.gitlab.statuses(d.sha));
    }
    console.log(
      `two writers: ${deploys.length} deploys in ${spans.length} pushes, none overlapping`,
    );
  }, 240_000);

  it('turns one push delivered under six delivery ids to both processes at once into one commit and one deployment', async () => {
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const responses = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        stand.deliver((dags[i % 2] as Dag).port, deploy.body, randomUUID()),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual([202, 202, 202, 202, 202, 202]);
    await (dags[0] as Dag).until(
      () => stand.gitlab.statuses(deploy.sha).at(-1) === 'success',
      'the deployment to end success',
    );
    await settled();
    const log = await stand.git.log('iac', 'main');
    expect(log.filter((s) => s === deploy.commit)).toHaveLength(1);
    expect(stand.gitlab.deployments(deploy.sha)).toBe(1);
    expect(stand.gitlab.statuses(deploy.sha).filter((s) => s === 'success')).toHaveLength(1);
    expectInOrder(stand.gitlab.statuses(deploy.sha));
  }, 240_000);
});
