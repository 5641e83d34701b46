// Runs every bench/*.bench.ts module's `run()` in turn and prints one JSON result per line on
// stdout; progress goes to stderr. `npm run bench -- service` runs only modules whose file name
// contains "service".

import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { formatResult, log, stopAll, type BenchResult } from './lib.ts';

function isResult(value: unknown): value is BenchResult {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  const numberOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));
  return (
    typeof r.name === 'string' &&
    typeof r.value === 'number' &&
    Number.isFinite(r.value) &&
    typeof r.unit === 'string' &&
    numberOrNull(r.baseline) &&
    numberOrNull(r.ratio)
  );
}

async function runModule(file: string): Promise<void> {
  const mod = (await import(pathToFileURL(file).href)) as { run?: unknown };
  if (typeof mod.run !== 'function') throw new Error('exports no run() function');
  const results: unknown = await (mod.run as () => Promise<unknown>)();
  if (!Array.isArray(results)) throw new Error('run() did not return an array');
  for (const r of results) {
    if (!isResult(r)) throw new Error(`malformed result: ${JSON.stringify(r)}`);
    process.stdout.write(`${formatResult(r)}\n`);
  }
}

const filters = process.argv.slice(2);
const dir = import.meta.dirname;
const files = (await readdir(dir))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)))
  .sort();

const stopOnSignal = (signal: NodeJS.Signals) => {
  log(`${signal}: stopping child processes`);
  void stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', stopOnSignal);
process.once('SIGTERM', stopOnSignal);

try {
  if (files.length === 0)
    throw new Error(`no bench/*.bench.ts module matches ${filters.join(' ')}`);
  for (const file of files) {
    const started = performance.now();
    log(`${file}: running`);
    try {
      await runModule(path.join(dir, file));
      log(`${file}: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      process.exitCode = 1;
      log(
        `${file}: failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
    }
  }
} catch (error) {
  process.exitCode = 1;
  log(error instanceof Error ? error.message : String(error));
} finally {
  await stopAll();
}
