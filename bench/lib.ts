// Shared helpers for the benchmarks: statistics, result lines, and child processes (DAG itself
// or a plain node:http server as the baseline) with readiness polling and reliable cleanup.

import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { appendFileSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { get, request, type Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/free-port.ts';
export { freePort };

export type BenchResult = {
  name: string;
  value: number;
  unit: string;
  baseline: number | null;
  ratio: number | null;
};

export const ROOT = path.resolve(import.meta.dirname, '..');

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Wall time of one call, in milliseconds. */
export async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** A result line; ratio = value / baseline, both kept raw until rounded here. */
export function result(
  name: string,
  value: number,
  unit: string,
  baseline: number | null,
): BenchResult {
  return {
    name,
    value: round(value),
    unit,
    baseline: baseline === null ? null : round(baseline),
    ratio: baseline === null || baseline === 0 ? null : round(value / baseline),
  };
}

/** The exact line printed for a result: keys in a fixed order, nothing else. */
export function formatResult(r: BenchResult): string {
  return JSON.stringify({
    name: r.name,
    value: r.value,
    unit: r.unit,
    baseline: r.baseline,
    ratio: r.ratio,
  });
}

// ---- child processes ----------------------------------------------------------------------

export type Child = {
  name: string;
  pid: number;
  url: string;
  /** Performance-clock time just before spawn(). */
  spawnedAt: number;
  process: ChildProcess;
  /** The last few KB of the child's stdout and stderr, for error messages. */
  output(): string;
  stop(): Promise<void>;
};

const live = new Set<Child>();
const tempDirs = new Set<string>();

// a crash, a signal or process.exit in the bench must not leave servers or files behind
process.on('exit', () => {
  for (const child of live) child.process.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed by `dispose()` or at the latest when the bench exits. */
export async function tempDir(prefix: string): Promise<{ path: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    path: dir,
    async dispose() {
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

function exited(proc: ChildProcess): boolean {
  return proc.exitCode !== null || proc.signalCode !== null;
}

function waitExit(proc: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(proc)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      proc.off('exit', onExit);
      resolve(false);
    }, timeoutMs);
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    proc.once('exit', onExit);
  });
}

/** SIGTERM, then SIGKILL when the child is still there after `graceMs`. */
async function terminate(proc: ChildProcess, graceMs: number): Promise<void> {
  if (exited(proc)) return;
  proc.kill('SIGTERM');
  if (await waitExit(proc, graceMs)) return;
  log(`pid ${proc.pid} ignored SIGTERM for ${graceMs} ms: SIGKILL`);
  proc.kill('SIGKILL');
  await waitExit(proc, 5_000);
}

/** Only what the children need: the bench's own DATABASE_URL etc. must not leak into them. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

export function spawnNode(
  name: string,
  args: string[],
  env: Record<string, string>,
  port: number,
): Child {
  let tail = '';
  const keep = (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  const spawnedAt = performance.now();
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...baseEnv(), ...env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  // DAG_BENCH_CHILD_LOG=<file>: every child's output appended there, to see where time goes.
  const childLog = process.env.DAG_BENCH_CHILD_LOG;
  if (childLog) {
    proc.stdout?.on('data', (chunk: Buffer) => appendFileSync(childLog, chunk));
    proc.stderr?.on('data', (chunk: Buffer) => appendFileSync(childLog, chunk));
  }
  if (proc.pid === undefined) throw new Error(`could not spawn ${name}`);
  const child: Child = {
    name,
    pid: proc.pid,
    url: `http://127.0.0.1:${port}`,
    spawnedAt,
    process: proc,
    output: () => tail.trim(),
    async stop() {
      await terminate(proc, 10_000);
      live.delete(child);
    },
  };
  live.add(child);
  proc.once('exit', (code, signal) => {
    if (code !== 0 && code !== null) log(`${name} (pid ${proc.pid}) exited with ${code}`);
    else if (signal && signal !== 'SIGTERM') log(`${name} (pid ${proc.pid}) killed by ${signal}`);
  });
  return child;
}

/** Stops every child still running (the bench's last resort, in run.ts's finally). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => child.stop()));
}

/** Stops the children in order, even when one stop fails. */
export async function stopChildren(...children: (Child | undefined)[]): Promise<void> {
  for (const child of children) await child?.stop().catch((e: unknown) => log(String(e)));
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get(url, { agent: false, timeout: 5_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

/**
 * Polls GET /readyz every `intervalMs` until it answers 200; returns the performance-clock
 * time of that first 200. Fails fast when the child exits.
 */
export async function waitReady(
  child: Child,
  intervalMs = 20,
  timeoutMs = 120_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (exited(child.process)) {
      throw new Error(`${child.name} exited before it was ready:\n${child.output()}`);
    }
    const status = await getStatus(`${child.url}/readyz`).catch(() => 0);
    if (status === 200) return performance.now();
    if (performance.now() > deadline) {
      throw new Error(`${child.name} not ready after ${timeoutMs} ms:\n${child.output()}`);
    }
    await sleep(intervalMs);
  }
}

/** Resident set size of a process in MB, from /proc/<pid>/status (VmRSS). */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) / 1024;
}

// ---- the two servers under test -------------------------------------------------------------

/** The baseline: a plain node:http server that reads the body and answers 202 (200 for /readyz). */
const PLAIN_SERVER = `
const http = require('node:http');
http
  .createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const ready = req.method === 'GET' && req.url === '/readyz';
      res.writeHead(ready ? 200 : 202, { 'content-type': 'application/json' });
      res.end(ready ? '{"status":"ready"}' : '{"status":"accepted"}');
    });
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

export async function startPlain(): Promise<Child> {
  return spawnNode('plain node:http server', ['-e', PLAIN_SERVER], {}, await freePort());
}

/** A positive whole-number setting of a bench from the environment, or `fallback`. */
export function setting(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

/**
 * The environment of a DAG child as a GitHub App against the GitHub stand-in at `host`, with
 * production's settings otherwise (DAG_BENCH_LOG_LEVEL=info, with DAG_BENCH_CHILD_LOG, shows
 * DAG's own lines).
 */
export function githubDagEnv(config: DagConfig, cacheDir: string, host: string, appId: number) {
  return {
    HOST: '127.0.0.1',
    DAG_DATA_DIR: config.dataDir,
    DAG_ENCRYPTION_KEY: config.encryptionKey,
    DAG_CACHE_DIR: cacheDir,
    APP_ID: String(appId),
    PRIVATE_KEY: config.privateKey,
    WEBHOOK_SECRET: config.webhookSecret,
    GHE_HOST: host,
    GHE_PROTOCOL: 'http',
    LOG_LEVEL: process.env.DAG_BENCH_LOG_LEVEL ?? 'warn',
  };
}

export type DagConfig = {
  dataDir: string;
  webhookSecret: string;
  privateKey: string;
  encryptionKey: string;
  databaseUrl?: string;
};

let privateKey: string | undefined;

/** Settings for a DAG child in GitHub mode; the RSA key is generated once per bench run. */
export function dagConfig(dataDir: string, databaseUrl?: string): DagConfig {
  privateKey ??= generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'pkcs1', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  }).privateKey;
  return {
    dataDir,
    webhookSecret: randomBytes(20).toString('hex'),
    privateKey,
    encryptionKey: randomBytes(32).toString('hex'),
    ...(databaseUrl ? { databaseUrl } : {}),
  };
}

export async function startDag(config: DagConfig): Promise<Child> {
  const env: Record<string, string> = {
    HOST: '127.0.0.1',
    DAG_DATA_DIR: config.dataDir,
    DAG_ENCRYPTION_KEY: config.encryptionKey,
    APP_ID: '1',
    PRIVATE_KEY: config.privateKey,
    WEBHOOK_SECRET: config.webhookSecret,
    LOG_LEVEL: 'warn',
  };
  if (config.databaseUrl) env.DATABASE_URL = config.databaseUrl;
  return spawnNode('DAG', ['src/main.ts'], env, await freePort());
}

// ---- HTTP client ----------------------------------------------------------------------------

export type Sent = { status: number; body: string };

/** One POST over a keep-alive agent; resolves when the whole response has been read. */
export function post(
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  body: Buffer,
): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        timeout: 30_000,
        headers: { ...headers, 'content-length': String(body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.once('timeout', () => req.destroy(new Error(`POST ${url}: timeout`)));
    req.once('error', reject);
    req.end(body);
  });
}
