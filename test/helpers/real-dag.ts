// Real DAG processes (`node src/main.ts`, GitLab mode, embedded database in a folder) for tests
// that stop or kill them: a git server holding the IAC repository, a GitLab stand-in that keeps
// GitLab's request contract (test/helpers/gitlab-contract.ts), data folders configured for the
// Push Hook's app, and every process started, so that a failing test leaves none running.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jobIdFor } from '../../src/jobs/queue.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openDatabase } from '../../src/store/open.ts';
import { readSettings } from '../../src/settings.ts';
import { fixtureFiles, FLUX_LAYOUT } from '../e2e/harness.ts';
import { freePort } from './free-port.ts';
import { startGitServer, type GitServer } from './git-server.ts';
import { contractKeeping, GitLabContract, type CheckedRequest } from './gitlab-contract.ts';
import { gitlabExample } from './gitlab-examples.ts';
import type { GitLabProjectStandIn } from './gitlab-project-stand-in.ts';
import { quiet } from './quiet-log.ts';
import { waitFor } from './wait.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** GitLab's documented Push Hook: project 15 (mike/diaspora), branch master, mapped by `seed`. */
export const push = gitlabExample('push-hook');

/** A push of `sha` to master, and what its deploy is called in the queue and in the IAC repo. */
export function masterPush(sha: string) {
  return {
    sha,
    body: JSON.stringify({ ...push, after: sha, checkout_sha: sha }),
    job: jobIdFor(`deploy:1:${sha}`),
    commit: `deploy(diaspora): production ${sha.slice(0, 7)}`,
  };
}

export type Dag = {
  port: number;
  pid: number;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
  output(): string;
  /** Waits for `check`, failing with DAG's output after a minute. */
  until(check: () => boolean | Promise<boolean>, what: string): Promise<void>;
};

export type FakeGitlab = {
  url: string;
  server: Server;
  /** What DAG sent that GitLab refuses (checked when the stand stops). */
  contract: GitLabContract;
  /** The commit statuses posted on `sha`, in order. */
  statuses(sha: string): string[];
  /** The deployments created for `sha`. */
  deployments(sha: string): number;
  /** How many requests DAG sent, of any kind. */
  requests(): number;
  /**
   * Serves a project from a real repository from now on (gitlab-project-stand-in.ts): its files,
   * branches, commits and merge requests; other requests are answered as before.
   */
  serveProject(project: GitLabProjectStandIn): void;
  /**
   * Parks every request `match` picks, unanswered (as a GitLab that hangs), until `release()`;
   * `parked` counts them.
   */
  hold(
    match: (request: { method: string; path: string; body: Record<string, unknown> }) => boolean,
  ): {
    readonly parked: number;
    release(): void;
  };
};

export type RealDagStand = {
  /** A temporary folder for the tests' data folders, removed by `stop`. */
  dir: string;
  git: GitServer;
  /** The token the IAC repository's git server takes (DAG's IAC row holds it). */
  iacToken: string;
  gitlab: FakeGitlab;
  /** GITLAB_WEBHOOK_SECRET of every DAG started. */
  secret: string;
  /** DAG_ENCRYPTION_KEY of every DAG started. */
  encryptionKey: string;
  /** The embedded database of DAG_DATA_DIR `dataDir`, opened as DAG opens it. */
  openDag(dataDir: string): ReturnType<typeof openDatabase>;
  /**
   * Migrates `dataDir`'s database (or the Postgres database at a `postgres://` URL): the Push
   * Hook's app, its production environment on master.
   */
  seed(dataDirOrUrl: string): Promise<void>;
  /**
   * `node src/main.ts` on GitLab settings and `env`, ready (`/readyz` 200); its cache folder is
   * `<dataDir>-<cache>`. `until` polls every `pollMs`.
   */
  startDag(
    dataDir: string,
    options?: { env?: Record<string, string>; cache?: string; pollMs?: number },
  ): Promise<Dag>;
  /** A Push Hook (or `event`) sent to DAG's webhook as GitLab sends it. */
  deliver(port: number, body: string, uuid?: string, event?: string): Promise<Response>;
  /** SIGKILLs every DAG process still running (after each test). */
  killAll(): void;
  /** Stops the servers, removes `dir`, and fails if DAG broke GitLab's contract. */
  stop(): Promise<void>;
};

/** `/readyz` as a word: ready, draining, refusing, down (no answer). */
export async function readiness(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    const body = (await res.json()) as { status: string; checks?: { shutdown?: string } };
    return res.status === 200 ? 'ready' : (body.checks?.shutdown ?? body.status);
  } catch {
    return 'down';
  }
}

/** The IAC repository on a git server, the GitLab stand-in, and a temporary folder `<name>-*`. */
export async function startRealDagStand(name: string): Promise<RealDagStand> {
  const dir = mkdtempSync(path.join(tmpdir(), `${name}-`));
  const secret = `gl-secret-${randomBytes(8).toString('hex')}`;
  const encryptionKey = randomBytes(32).toString('hex');
  const iacToken = `iac-token-${randomBytes(8).toString('hex')}`;
  const git = await startGitServer({ token: iacToken });
  await git.createRepo('iac', { defaultBranch: 'main', files: await fixtureFiles(FLUX_LAYOUT) });
  const gitlab = await startFakeGitlab();
  const started = new Set<ChildProcess>();

  const openDag = (dataDir: string) =>
    openDatabase(
      readSettings({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: encryptionKey }).database,
    );

  return {
    dir,
    git,
    iacToken,
    gitlab,
    secret,
    encryptionKey,
    openDag,
    async seed(dataDirOrUrl) {
      const db = /^postgres(ql)?:\/\//.test(dataDirOrUrl)
        ? await openDatabase({ kind: 'postgres', url: dataDirOrUrl })
        : await openDag(dataDirOrUrl);
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
    },
    async startDag(dataDir, { env = {}, cache = 'cache', pollMs = 50 } = {}) {
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
        pid: child.pid as number,
        exited,
        kill: (signal) => child.kill(signal),
        output: () => output,
        async until(check, what) {
          try {
            await waitFor(check, { timeoutMs: 60_000, intervalMs: pollMs, what });
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
    },
    deliver(port, body, uuid = randomUUID(), event = 'Push Hook') {
      return fetch(`http://127.0.0.1:${port}/api/gitlab/webhooks`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-gitlab-event': event,
          'x-gitlab-token': secret,
          'idempotency-key': uuid,
        },
        body,
      });
    },
    killAll() {
      for (const child of started) if (child.exitCode === null) child.kill('SIGKILL');
      started.clear();
    },
    async stop() {
      await git.stop();
      await new Promise((resolve) => gitlab.server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
      gitlab.contract.assertKept();
    },
  };
}

/**
 * Just enough of GitLab's API for a deploy: a values file naming the image, no chart in the app
 * repository (DAG's default chart), deployments and commit statuses recorded; a request GitLab
 * refuses is answered as GitLab answers it (contractKeeping).
 */
async function startFakeGitlab(): Promise<FakeGitlab> {
  const statuses = new Map<string, string[]>();
  const created = new Map<string, number>();
  const deploymentStatus = new Map<number, string>();
  const deploymentList: { id: number; sha: string; environment: string }[] = [];
  const contract = new GitLabContract();
  let requests = 0;
  let deployments = 0;
  let project: GitLabProjectStandIn | undefined;
  let holding:
    | { match: Parameters<FakeGitlab['hold']>[0]; parked: number; released: Promise<void> }
    | undefined;
  const server = createServer(
    contractKeeping(contract, (_req, res, request) => {
      requests += 1;
      if (holding?.match(request)) {
        const held = holding;
        held.parked += 1;
        void held.released.then(() => answer(res, request));
        return;
      }
      answer(res, request);
    }),
  );
  function answer(res: ServerResponse, request: CheckedRequest): void {
    if (!project) {
      answerFixed(res, request);
      return;
    }
    const reply = (status: number, value: unknown, contentType = 'application/json') => {
      res.writeHead(status, { 'content-type': contentType });
      res.end(typeof value === 'string' ? value : JSON.stringify(value));
    };
    project
      .answer(request, reply)
      .then((answered) => {
        if (!answered) answerFixed(res, request);
      })
      .catch((error: unknown) => reply(500, { message: String(error) }));
  }
  function answerFixed(res: ServerResponse, request: CheckedRequest): void {
    {
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      const status = /^\/api\/v4\/projects\/\d+\/statuses\/([0-9a-f]{40})$/.exec(request.path);
      if (request.method === 'POST' && status?.[1]) {
        const state = String(request.body.state);
        statuses.set(status[1], [...(statuses.get(status[1]) ?? []), state]);
        return reply(201, {});
      }
      if (request.method === 'GET' && request.path.endsWith('/files/deploy%2Fvalues.yaml/raw')) {
        // A self-managed GitLab's registry is the operator's to name: the values file names it.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('image:\n  repository: registry.example.com/mike/diaspora\n');
        return;
      }
      // Each deployment its own id: GitLab refuses to finish one deployment twice.
      if (request.method === 'POST' && /\/deployments$/.test(request.path)) {
        const sha = String(request.body.sha);
        created.set(sha, (created.get(sha) ?? 0) + 1);
        deploymentStatus.set(++deployments, String(request.body.status));
        deploymentList.push({
          id: deployments,
          sha,
          environment: String(request.body.environment),
        });
        return reply(201, { id: deployments });
      }
      if (request.method === 'GET' && /\/deployments$/.test(request.path)) {
        // Newest first, one page: what findDeployment reads.
        const environment = request.query.environment;
        return reply(
          200,
          deploymentList
            .filter((d) => environment === undefined || d.environment === environment)
            .toReversed()
            .map((d) => ({ ...d, status: deploymentStatus.get(d.id), deployable: null })),
        );
      }
      const listed = /\/repository\/commits\/([0-9a-f]{40})\/statuses$/.exec(request.path);
      if (request.method === 'GET' && listed?.[1]) {
        // The latest status of the commit (one name in this stand-in).
        const latest = statuses.get(listed[1])?.at(-1);
        return reply(200, latest ? [{ status: latest, name: 'dag/deploy/production' }] : []);
      }
      // Which merge request made a commit (the deployment card's question): none, these are pushes.
      if (
        request.method === 'GET' &&
        /\/repository\/commits\/[0-9a-f]{40}\/merge_requests$/.test(request.path)
      ) {
        return reply(200, []);
      }
      const deployment = /\/deployments\/(\d+)$/.exec(request.path);
      if (request.method === 'PUT' && deployment) {
        deploymentStatus.set(Number(deployment[1]), String(request.body.status));
        return reply(200, { id: Number(deployment[1]) });
      }
      if (request.method === 'GET' && deployment) {
        const id = Number(deployment[1]);
        return reply(200, { id, status: deploymentStatus.get(id) });
      }
      return reply(404, { message: '404 Not Found' });
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    contract,
    statuses: (sha) => statuses.get(sha) ?? [],
    requests: () => requests,
    deployments: (sha) => created.get(sha) ?? 0,
    serveProject(served) {
      project = served;
    },
    hold(match) {
      let release = () => {};
      const released = new Promise<void>((resolve) => (release = resolve));
      const held = { match, parked: 0, released };
      holding = held;
      return {
        get parked() {
          return held.parked;
        },
        release() {
          if (holding === held) holding = undefined;
          release();
        },
      };
    },
  };
}
