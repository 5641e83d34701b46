// Crash recovery of a real DAG process (`node src/main.ts`, GitLab mode, embedded database in a
// folder): SIGKILL while a deploy is stuck in git, with a second deploy to the same IAC branch
// queued behind it. A new DAG on the same data must notice the dead worker's job by its stale
// heartbeat and run it again within seconds, not after pg-boss's 15-minute expiry, and the
// deploy queued behind it must follow. `dag jobs list` shows who ran the job while it runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.ts';
import { jobIdFor } from '../../src/jobs/queue.ts';
import { embeddedLayout, lockOwner } from '../../src/store/embedded-layout.ts';
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
const dir = mkdtempSync(path.join(tmpdir(), 'dag-crash-'));
const secret = `gl-secret-${randomBytes(8).toString('hex')}`;
const encryptionKey = randomBytes(32).toString('hex');
const iacToken = `iac-token-${randomBytes(8).toString('hex')}`;
/** GitLab's documented Push Hook: project 15 (mike/diaspora), branch master, mapped below. */
const push = gitlabExample('push-hook');
function masterPush(sha: string) {
  return {
    sha,
    body: JSON.stringify({ ...push, after: sha, checkout_sha: sha }),
    job: jobIdFor(`deploy:1:${sha}`),
    commit: `deploy(diaspora): production ${sha.slice(0, 7)}`,
  };
}

let git: GitServer;
let gitlab: { url: string; server: Server };
let dataDir: string;
const started = new Set<ChildProcess>();

beforeAll(async () => {
  git = await startGitServer({ token: iacToken });
  await git.createRepo('iac', { defaultBranch: 'main', files: await fixtureFiles(FLUX_LAYOUT) });
  gitlab = await startFakeGitlab();
  dataDir = path.join(dir, 'data');
  const db = await openDag(dataDir);
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

describe('a DAG process killed (SIGKILL) during a deploy', () => {
  it('the next DAG process runs the dead worker’s deploy within seconds, and the deploy queued behind it on the same IAC branch', async () => {
    const first = masterPush(randomBytes(20).toString('hex'));
    const second = masterPush(randomBytes(20).toString('hex'));
    const held = git.hold();
    let killedAt: number;
    try {
      const dag = await startDag(dataDir, 'cache-1');
      expect((await deliver(dag.port, first.body)).status).toBe(202);
      await dag.until(() => held.parked > 0, 'the first deploy to reach git');
      // The second deploy waits behind the first: one deploy at a time per IAC branch.
      expect((await deliver(dag.port, second.body)).status).toBe(202);
      await dag.until(
        async () => (await jobsList()).some((j) => j.id === second.job && j.state === 'created'),
        'the second deploy to be queued',
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
      const refused = await dag.cli(['jobs', 'cancel', first.job]);
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
    const next = await startDag(dataDir, 'cache-2');
    const readyMs = Date.now() - restartedAt;
    await next.until(
      async () => (await git.log('iac', 'main')).includes(first.commit),
      'the dead worker’s deploy to be committed by the next DAG process',
    );
    const landedMs = Date.now() - restartedAt;
    const sinceKillMs = Date.now() - killedAt;
    await next.until(
      async () => (await git.log('iac', 'main')).includes(second.commit),
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
    expect(await metric(next.port, 'dag_jobs_stalled_total{queue="dag.deploy"}')).toBe(1);
    expect(git.forcePushes).toBe(0);
    next.kill('SIGTERM');
    expect(await next.exited).toBe(0);
  }, 300_000);
});

function openDag(dir: string) {
  return openDatabase(
    readSettings({ DAG_DATA_DIR: dir, DAG_ENCRYPTION_KEY: encryptionKey }).database,
  );
}

const cliEnv = () => ({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: encryptionKey });

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

type Dag = {
  port: number;
  pid: number;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  output(): string;
  cli: typeof dagCli;
  until(check: () => boolean | Promise<boolean>, what: string): Promise<void>;
};

async function startDag(dataDir: string, cache: string): Promise<Dag> {
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
    pid: child.pid as number,
    exited,
    kill: (signal) => child.kill(signal),
    output: () => output,
    cli: dagCli,
    async until(check, what) {
      try {
        await waitFor(check, { timeoutMs: 60_000, intervalMs: 100, what });
      } catch (error) {
        throw new Error(`${(error as Error).message}; DAG's output:\n${output}`, {
          cause: error,
        });
      }
    },
  };
  try {
    await Promise.race([
      waitFor(async () => (await ready(port)) === true, {
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

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

function deliver(port: number, body: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/api/gitlab/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': secret,
      'idempotency-key': randomUUID(),
    },
    body,
  });
}

/** Just enough of GitLab's API for a deploy (as in shutdown.test.ts). */
async function startFakeGitlab(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://gitlab');
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (req.method === 'POST' && /\/statuses\/[0-9a-f]{40}$/.test(url.pathname)) {
        return reply(201, {});
      }
      if (req.method === 'GET' && url.pathname.endsWith('/files/deploy%2Fvalues.yaml/raw')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('image:\n  repository: registry.example.com/mike/diaspora\n');
        return;
      }
      if (req.method === 'POST' && /\/deployments$/.test(url.pathname))
        return reply(201, { id: 7 });
      if (req.method === 'PUT' && /\/deployments\/\d+$/.test(url.pathname)) {
        return reply(200, { id: 7 });
      }
      return reply(404, { message: '404 Not Found' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server };
}
