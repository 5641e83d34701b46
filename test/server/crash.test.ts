// Crash recovery of a real DAG process (`node src/main.ts`, GitLab mode, embedded database in a
// folder): SIGKILL while a deploy is stuck in git, with a second deploy to the same IAC branch
// queued behind it. A new DAG on the same data must notice the dead worker's job by its stale
// heartbeat and run it again within seconds, not after pg-boss's 15-minute expiry, and the
// deploy queued behind it must follow. `dag jobs list` shows who ran the job while it runs.

import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import { embeddedLayout, lockOwner } from '../../src/store/embedded-layout.ts';
import { masterPush, startRealDagStand, type RealDagStand } from '../helpers/real-dag.ts';
import { waitFor } from '../helpers/wait.ts';

let stand: RealDagStand;
let dataDir: string;

beforeAll(async () => {
  stand = await startRealDagStand('dag-crash');
  dataDir = path.join(stand.dir, 'data');
  await stand.seed(dataDir);
}, 180_000);

afterEach(() => stand?.killAll());

afterAll(async () => {
  await stand?.stop();
});

describe('a DAG process killed (SIGKILL) during a deploy', () => {
  it('the next DAG process runs the dead worker’s deploy within seconds, and the deploy queued behind it on the same IAC branch', async () => {
    const first = masterPush(randomBytes(20).toString('hex'));
    const second = masterPush(randomBytes(20).toString('hex'));
    const held = stand.git.hold();
    let killedAt: number;
    try {
      const dag = await startDag('cache-1');
      expect((await stand.deliver(dag.port, first.body)).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the first deploy to reach git');
      // The second deploy waits for the IAC branch the first holds: its job runs, waiting to
      // join the branch's next group commit.
      expect((await stand.deliver(dag.port, second.body)).status).toBe(202);
      await dag.until(
        async () => (await jobsList()).some((j) => j.id === second.job && j.state === 'active'),
        'the second deploy to wait for the IAC branch',
      );

      // The operator sees who runs the deploy, for how long, and its heartbeat.
      const running = (await jobsList()).find((j) => j.id === first.job);
      expect(running).toMatchObject({
        state: 'active',
        owner: { pid: dag.pid },
        stalled: false,
        ageSeconds: expect.any(Number),
        heartbeatAgeSeconds: expect.any(Number),
      });
      const refused = await dagCli(['jobs', 'cancel', first.job]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(`is running in a live DAG process`);
      expect(refused.stderr).toContain(`:${dag.pid}`);

      dag.kill('SIGKILL');
      killedAt = Date.now();
      expect(await dag.exited).toBe(null);
    } finally {
      // The dead process's git clone may finish now; it has no DAG left to push anything.
      held.release();
    }

    // Its embedded database process stops when its parent dies (IPC disconnect), freeing the
    // folder's lock for the next DAG.
    const layout = embeddedLayout(dataDir);
    await waitFor(() => lockOwner(layout) === undefined, {
      timeoutMs: 30_000,
      what: 'the dead DAG’s database process to release the data folder',
    });
    const lockFreedMs = Date.now() - killedAt;

    // Like a restarted pod: same database, a fresh cache folder.
    const restartedAt = Date.now();
    const next = await startDag('cache-2');
    const readyMs = Date.now() - restartedAt;
    await next.until(
      async () => (await stand.git.log('iac', 'main')).includes(first.commit),
      'the dead worker’s deploy to be committed by the next DAG process',
    );
    const landedMs = Date.now() - restartedAt;
    const sinceKillMs = Date.now() - killedAt;
    await next.until(
      async () => (await stand.git.log('iac', 'main')).includes(second.commit),
      'the deploy queued behind it to be committed',
    );
    const secondMs = Date.now() - restartedAt;
    console.log(
      `crash recovery: lock freed ${lockFreedMs} ms after SIGKILL; restarted DAG ready in ${readyMs} ms; ` +
        `the dead worker's deploy landed ${landedMs} ms after the restart (${sinceKillMs} ms after the kill), ` +
        `the one queued behind it ${secondMs} ms after the restart`,
    );
    expect(landedMs).toBeLessThan(30_000);
    expect(secondMs).toBeLessThan(40_000);
    expect(next.output()).toContain("a job's worker is gone");

    await next.until(
      async () =>
        (await jobsList()).filter(
          (j) => (j.id === first.job || j.id === second.job) && j.state === 'completed',
        ).length === 2,
      'both deploy jobs to complete',
    );
    const jobs = await jobsList();
    expect(jobs.find((j) => j.id === first.job)).toMatchObject({
      retryCount: 1, // the attempt the killed process made counts
    });
    // Both deploy jobs were running (one in git, one waiting for the branch) when DAG was killed.
    expect(await metric(next.port, 'dag_jobs_stalled_total{queue="dag.deploy"}')).toBe(2);
    expect(stand.git.forcePushes).toBe(0);
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 300_000);
});

const cliEnv = () => ({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: stand.encryptionKey });

/** `dag <args>` in this process, on the running DAG's database (through its socket). */
async function dagCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    env: cliEnv(),
    stdout: { write: (chunk: string) => (stdout += chunk) },
    stderr: { write: (chunk: string) => (stderr += chunk) },
    stdin: Readable.from([]),
  });
  return { code, stdout, stderr };
}

type ListedJob = {
  id: string;
  state: string;
  retryCount: number;
  owner: { host: string; pid: number } | null;
  stalled: boolean;
};

async function jobsList(): Promise<ListedJob[]> {
  const result = await dagCli(['jobs', 'list', '--json']);
  if (result.code !== 0) throw new Error(`dag jobs list: ${result.stderr}`);
  return JSON.parse(result.stdout) as ListedJob[];
}

async function metric(port: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A DAG process on the test's data folder, with a cache folder of its own. */
function startDag(cache: string) {
  return stand.startDag(dataDir, { cache, pollMs: 100 });
}
