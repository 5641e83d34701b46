// What the GitHub-path benchmarks share: the GitHub stand-in (test/helpers/github-stand-in.ts,
// a local GitHub Enterprise with real git repositories), DAG as `npm start` runs it in a child
// process with GitHub App settings pointing at the stand-in, its configuration written with
// plain SQL before it starts, push webhooks as GitHub sends them, plain GitHub calls for
// baselines (plain git's is bench/gitlab.ts's plainPusher), and a count of the git processes DAG
// starts.

import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { constants, rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { migrate } from '../src/store/migrate.ts';
import { openDatabase } from '../src/store/open.ts';
import { readSettings } from '../src/settings.ts';
import {
  startGitHubStandIn,
  type GitHubStandIn,
  type RequestRecord,
} from '../test/helpers/github-stand-in.ts';
import { dagConfig, freePort, githubDagEnv, spawnNode, waitReady, type Child } from './lib.ts';

export const APP_ID = 1;
export const INSTALLATION = 1;
export const OWNER = 'bench';
export const IAC = `${OWNER}/iac`;

export type GithubBench = {
  gh: GitHubStandIn;
  dag: Child;
  /** The token DAG's IAC row holds (a personal token on the IAC repository). */
  iacToken: string;
  /** A personal token on every repository, for the plain baselines. */
  plainToken: string;
  /** The app repositories, `bench/app-<i>`. */
  apps: string[];
  /** Sends a signed push of `sha` on `main` of `app` to DAG, as GitHub would. */
  push(app: string, sha: string): Promise<void>;
  /** Sends any signed webhook to DAG, as GitHub would. */
  deliver(event: string, payload: unknown): Promise<void>;
  /** git processes DAG (and the git it runs) started so far. */
  gitProcesses(): Promise<number>;
  stop(): Promise<void>;
};

export const appName = (i: number): string => `app-${i}`;
export const iacPath = (app: string): string => `clusters/staging/${app.split('/')[1]}`;

/** A `git` first on PATH that counts its invocations, then runs the real one. */
export async function gitCounter(dir: string): Promise<{ bin: string; count(): Promise<number> }> {
  let real: string | undefined;
  for (const folder of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(folder, 'git');
    try {
      await access(candidate, constants.X_OK);
      real = candidate;
      break;
    } catch {
      // not here
    }
  }
  if (!real) throw new Error('no git on PATH');
  const bin = path.join(dir, 'bin');
  const counter = path.join(dir, 'git-processes');
  await mkdir(bin, { recursive: true });
  await writeFile(counter, '');
  const shim = path.join(bin, 'git');
  await writeFile(shim, `#!/bin/sh\necho x >> '${counter}'\nexec '${real}' "$@"\n`);
  await chmod(shim, 0o755);
  return {
    bin,
    count: async () => (await readFile(counter, 'utf8')).length / 2,
  };
}

/**
 * The stand-in with an IAC repository and `apps` app repositories (the App installed on all of
 * them), and DAG started on them: one environment per app, all on one IAC branch.
 */
export async function startGithubBench(work: string, apps: number): Promise<GithubBench> {
  const config = dagConfig(path.join(work, 'dag'));
  const gh = await startGitHubStandIn({ appId: APP_ID, privateKey: config.privateKey });
  // The stand-in's repositories go too when the bench is stopped by a signal.
  const leftovers = () => rmSync(gh.git.dir, { recursive: true, force: true });
  process.once('exit', leftovers);
  let dag: Child | undefined;
  try {
    const iacToken = `iac_${randomBytes(12).toString('hex')}`;
    const plainToken = `plain_${randomBytes(12).toString('hex')}`;
    await gh.createRepo(IAC, { files: { 'README.md': 'IAC\n' } });
    const names = Array.from({ length: apps }, (_, i) => `${OWNER}/${appName(i)}`);
    for (const name of names) {
      await gh.createRepo(name, { files: { 'deploy/values.yaml': 'replicaCount: 1\n' } });
    }
    gh.install(INSTALLATION, OWNER, 'all');
    gh.addToken(iacToken, { login: 'iac-bot', repositories: [IAC] });
    gh.addToken(plainToken, { login: 'plain', repositories: 'all' });

    const env: Record<string, string> = githubDagEnv(
      config,
      path.join(work, 'cache'),
      gh.host,
      APP_ID,
    );
    await configure(env, gh, names, iacToken);
    const counter = await gitCounter(path.join(work, 'git-counter'));
    dag = spawnNode(
      'DAG (GitHub App)',
      ['src/main.ts'],
      { ...env, PATH: `${counter.bin}${path.delimiter}${process.env.PATH ?? ''}` },
      await freePort(),
    );
    await waitReady(dag);
    const child = dag;
    const url = `${child.url}/api/github/webhooks`;
    const deliver = async (event: string, payload: unknown) => {
      const answer = await gh.deliver(url, config.webhookSecret, event, payload);
      if (answer.status >= 300) {
        throw new Error(`DAG answered ${answer.status} to a ${event}: ${answer.body}`);
      }
    };
    return {
      gh,
      dag: child,
      iacToken,
      plainToken,
      apps: names,
      push: (app, sha) => deliver('push', gh.pushPayload(app, { after: sha })),
      deliver,
      gitProcesses: counter.count,
      async stop() {
        await child.stop();
        await gh.stop();
        process.off('exit', leftovers);
      },
    };
  } catch (error) {
    await dag?.stop();
    await gh.stop();
    process.off('exit', leftovers);
    throw error;
  }
}

/**
 * DAG's configuration, as an operator writes it before starting DAG: plain SQL on the database
 * DAG will open (the embedded one, by DAG's own code), migrated first as `dag db migrate` does.
 */
async function configure(
  env: Record<string, string>,
  gh: GitHubStandIn,
  apps: string[],
  iacToken: string,
): Promise<void> {
  const settings = readSettings(env);
  const db = await openDatabase(settings.database);
  try {
    await migrate(db);
    await db.query(
      "INSERT INTO clusters (name, api_url) VALUES ('staging', 'https://k8s.example.com')",
    );
    await db.query('INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3)', [
      'iac',
      gh.cloneUrl(IAC),
      iacToken,
    ]);
    for (const app of apps) {
      const { rows } = await db.query<{ id: number }>(
        "INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1) RETURNING id",
        [gh.repoUrl(app)],
      );
      await db.query(
        `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
         VALUES ($1, 'main', 1, $2, 1, 'flux', 'apps', 'staging')`,
        [rows[0]?.id, iacPath(app)],
      );
    }
  } finally {
    await db.close();
  }
}

/**
 * Resolves with the performance-clock time of the stand-in event after which `check` first
 * holds (checked once now, then after each event, one check at a time in event order). The
 * time is the event's, not the end of the check: a check that reads git adds nothing.
 */
export function whenEvent<T>(
  gh: GitHubStandIn,
  event: string,
  check: (payload: T | undefined) => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let chain = Promise.resolve();
    const finish = (result: { at: number } | { error: Error }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      gh.events.off(event, listener);
      if ('error' in result) reject(result.error);
      else resolve(result.at);
    };
    const test = (payload: T | undefined, at: number) => {
      chain = chain.then(async () => {
        if (settled) return;
        try {
          if (await check(payload)) finish({ at });
        } catch (error) {
          finish({ error: error as Error });
        }
      });
    };
    const listener = (payload: T) => test(payload, performance.now());
    const timer = setTimeout(
      () => finish({ error: new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`) }),
      timeoutMs,
    );
    gh.events.on(event, listener);
    test(undefined, performance.now());
  });
}

/** Resolves (performance clock) at the push after which every subject is on the IAC branch. */
export function commitsLanded(
  gh: GitHubStandIn,
  subjects: string[],
  timeoutMs: number,
): Promise<number> {
  const wanted = new Set(subjects);
  return whenEvent(
    gh,
    'git-push',
    async () => {
      const log = await gh.git.log(IAC, 'main');
      for (const subject of log) wanted.delete(subject);
      return wanted.size === 0;
    },
    timeoutMs,
    () => `${subjects.length} IAC commits (${wanted.size} missing)`,
  );
}

/** Resolves when a `success` deployment status is recorded for every (app, sha). */
export function deploymentsSucceeded(
  gh: GitHubStandIn,
  targets: { app: string; sha: string }[],
  timeoutMs: number,
): Promise<number> {
  const key = (app: string, sha: string) => `${app.toLowerCase()}@${sha}`;
  const wanted = new Set(targets.map((t) => key(t.app, t.sha)));
  return whenEvent<{ deployment: { repo: string; sha: string }; status: { state: string } }>(
    gh,
    'deployment_status',
    (event) => {
      if (event?.status.state === 'success') {
        wanted.delete(key(event.deployment.repo, event.deployment.sha));
      }
      return wanted.size === 0;
    },
    timeoutMs,
    () => `${targets.length} successful deployments (${wanted.size} missing)`,
  );
}

/** The subject DAG gives the IAC commit of a deploy (src/workflows/deploy.ts). */
export const deploySubject = (app: string, sha: string): string =>
  `deploy(${app.split('/')[1]}): staging ${sha.slice(0, 7)}`;

/** API requests in the stand-in's log from index `from` on. */
export function apiRequests(gh: GitHubStandIn, from: number): RequestRecord[] {
  return gh.requests.slice(from).filter((r) => r.kind === 'api');
}

/**
 * The GitHub requests a deploy makes, done plainly in sequence with fetch (no client-side
 * throttle): the two values reads, the deployment, and its queued, in_progress and success
 * statuses.
 */
export async function plainGithubCalls(
  gh: GitHubStandIn,
  token: string,
  app: string,
  sha: string,
): Promise<void> {
  const api = `${gh.apiUrl}/repos/${app}`;
  const call = async (method: string, url: string, body?: unknown, accept?: string) => {
    const response = await fetch(url, {
      method,
      headers: {
        authorization: `token ${token}`,
        accept: accept ?? 'application/vnd.github+json',
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    if (response.status >= 300 && response.status !== 404) {
      throw new Error(`${method} ${url}: ${response.status} ${text}`);
    }
    return text;
  };
  const raw = 'application/vnd.github.raw+json';
  await call('GET', `${api}/contents/deploy%2Fvalues.yaml?ref=${sha}`, undefined, raw);
  await call('GET', `${api}/contents/deploy%2Fvalues-staging.yaml?ref=${sha}`, undefined, raw);
  const created = JSON.parse(
    await call('POST', `${api}/deployments`, {
      ref: sha,
      environment: 'staging',
      auto_merge: false,
      required_contexts: [],
    }),
  ) as { id: number };
  for (const state of ['queued', 'in_progress', 'success']) {
    await call('POST', `${api}/deployments/${created.id}/statuses`, { state, description: state });
  }
}
