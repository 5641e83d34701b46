// The diff preview for big changes, from YAML text as DAG's server runs it (bench/diff-preview.ts:
// parsed, normalized, compared, masked and diffed on the preview pool's worker threads, rendered
// as comments and check-run output), against GNU `diff -u -r` over the same YAML files: 2,000 and
// 10,000 changed objects (Deployments and ConfigMaps, about 9.4 MB of YAML a side per 2,000,
// generated deterministically).
// - diff.objects_2000_ms: median of 7 runs in this process (after one to start the threads),
//   against the median of 7 GNU diffs, each run right after one of ours. (Seven, not five: on a
//   small machine whose neighbours come and go, a burst of a second or two could take three runs
//   of five; the two-thread preview loses more in one than single-threaded GNU diff does.)
// - diff.objects_10000_ms, diff.objects_10000_rss_mb: one run in a child process that is a DAG
//   HTTP server; its peak RSS (VmHWM, worker threads included) against GNU diff's (`/usr/bin/time`).
// - diff.healthz_max_ms: the worst /healthz latency of that child, polled every 10 ms while the
//   10,000-object preview runs, against the worst while it is idle.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { displayYaml } from '../src/diff/display-yaml.ts';
import { objectRef } from '../src/diff/object-ref.ts';
import { PreviewPool } from '../src/diff/preview-pool.ts';
import { generatePairs } from '../test/diff/generate-objects.ts';
import { previewTrees, type PreviewTimes } from './diff-preview.ts';
import { log, median, result, ROOT, tempDir, type BenchResult } from './lib.ts';

const SMALL = 2_000;
const LARGE = 10_000;
const RUNS = 7;
const POLL_MS = 10;
const IDLE_MS = 1_000;

/**
 * One YAML file per object and side, as `kubectl diff` lays them out for its external diff: the
 * first SMALL objects under `small`, all LARGE under `large`.
 */
async function writeTrees(small: string, large: string): Promise<void> {
  for (const dir of [small, large]) {
    for (const side of ['live', 'desired']) await mkdir(path.join(dir, side), { recursive: true });
  }
  const pairs = generatePairs(LARGE);
  for (let start = 0; start < pairs.length; start += 200) {
    await Promise.all(
      pairs.slice(start, start + 200).flatMap((pair, offset) => {
        const file = `${objectRef(pair.desired).path.replaceAll('/', '.')}.yaml`;
        const live = displayYaml(pair.live, { sortKeys: true });
        const desired = displayYaml(pair.desired, { sortKeys: true });
        return (start + offset < SMALL ? [small, large] : [large]).flatMap((dir) => [
          writeFile(path.join(dir, 'live', file), live),
          writeFile(path.join(dir, 'desired', file), desired),
        ]);
      }),
    );
  }
}

/**
 * GNU diff of the two trees: its own work, its output read through a pipe and counted, not built
 * into a 19 MB string by this process (which would charge node's work to the plain tool). GNU
 * diff exits 1 when the trees differ, which is the expected outcome here.
 */
async function gnuDiff(dir: string, timed: boolean): Promise<string> {
  const args = ['-u', '-r', 'live', 'desired'];
  const [file, argv] = timed ? ['/usr/bin/time', ['-f', '%M', 'diff', ...args]] : ['diff', args];
  const child = spawn(file, argv, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let bytes = 0;
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (bytes += chunk.length));
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 1 || bytes === 0) {
    throw new Error(`GNU diff exited with ${code} after ${bytes} bytes: ${stderr}`);
  }
  return stderr;
}

async function gnuPeakMb(dir: string): Promise<number | null> {
  if (!existsSync('/usr/bin/time')) return null;
  const kb = Number(/(\d+)\s*$/.exec((await gnuDiff(dir, true)).trim())?.[1]);
  return Number.isFinite(kb) && kb > 0 ? kb / 1024 : null;
}

async function timeGnu(dir: string): Promise<number> {
  const start = performance.now();
  await gnuDiff(dir, false);
  return performance.now() - start;
}

/** Latency of one GET /healthz; a failure counts as the time it took to fail. */
function healthz(agent: Agent, port: number): Promise<number> {
  const start = performance.now();
  return new Promise((resolve) => {
    const req = get(
      { host: '127.0.0.1', port, path: '/healthz', agent, timeout: 30_000 },
      (res) => {
        res.resume();
        res.once('end', () => resolve(performance.now() - start));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => resolve(performance.now() - start));
  });
}

/** Polls /healthz every POLL_MS until `until` settles; the worst latency seen. */
async function worstHealthz(port: number, until: Promise<unknown>): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let settled = false;
  void until.finally(() => (settled = true)).catch(() => {});
  let worst = 0;
  try {
    while (!settled) {
      const latency = await healthz(agent, port);
      worst = Math.max(worst, latency);
      if (latency < POLL_MS) await sleep(POLL_MS - latency);
    }
  } finally {
    agent.destroy();
  }
  return worst;
}

type ChildRun = PreviewTimes & { peakKb: number; healthzMs: number; idleHealthzMs: number };

/** The LARGE preview in a child DAG HTTP server, /healthz polled throughout. */
async function childRun(dir: string): Promise<ChildRun> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/diff-preview.ts'), dir], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => {
    err = (err + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`preview child exited with ${code}: ${err}`))),
  );
  exited.catch(() => {});
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const line = await Promise.race([lines.next(), exited]);
    if (line.done) throw new Error(`preview child ended its output: ${err}`);
    return JSON.parse(line.value) as Record<string, number>;
  };
  try {
    const { port } = await next();
    if (port === undefined) throw new Error('the preview child gave no port');
    await healthz(new Agent(), port);
    const idleHealthzMs = await worstHealthz(port, sleep(IDLE_MS));
    child.stdin.write('go\n');
    const finished = next();
    const healthzMs = await worstHealthz(port, finished);
    return {
      ...((await finished) as unknown as PreviewTimes & { peakKb: number }),
      healthzMs,
      idleHealthzMs,
    };
  } finally {
    child.stdin.end();
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

export async function run(): Promise<BenchResult[]> {
  const work = await tempDir('dag-bench-diff-');
  const small = path.join(work.path, 'small');
  const large = path.join(work.path, 'large');
  try {
    log(`diff: writing ${LARGE} objects as YAML files`);
    await writeTrees(small, large);
    const pool = new PreviewPool();
    const ours: number[] = [];
    const gnu: number[] = [];
    try {
      log(`diff: ${SMALL} objects, warm-up`);
      await previewTrees(small, pool);
      for (let i = 0; i < RUNS; i++) {
        const times = await previewTrees(small, pool);
        log(`diff: ${SMALL} objects: ${JSON.stringify(times)}`);
        ours.push(times.totalMs);
        gnu.push(await timeGnu(small));
      }
    } finally {
      await pool.close();
    }
    log(`diff: ${LARGE} objects in a DAG HTTP server child, /healthz every ${POLL_MS} ms`);
    const big = await childRun(large);
    log(`diff: ${LARGE} objects: ${JSON.stringify(big)}`);
    const gnuLarge = median([await timeGnu(large), await timeGnu(large), await timeGnu(large)]);
    return [
      result('diff.objects_2000_ms', median(ours), 'ms', median(gnu)),
      result('diff.objects_10000_ms', big.totalMs, 'ms', gnuLarge),
      result('diff.objects_10000_rss_mb', big.peakKb / 1024, 'MB', await gnuPeakMb(large)),
      result('diff.healthz_max_ms', big.healthzMs, 'ms', big.idleHealthzMs),
    ];
  } finally {
    await work.dispose();
  }
}
