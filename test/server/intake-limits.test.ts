import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_WEBHOOK_BYTES } from '../../src/server/body.ts';
import { freePort } from '../helpers/free-port.ts';
import { testPrivateKey } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Oversized webhook bodies against DAG as `npm start` runs it (src/main.ts in a child process,
 * so that its memory is measured alone): refused with 413 or 401 before they are read, or at
 * the limit while they stream in, with the process's peak memory barely moving and no payload
 * in its logs. Unpatched, one 100 MB unsigned POST cost about 1 GB of RSS and logged the body.
 */

const root = path.resolve(import.meta.dirname, '../..');
const MiB = 1024 * 1024;
const BIG = 100 * MiB;
/** Peak RSS growth allowed for one refused 100 MB delivery: the 25 MiB limit, and some slack. */
const MAX_GROWTH_MIB = 60;
/**
 * What a client gets to send before a refusal stops it: what the kernel's socket buffers
 * take on both sides plus the 1 MiB DAG discards before it closes. Far below the body.
 */
const UNREAD_MAX = 30 * MiB;
/** The same, for a body refused at the limit while it streamed in. */
const AT_LIMIT_MAX = MAX_WEBHOOK_BYTES + UNREAD_MAX;
/** Every chunk of every big body carries this, so a log line holding any of it shows. */
const MARKER = 'PAYLOAD-MARKER-';

const secrets = {
  github: `gh-${randomBytes(8).toString('hex')}`,
  gitlab: `gl-${randomBytes(8).toString('hex')}`,
};
let child: ChildProcess;
let base: string;
let logs = '';

beforeAll(async () => {
  const port = await freePort();
  child = spawn(process.execPath, ['src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DAG_DATA_DIR: 'memory://',
      DAG_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      APP_ID: '4242',
      PRIVATE_KEY: testPrivateKey,
      WEBHOOK_SECRET: secrets.github,
      GITLAB_WEBHOOK_SECRET: secrets.gitlab,
      LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (logs += String(d)));
  child.stderr?.on('data', (d) => (logs += String(d)));
  base = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
    { timeoutMs: 45_000, what: 'DAG to be ready' },
  );
});

afterAll(async () => {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
});

/** The child's resident set now, and its peak since the last reset, in MiB (Linux /proc). */
function memory(): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** Starts a new peak measurement: the kernel resets VmHWM to the current RSS. */
function resetPeak(): number {
  writeFileSync(`/proc/${child.pid}/clear_refs`, '5');
  return memory().rss;
}

type Sent = { status: number; body: { error?: string }; sent: number };

/**
 * POSTs `total` bytes of MARKER-filled body, chunk by chunk as the socket takes them, with a
 * Content-Length when `declared` (else chunked). Resolves with DAG's answer and how many bytes
 * the client got to write before DAG's refusal stopped it.
 */
function post(
  urlPath: string,
  headers: Record<string, string>,
  total: number,
  declared: boolean,
): Promise<Sent> {
  const chunk = Buffer.alloc(64 * 1024, MARKER);
  return new Promise((resolve, reject) => {
    let sent = 0;
    const req = request(`${base}${urlPath}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...headers,
        ...(declared ? { 'content-length': String(total) } : {}),
      },
    });
    let answered = false;
    let failure: Error | undefined;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.on('data', (d) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), sent }));
      res.on('error', reject);
    });
    // Once DAG has answered and closed the connection, writing fails: that is the point. A
    // connection that closes before any answer is a failure of its own, not a hang.
    req.on('error', (error) => (failure = error));
    req.on('close', () => {
      if (!answered) reject(new Error(`no answer after ${sent} bytes sent: ${failure?.message}`));
    });
    const pump = () => {
      while (sent < total && !req.destroyed) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      if (!req.destroyed) req.end();
    };
    pump();
  });
}

const githubHeaders = (signature: string | undefined) => ({
  'x-github-event': 'push',
  'x-github-delivery': randomBytes(8).toString('hex'),
  ...(signature === undefined ? {} : { 'x-hub-signature-256': signature }),
});
const gitlabHeaders = (token: string) => ({
  'x-gitlab-event': 'Push Hook',
  'x-gitlab-token': token,
});
/** A well-formed signature that is not the body's: what anyone without the secret can send. */
const forged = `sha256=${'0'.repeat(64)}`;

// Each test pushes up to 100 MB through loopback: seconds when idle, longer on a busy machine;
// the limit bounds a hang, it asserts no speed.
describe('GitHub webhook intake, oversized bodies', { timeout: 120_000 }, () => {
  it('refuses a 100 MB chunked body at the 25 MiB limit with 413, its memory bounded', async () => {
    const before = resetPeak();
    const res = await post('/api/github/webhooks', githubHeaders(forged), BIG, false);
    const growth = memory().peak - before;
    expect(res.status).toBe(413);
    expect(res.body).toEqual({ error: `payload larger than ${MAX_WEBHOOK_BYTES} bytes` });
    expect(res.sent).toBeLessThan(AT_LIMIT_MAX);
    expect(growth, `peak RSS grew ${growth.toFixed(1)} MiB`).toBeLessThan(MAX_GROWTH_MIB);
  });

  it('refuses a body declared over the limit with 413 before reading it, signed or not', async () => {
    for (const signature of [undefined, forged]) {
      const before = resetPeak();
      const res = await post('/api/github/webhooks', githubHeaders(signature), BIG, true);
      const growth = memory().peak - before;
      expect(res.status).toBe(413);
      expect(res.sent).toBeLessThan(UNREAD_MAX);
      expect(growth, `peak RSS grew ${growth.toFixed(1)} MiB`).toBeLessThan(MAX_GROWTH_MIB);
    }
  });

  it('refuses an unsigned chunked body with 401 before reading it', async () => {
    const res = await post('/api/github/webhooks', githubHeaders(undefined), BIG, false);
    expect(res.status).toBe(401);
    expect(res.body.error).toContain('X-Hub-Signature-256');
    expect(res.sent).toBeLessThan(UNREAD_MAX);
  });
});

// Each test pushes up to 100 MB through loopback: seconds when idle, longer on a busy machine;
// the limit bounds a hang, it asserts no speed.
describe('GitLab webhook intake, oversized bodies', { timeout: 120_000 }, () => {
  it('refuses a wrong token with 401 before reading the body', async () => {
    const res = await post('/api/gitlab/webhooks', gitlabHeaders('wrong'), BIG, false);
    expect(res.status).toBe(401);
    expect(res.sent).toBeLessThan(UNREAD_MAX);
  });

  it('refuses a 100 MB body with 413, declared or chunked, its memory bounded', async () => {
    const declared = await post('/api/gitlab/webhooks', gitlabHeaders(secrets.gitlab), BIG, true);
    expect(declared.status).toBe(413);
    expect(declared.sent).toBeLessThan(UNREAD_MAX);
    const before = resetPeak();
    const chunked = await post('/api/gitlab/webhooks', gitlabHeaders(secrets.gitlab), BIG, false);
    const growth = memory().peak - before;
    expect(chunked.status).toBe(413);
    expect(chunked.sent).toBeLessThan(AT_LIMIT_MAX);
    expect(growth, `peak RSS grew ${growth.toFixed(1)} MiB`).toBeLessThan(MAX_GROWTH_MIB);
  });
});

describe('logs', () => {
  it('hold no payload, and stay small', async () => {
    // The refusals above were logged (at warn) before their answers were sent.
    await waitFor(
      () =>
        logs.includes('github webhook rejected: no signature') &&
        logs.includes('gitlab webhook rejected: bad X-Gitlab-Token'),
      { what: 'the refusals to be logged' },
    );
    expect(logs).not.toContain(MARKER);
    expect(logs.length).toBeLessThan(64 * 1024);
  });
});
