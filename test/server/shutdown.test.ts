// Graceful shutdown of a real DAG process (`node src/main.ts`, GitLab mode, embedded database in a
// folder): SIGTERM while a webhook body is still arriving, while a deploy is stuck in git, and
// with a deploy that outlives the shutdown deadline. What the provider and the queue see is read
// back from the database after the process has exited.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobIdFor } from '../../src/jobs/queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openDatabase } from '../../src/store/open.ts';
import { readSettings } from '../../src/settings.ts';
import { fixtureFiles, FLUX_LAYOUT } from '../e2e/harness.ts';
import { freePort } from '../helpers/free-port.ts';
import { startGitServer, type GitServer } from '../helpers/git-server.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { waitFor } from '../helpers/wait.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'dag-shutdown-'));
const secret = `gl-secret-${randomBytes(8).toString('hex')}`;
const encryptionKey = randomBytes(32).toString('hex');
const iacToken = `iac-token-${randomBytes(8).toString('hex')}`;
/** GitLab's documented Push Hook: project 15 (mike/diaspora), branch master, mapped below. */
const push = gitlabExample('push-hook');
/** A push of `sha` to master, and what its deploy is called in the queue and in the IAC repo. */
function masterPush(sha: string) {
  return {
    sha,
    body: JSON.stringify({ ...push, after: sha, checkout_sha: sha }),
    job: jobIdFor(`deploy:1:${sha}`),
    commit: `deploy(diaspora): production ${sha.slice(0, 7)}`,
  };
}
/** A push to a branch no environment follows: an events job, and nothing after it. */
const featurePush = JSON.stringify({ ...push, ref: 'refs/heads/feature' });

let git: GitServer;
let gitlab: FakeGitlab;
let seeded: string;
/** Every DAG process started, so that a failing test leaves none running. */
const started = new Set<ChildProcess>();

beforeAll(async () => {
  git = await startGitServer({ token: iacToken });
  await git.createRepo('iac', { defaultBranch: 'main', files: await fixtureFiles(FLUX_LAYOUT) });
  gitlab = await startFakeGitlab();
  // One configured database, copied for each test: an app, its production environment.
  seeded = path.join(dir, 'seeded');
  const db = await openDag(seeded);
  try {
    await migrate(db, quiet);
    await db.query(`
      INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'http://example.com/mike/diaspora');
      INSERT INTO clusters (name, api_url) VALUES ('prod-1', 'https://k8s.example.com:6443');`);
    await db.query('INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3)', [
      'iac',
      git.url('iac'),
      iacToken,
    ]);
    await db.query(`
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name)
      VALUES (1, 'master', 1, 'clusters/production/my-app', 1, 'plain', 'production', 'diaspora')`);
  } finally {
    await db.close();
  }
}, 180_000);

afterEach(() => {
  for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
  started.clear();
});

afterAll(async () => {
  await git?.stop();
  await new Promise((resolve) => gitlab?.server.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

describe('stopping a real DAG process (SIGTERM)', () => {
  it('answers a webhook whose body was still arriving, after /readyz turned 503; refuses new ones with 503 and Retry-After once the workers are done', async () => {
    const dataDir = freshDataDir('streamed');
    const dag = await startDag(dataDir, { DAG_SHUTDOWN_TIMEOUT_SECONDS: '20' });
    const uuid = randomUUID();
    const streamed = await startStreamedWebhook(dag.port, featurePush, uuid);

    dag.kill('SIGTERM');
    // No job runs: the workers stop at once and DAG refuses new requests, waiting for this one.
    await waitFor(async () => (await readiness(dag.port)) === 'refusing', {
      what: '/readyz to report the refusing phase',
    });
    const late = await deliver(dag.port, featurePush, randomUUID());
    expect(late.status).toBe(503);
    expect(late.headers.get('retry-after')).toBe('5');

    const answer = await streamed.finish();
    expect(answer.status).toBe(202);
    expect(JSON.parse(answer.body)).toEqual({ status: 'queued' });
    expect(await dag.exited).toBe(0);

    // The delivery is in the queue for the next DAG process; the refused one is not.
    const jobs = await jobStates(dataDir);
    expect(jobs.get(jobIdFor(`gitlab:${uuid}`))).toMatchObject({ state: 'created' });
    expect(jobs.size).toBe(1);
    expect(dag.output()).toContain('DAG stopped');
  }, 180_000);

  it('serves webhooks while a running deploy finishes, then exits 0 with the deploy done', async () => {
    const dataDir = freshDataDir('finishes');
    const dag = await startDag(dataDir, { DAG_SHUTDOWN_TIMEOUT_SECONDS: '20' });
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = git.hold();
    try {
      expect((await deliver(dag.port, deploy.body, randomUUID())).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the deploy to reach git');
      const streamedUuid = randomUUID();
      const streamed = await startStreamedWebhook(dag.port, featurePush, streamedUuid);

      dag.kill('SIGTERM');
      await waitFor(async () => (await readiness(dag.port)) === 'draining', {
        what: '/readyz to turn 503 while the deploy runs',
      });
      const lateUuid = randomUUID();
      const late = await deliver(dag.port, featurePush, lateUuid);
      expect(late.status).toBe(202);
      expect(await late.json()).toEqual({ status: 'queued' });
      expect((await streamed.finish()).status).toBe(202);

      held.release();
      expect(await dag.exited).toBe(0);
      expect((await git.log('iac', 'main'))[0]).toBe(deploy.commit);
      expect(gitlab.statuses(deploy.sha)).toContain('success');
      const jobs = await jobStates(dataDir);
      expect(jobs.get(deploy.job)).toMatchObject({ state: 'completed' });
      // Both webhooks are in the queue; the workers had stopped fetching, so they wait there.
      expect(jobs.get(jobIdFor(`gitlab:${streamedUuid}`))).toMatchObject({ state: 'created' });
      expect(jobs.get(jobIdFor(`gitlab:${lateUuid}`))).toMatchObject({ state: 'created' });
    } finally {
      held.release();
    }
  }, 180_000);

  it('hands a deploy that outlives the deadline back to the queue; the next DAG process completes it', async () => {
    const dataDir = freshDataDir('handed-back');
    const timeoutSeconds = 6;
    const deploy = masterPush(randomBytes(20).toString('hex'));
    const held = git.hold();
    let stoppedInMs: number;
    try {
      const dag = await startDag(dataDir, {
        DAG_SHUTDOWN_TIMEOUT_SECONDS: String(timeoutSeconds),
      });
      expect((await deliver(dag.port, deploy.body, randomUUID())).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the deploy to reach git');
      const signalled = Date.now();
      dag.kill('SIGTERM');
      expect(await dag.exited).toBe(0); // 1 would mean the deadline cut the stop short
      stoppedInMs = Date.now() - signalled;
      expect(dag.output()).toContain('handed back to the queue');
    } finally {
      held.release();
    }
    // Back in line at once (not `active` until its 15-minute expiry), the attempt not counted.
    expect((await jobStates(dataDir)).get(deploy.job)).toMatchObject({
      state: 'created',
      retryCount: 0,
      due: true,
    });

    // Like a new pod: same database, a fresh cache folder.
    const next = await startDag(dataDir, {}, 'cache-2');
    await next.until(
      async () => (await git.log('iac', 'main')).includes(deploy.commit),
      'the handed-back deploy to be committed by the next DAG process',
    );
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
    expect((await jobStates(dataDir)).get(deploy.job)).toMatchObject({
      state: 'completed',
      retryCount: 0,
    });
    console.log(`handed-back stop took ${stoppedInMs} ms (deadline ${timeoutSeconds} s)`);
  }, 240_000);
});

/** The embedded database of DAG_DATA_DIR `dataDir`, opened as DAG opens it. */
function openDag(dataDir: string) {
  return openDatabase(
    readSettings({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: encryptionKey }).database,
  );
}

function freshDataDir(name: string): string {
  const dataDir = path.join(dir, name);
  cpSync(seeded, dataDir, { recursive: true });
  return dataDir;
}

type Dag = {
  port: number;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  output(): string;
  /** Waits for `check`, failing with DAG's output after a minute. */
  until(check: () => boolean | Promise<boolean>, what: string): Promise<void>;
};

/** `node src/main.ts` on GitLab settings, ready (`/readyz` 200). */
async function startDag(dataDir: string, env: Record<string, string>, cache = 'cache') {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['src/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: tmpdir(),
      PORT: String(port),
      HOST: '127.0.0.1',
      DAG_DATA_DIR: dataDir,
      DAG_CACHE_DIR: `${dataDir}-${cache}`,
      DAG_ENCRYPTION_KEY: encryptionKey,
      GITLAB_WEBHOOK_SECRET: secret,
      GITLAB_URL: gitlab.url,
      GITLAB_TOKEN: 'glpat-dag-bot-token',
      DAG_WORKER_POLL_SECONDS: '0.5',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.add(child);
  let output = '';
  child.stdout?.on('data', (d) => (output += String(d)));
  child.stderr?.on('data', (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const dag: Dag = {
    port,
    exited,
    kill: (signal) => child.kill(signal),
    output: () => output,
    async until(check, what) {
      try {
        await waitFor(check, { timeoutMs: 60_000, what });
      } catch (error) {
        throw new Error(`${(error as Error).message}; DAG's output:\n${output}`, {
          cause: error,
        });
      }
    },
  };
  try {
    await Promise.race([
      waitFor(async () => (await readiness(port)) === 'ready', {
        timeoutMs: 120_000,
        what: 'DAG to be ready',
      }),
      exited.then((code) => {
        throw new Error(`DAG exited (${code}) before it was ready:\n${output}`);
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return dag;
}

/** `/readyz` as a word: ready, draining, refusing, down (no answer). */
async function readiness(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = (await res.json()) as { status: string; checks?: { shutdown?: string } };
    return res.status === 200 ? 'ready' : (body.checks?.shutdown ?? body.status);
  } catch {
    return 'down';
  }
}

function deliver(port: number, body: string, uuid: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/gitlab/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
      'idempotency-key': uuid,
    },
    body,
  });
}

/**
 * A webhook request that DAG has begun to handle (it answered `100 Continue`, which Node does
 * just before it calls DAG's request handler) with half its body sent; `finish` sends the rest.
 */
async function startStreamedWebhook(
  port: number,
  body: string,
  uuid: string,
): Promise<{ finish(): Promise<{ status: number; body: string }> }> {
  const bytes = Buffer.from(body);
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/api/gitlab/webhooks',
    headers: {
      'content-type': 'application/json',
      'content-length': bytes.length,
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
      'idempotency-key': uuid,
      expect: '100-continue',
    },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.on('data', (d) => (text += String(d)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    req.once('continue', resolve);
    req.once('error', reject);
    req.flushHeaders();
  });
  const half = Math.floor(bytes.length / 2);
  await new Promise<void>((resolve) => req.write(bytes.subarray(0, half), () => resolve()));
  return {
    finish() {
      req.end(bytes.subarray(half));
      return answer;
    },
  };
}

type JobRow = { state: string; retryCount: number; due: boolean };

/** The queue's jobs by id, read from the (closed) embedded database. */
async function jobStates(dataDir: string): Promise<Map<string, JobRow>> {
  const db = await openDag(dataDir);
  try {
    const { rows } = await db.query<{
      id: string;
      state: string;
      retry_count: number;
      due: boolean;
    }>('SELECT id, state::text AS state, retry_count, start_after <= now() AS due FROM pgboss.job');
    return new Map(
      rows.map((r) => [r.id, { state: r.state, retryCount: r.retry_count, due: r.due }]),
    );
  } finally {
    await db.close();
  }
}

type FakeGitlab = { url: string; server: Server; statuses(sha: string): string[] };

/**
 * Just enough of GitLab's API for a deploy: a values file naming the image, no chart in the app
 * repository (DAG's default chart), deployments and commit statuses recorded.
 */
async function startFakeGitlab(): Promise<FakeGitlab> {
  const statuses = new Map<string, string[]>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += String(d)));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://gitlab');
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const status = /^\/api\/v4\/projects\/\d+\/statuses\/([0-9a-f]{40})$/.exec(url.pathname);
      if (req.method === 'POST' && status?.[1]) {
        const state = String((JSON.parse(body || '{}') as { state?: string }).state);
        statuses.set(status[1], [...(statuses.get(status[1]) ?? []), state]);
        return reply(201, {});
      }
      if (req.method === 'GET' && url.pathname.endsWith('/files/deploy%2Fvalues.yaml/raw')) {
        // A self-managed GitLab's registry is the operator's to name: the values file names it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('image:\n  repository: registry.example.com/mike/diaspora\n');
        return;
      }
      if (req.method === 'POST' && /\/deployments$/.test(url.pathname)) {
        return reply(201, { id: 7 });
      }
      if (req.method === 'PUT' && /\/deployments\/\d+$/.test(url.pathname)) {
        return reply(200, { id: 7 });
      }
      return reply(404, { message: '404 Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    statuses: (sha) => statuses.get(sha) ?? [],
  };
}
