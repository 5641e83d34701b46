// Crash recovery of a deploy, as an operator lives it: a real DAG process (`node src/main.ts`,
// GitLab mode, embedded database) is killed with SIGKILL while its deploy is in git (the git
// server holds its requests), a new DAG process starts on the same data folder at once, as a
// supervisor restarts it, and the deploy's commit lands.
//
// - deploy.crash_resume_ms: SIGKILL -> that deploy's commit on the IAC branch (restart included),
//   median of DAG_BENCH_CRASH_RUNS (3). Target: within 30 s. Baseline: a plain git fetch, commit
//   and push of a change to the same server (what the deploy itself costs without a crash).

import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { embeddedLayout, lockOwner } from '../src/store/embedded-layout.ts';
import { masterPush, startRealDagStand } from '../test/helpers/real-dag.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { plainPusher } from './gitlab.ts';
import { log, median, result, type BenchResult } from './lib.ts';

const RUNS = Number(process.env.DAG_BENCH_CRASH_RUNS ?? 3);

export async function run(): Promise<BenchResult[]> {
  const stand = await startRealDagStand('dag-bench-crash');
  try {
    const dataDir = path.join(stand.dir, 'data');
    await stand.seed(dataDir);
    let dag = await stand.startDag(dataDir, { cache: 'cache-0', pollMs: 100 });
    const resumed: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const deploy = masterPush(randomBytes(20).toString('hex'));
      const held = stand.git.hold();
      let killedAt: number;
      try {
        await stand.deliver(dag.port, deploy.body);
        await dag.until(() => held.parked > 0, 'the deploy to reach git');
        dag.kill('SIGKILL');
        killedAt = performance.now();
        await dag.exited;
      } finally {
        held.release();
      }
      await waitFor(() => lockOwner(embeddedLayout(dataDir)) === undefined, {
        timeoutMs: 30_000,
        intervalMs: 20,
        what: 'the data folder to be free',
      });
      dag = await stand.startDag(dataDir, { cache: `cache-${i + 1}`, pollMs: 50 });
      await dag.until(
        async () => (await stand.git.log('iac', 'main')).includes(deploy.commit),
        'the killed deploy to land',
      );
      resumed.push(performance.now() - killedAt);
      log(
        `crash: run ${i + 1}: the killed deploy landed ${Math.round(resumed.at(-1) as number)} ms after SIGKILL`,
      );
    }
    dag.kill('SIGTERM');
    await dag.exited;

    const push = await plainPusher(
      stand.git.url('iac'),
      stand.iacToken,
      path.join(stand.dir, 'plain'),
    );
    const plain: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      await push('clusters/plain', { 'values.yaml': `run: ${i}\n` });
      plain.push(performance.now() - start);
    }
    return [result('deploy.crash_resume_ms', median(resumed), 'ms', median(plain))];
  } finally {
    stand.killAll();
    await stand.stop();
  }
}
