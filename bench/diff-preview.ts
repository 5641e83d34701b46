// The diff preview as DAG's server runs it, from YAML text: a live and a desired YAML file per
// object (one `live/` and one `desired/` folder, as `kubectl diff` lays them out for its external
// diff) read as they are needed, parsed, normalized, compared, masked and diffed on the preview
// pool's worker threads, then rendered as comments and check-run output there too.
//
// Run as a script (bench/diff.bench.ts does), it is a DAG HTTP server answering /healthz that
// runs one preview of <dir> when a line arrives on stdin, then prints one JSON line:
// { computeMs, renderMs, totalMs, objects, peakKb } (peakKb: VmHWM of the whole process, worker
// threads included).

import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { DiffCommentModel } from '../src/diff/comment-model.ts';
import type { YamlObjectPair } from '../src/diff/object-change.ts';
import { PreviewPool } from '../src/diff/preview-pool.ts';
import { createLogger } from '../src/log.ts';
import { createHttpServer } from '../src/server/http.ts';

export type PreviewTimes = {
  computeMs: number;
  renderMs: number;
  totalMs: number;
  objects: number;
};

/** One preview of the trees under `dir`; the YAML is read only as the pool asks for it. */
export async function previewTrees(dir: string, pool: PreviewPool): Promise<PreviewTimes> {
  const started = performance.now();
  const names = (await readdir(path.join(dir, 'desired'))).sort();
  // Each pair is read when the pool asks for it, with plain synchronous reads: a batch of 100
  // pairs holds the event loop for a few milliseconds, where promise-based reads (open, stat,
  // read, close on libuv's threads) cost more CPU than the preview's parsing, taken from the
  // worker thread on a small machine. The server reads no files: this stands for the API
  // server's responses.
  function* pairs(): Generator<YamlObjectPair> {
    for (const name of names) {
      yield {
        liveYaml: readFileSync(path.join(dir, 'live', name), 'utf8'),
        desiredYaml: readFileSync(path.join(dir, 'desired', name), 'utf8'),
      };
    }
  }
  const objects = await pool.objectChanges(pairs());
  const computed = performance.now();
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
  // As runDiff renders: the check runs, then the comments (here without the check runs' links).
  const checkRuns = await pool.checkRuns(model);
  const comments = await pool.comments(model);
  if (comments.bodies.length === 0 || checkRuns.main.text === '')
    throw new Error('nothing rendered');
  const done = performance.now();
  return {
    computeMs: computed - started,
    renderMs: done - computed,
    totalMs: done - started,
    objects: objects.length,
  };
}

if (import.meta.main) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: diff-preview.ts <dir>');
  const pool = new PreviewPool();
  const server = createHttpServer({
    handlers: [],
    readiness: () => Promise.resolve({ ready: true, checks: {} }),
    log: createLogger({ level: 'silent' }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() !== 'go') break;
    const times = await previewTrees(dir, pool);
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    process.stdout.write(`${JSON.stringify({ ...times, peakKb: Number(hwm?.[1]) })}\n`);
  }
  server.close();
  await pool.close();
}
