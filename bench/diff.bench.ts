// The diff preview for a big change: 2,000 changed objects (Deployments and ConfigMaps, about
// 9.4 MB of YAML a side, generated deterministically) masked, diffed and rendered as comments
// and check-run output, against GNU `diff -u -r` over the same objects written as YAML files.
// Time: median of 3 runs each. Memory: peak RSS of a child process doing the same work once,
// against the peak RSS of GNU diff (from `/usr/bin/time -f %M`).

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { DiffCommentModel } from '../src/diff/comment.ts';
import { displayYaml } from '../src/diff/display-yaml.ts';
import { objectChanges } from '../src/diff/object-change.ts';
import { objectRef } from '../src/diff/object-ref.ts';
import { checkRunSet } from '../src/diff/check-runs.ts';
import { renderDiffComments } from '../src/diff/split.ts';
import { generatePairs, type GeneratedPair } from '../test/diff/generate-objects.ts';
import { log, median, result, ROOT, tempDir, type BenchResult } from './lib.ts';

const exec = promisify(execFile);
const OBJECTS = 2_000;
const RUNS = 3;

/** Mask, diff and render: everything DAG does between the two object lists and the API calls. */
export async function preview(pairs: GeneratedPair[]): Promise<number> {
  const objects = await objectChanges(pairs);
  const model: DiffCommentModel = {
    pr: 1,
    headSha: '0'.repeat(40),
    environments: [
      {
        environment: 'production',
        iacFiles: [],
        objects,
        validation: { result: 'passed' },
        notes: [],
      },
    ],
  };
  const comments = renderDiffComments(model);
  const checks = checkRunSet(model);
  const texts = checks.parts.reduce((sum, part) => sum + part.summary.length + part.text.length, 0);
  return comments.bodies.reduce((sum, body) => sum + body.length, checks.main.text.length + texts);
}

/** The child for the memory measurement: the same work once, then its own peak RSS (VmHWM). */
const CHILD = `
import { readFileSync } from 'node:fs';
const { generatePairs } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'test/diff/generate-objects.ts')).href)});
const { preview } = await import(${JSON.stringify(pathToFileURL(path.join(ROOT, 'bench/diff.bench.ts')).href)});
await preview(generatePairs(${OBJECTS}));
const hwm = /^VmHWM:\\s+(\\d+)\\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
process.stdout.write(JSON.stringify({ peakKb: Number(hwm?.[1]) }));
`;

function childPeakMb(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      err = (err + chunk.toString()).slice(-4000);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`diff child exited with ${code}: ${err}`));
      const { peakKb } = JSON.parse(out) as { peakKb: number };
      resolve(peakKb / 1024);
    });
  });
}

/** One YAML file per object and side, as `kubectl diff` lays them out for its external diff. */
async function writeTrees(dir: string, pairs: GeneratedPair[]): Promise<void> {
  for (const side of ['live', 'desired'] as const) await mkdir(path.join(dir, side));
  await Promise.all(
    pairs.map(async (pair) => {
      const file = `${objectRef(pair.desired).path.replaceAll('/', '.')}.yaml`;
      await writeFile(path.join(dir, 'live', file), displayYaml(pair.live, { sortKeys: true }));
      await writeFile(
        path.join(dir, 'desired', file),
        displayYaml(pair.desired, { sortKeys: true }),
      );
    }),
  );
}

/** GNU diff exits 1 when the trees differ, which is the expected outcome here. */
async function gnuDiff(dir: string, timed: boolean): Promise<string> {
  const args = ['-u', '-r', 'live', 'desired'];
  const [file, argv] = timed ? ['/usr/bin/time', ['-f', '%M', 'diff', ...args]] : ['diff', args];
  try {
    await exec(file, argv, { cwd: dir, maxBuffer: 1024 * 1024 * 1024 });
    return '';
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    if (failed.code !== 1) throw error;
    return failed.stderr ?? '';
  }
}

export async function run(): Promise<BenchResult[]> {
  const pairs = generatePairs(OBJECTS);
  const work = await tempDir('dag-bench-diff-');
  try {
    await writeTrees(work.path, pairs);
    log(`diff: ${OBJECTS} objects, warm-up`);
    await preview(pairs);
    const ours: number[] = [];
    const gnu: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      let start = performance.now();
      await preview(pairs);
      ours.push(performance.now() - start);
      start = performance.now();
      await gnuDiff(work.path, false);
      gnu.push(performance.now() - start);
    }
    log('diff: peak RSS of a child doing the same work');
    const peak = await childPeakMb();
    let gnuPeak: number | null = null;
    if (existsSync('/usr/bin/time')) {
      const stderr = await gnuDiff(work.path, true);
      const kb = Number(/(\d+)\s*$/.exec(stderr.trim())?.[1]);
      gnuPeak = Number.isFinite(kb) && kb > 0 ? kb / 1024 : null;
    }
    return [
      result('diff.objects_2000_ms', median(ours), 'ms', median(gnu)),
      result('diff.objects_2000_rss_mb', peak, 'MB', gnuPeak),
    ];
  } finally {
    await work.dispose();
  }
}
