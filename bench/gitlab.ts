// What the GitLab-flavoured benchmarks share: DAG on GitLab settings, push hooks as GitLab sends
// them, plain git for baselines (its environment, and a deploy's IAC push, which the GitHub
// benchmarks use too), and small waits that fail as soon as DAG sends the GitLab stand-in a
// request GitLab's contract refuses (test/helpers/gitlab-contract.ts).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { createLogger, SecretMasker } from '../src/log.ts';
import { startService, type Service } from '../src/service.ts';
import { readSettings } from '../src/settings.ts';
import type { GitLabContract } from '../test/helpers/gitlab-contract.ts';

const exec = promisify(execFile);

/** A GitLab Push Hook body for project `project` (`bench/<name>`), `sha` on `branch`. */
export function pushHook(project: number, name: string, commit: string, branch = 'main'): string {
  const web = `https://gitlab.example.com/bench/${name}`;
  return JSON.stringify({
    object_kind: 'push',
    ref: `refs/heads/${branch}`,
    before: '0'.repeat(39) + '1',
    after: commit,
    checkout_sha: commit,
    user_username: 'bench',
    project_id: project,
    project: {
      id: project,
      path_with_namespace: `bench/${name}`,
      web_url: web,
      git_http_url: `${web}.git`,
    },
    commits: [],
  });
}

/** A random commit id. */
export const sha = (): string => randomBytes(20).toString('hex');

/** Throws when DAG sent the GitLab stand-in a request GitLab refuses. */
export function keptContract(contract: GitLabContract): void {
  if (contract.violations.length > 0) {
    throw new Error(`DAG broke GitLab's API contract:\n- ${contract.violations.join('\n- ')}`);
  }
}

/**
 * Polls `check` every 2 ms until it holds; with a stand-in's contract, fails at once when DAG
 * broke it (GitLab would have refused the request, and the awaited work may never come).
 */
export async function until(check: () => boolean, contract?: GitLabContract): Promise<void> {
  while (!check()) {
    if (contract) keptContract(contract);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** DAG in this process, GitLab only (API at `gitlabUrl`), on a throwaway embedded database. */
export async function startGitlabDag(
  gitlabUrl: string,
  cacheDir: string,
): Promise<{ service: Service; deliver: (body: string) => Promise<void> }> {
  const webhookSecret = randomBytes(12).toString('hex');
  const settings = readSettings({
    PORT: '0',
    HOST: '127.0.0.1',
    DAG_DATA_DIR: 'memory://',
    DAG_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    GITLAB_WEBHOOK_SECRET: webhookSecret,
    GITLAB_URL: gitlabUrl,
    GITLAB_TOKEN: 'bench-token',
    DAG_CACHE_DIR: cacheDir,
    DAG_WORKER_POLL_SECONDS: '0.5',
    LOG_LEVEL: 'warn',
  });
  const quiet = createLogger({
    level: 'warn',
    destination: new Writable({ write: (_c, _e, d) => d() }),
  });
  const service = await startService(settings, { log: quiet, masker: new SecretMasker() });
  /** Sends a Push Hook body the way GitLab does. */
  const deliver = async (body: string) => {
    const response = await fetch(`${service.url}/api/gitlab/webhooks`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-gitlab-event': 'Push Hook',
        'x-gitlab-token': webhookSecret,
        'idempotency-key': randomBytes(16).toString('hex'),
      },
      body,
    });
    await response.body?.cancel();
  };
  return { service, deliver };
}

/** Plain git's environment for the baselines: the token through the same header DAG uses. */
export function plainGitEnv(token: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
    GIT_AUTHOR_NAME: 'plain',
    GIT_AUTHOR_EMAIL: 'plain@example.com',
    GIT_COMMITTER_NAME: 'plain',
    GIT_COMMITTER_EMAIL: 'plain@example.com',
  };
}

/**
 * Plain git doing a deploy's IAC work against the IAC repository at `cloneUrl` with the same kind
 * of token: fetch, write the folder on the tip, commit, push. `pathPrefix` goes first on git's
 * PATH (a counting `git`, say).
 */
export async function plainPusher(
  cloneUrl: string,
  token: string,
  dir: string,
  pathPrefix?: string,
) {
  const env = plainGitEnv(token);
  if (pathPrefix) env.PATH = `${pathPrefix}${path.delimiter}${env.PATH ?? ''}`;
  await exec('git', ['clone', '-q', cloneUrl, dir], { env });
  return async (folder: string, files: Record<string, string>) => {
    await exec('git', ['fetch', '-q', 'origin'], { cwd: dir, env });
    await exec('git', ['reset', '-q', '--hard', 'origin/main'], { cwd: dir, env });
    await rm(path.join(dir, folder), { recursive: true, force: true });
    for (const [name, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, folder, name)), { recursive: true });
      await writeFile(path.join(dir, folder, name), content);
    }
    await exec('git', ['add', '-A'], { cwd: dir, env });
    await exec('git', ['commit', '-q', '-m', `plain ${folder}`], { cwd: dir, env });
    await exec('git', ['push', '-q', 'origin', 'HEAD:refs/heads/main'], { cwd: dir, env });
  };
}
