import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll } from 'vitest';
import { createLogger, type Logger } from '../../src/log.ts';
import { runGit, type GitRunner, type GitRunOptions } from '../../src/iac/git.ts';
import { IacWorkspace } from '../../src/iac/workspace.ts';
import { startGitServer, type GitServer } from '../helpers/git-server.ts';

export const BOT = { name: 'dag[bot]', email: 'dag-bot@example.com' };

/** The files every IAC repository of these suites starts with. */
export const SEED = {
  'README.md': '# infra\n',
  'apps/a/deployment.yaml': 'kind: Deployment\n',
  'apps/a/stale.yaml': 'kind: ConfigMap\n',
  'apps/b/deployment.yaml': 'kind: Deployment # b\n',
};

/** A git server for the calling suite: started before it, stopped (temp dirs removed) after. */
export function gitServerForSuite(token: string): { readonly server: GitServer } {
  let server: GitServer | undefined;
  beforeAll(async () => {
    server = await startGitServer({ token });
  });
  afterAll(async () => {
    await server?.stop();
    await removeTempDirs();
  });
  return {
    get server() {
      if (!server) throw new Error('the git server is not started yet');
      return server;
    },
  };
}

const tempDirs: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs(). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A logger at debug level whose lines are kept for scanning. */
export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { log, lines };
}

export type GitCall = { args: string[]; options: GitRunOptions };

/**
 * A workspace in a fresh cache directory whose git commands are recorded. `before` runs before
 * each command (e.g. to land an outside commit just before DAG's push).
 */
export async function spiedWorkspace(
  options: {
    before?: (args: readonly string[]) => Promise<void> | void;
    timeoutMs?: number;
    onPushRetry?: () => void;
  } = {},
): Promise<{
  ws: IacWorkspace;
  cacheDir: string;
  calls: GitCall[];
  lines: string[];
  commands(): string[];
}> {
  const cacheDir = await tempDir('dag-iac-cache-');
  const calls: GitCall[] = [];
  const { log, lines } = captureLog();
  const git: GitRunner = async (args, runOptions) => {
    calls.push({ args: [...args], options: runOptions });
    await options.before?.(args);
    return runGit(args, runOptions);
  };
  const ws = await IacWorkspace.create({
    cacheDir,
    log,
    git,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.onPushRetry ? { onPushRetry: options.onPushRetry } : {}),
  });
  return { ws, cacheDir, calls, lines, commands: () => calls.map((c) => c.args[0] ?? '') };
}

/** Every file under dir, recursively, with its content (binary files included as latin1). */
export async function readTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(path, await readFile(path, 'latin1'));
  }
  return out;
}

/** The forms of a token that must never leak: itself, and base64 of it and of user:token. */
export function leakForms(token: string): string[] {
  return [
    token,
    Buffer.from(token).toString('base64'),
    Buffer.from(`x-access-token:${token}`).toString('base64'),
    Buffer.from(`oauth2:${token}`).toString('base64'),
  ];
}

let counter = 0;
/** A repository name unique within the test run. */
export const repoName = (prefix: string): string => `${prefix}-${++counter}`;
