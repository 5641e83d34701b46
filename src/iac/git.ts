// The one place DAG runs git. Commands run through spawn with an argument array (never a
// shell), in an environment built from scratch: no system or global configuration, no
// credential helpers, no prompts, an empty HOME (so no ~/.netrc or ~/.config/git either).
//
// A token travels only in the environment, as an http.extraHeader config
// (GIT_CONFIG_COUNT/KEY/VALUE: git does not persist it, and unlike argv it is not visible to
// other users through `ps`), never in argv, a remote URL or .git/config. Errors are built
// from scrubbed output.

import { spawn } from 'node:child_process';
import { rmdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import {
  classifyGitOutput,
  GitFailure,
  gitError,
  relevantOutput,
  scrub,
  secretForms,
} from './git-errors.ts';

export type GitRunOptions = {
  cwd: string;
  /** Sent as HTTP Basic credentials through an http.extraHeader environment config. */
  token?: string | null;
  /** The Basic-auth user name for the token (see tokenUser()); `x-access-token` by default. */
  user?: string;
  /** Extra environment, e.g. GIT_AUTHOR_NAME. Cannot override the isolation variables. */
  env?: Record<string, string>;
  /** Extra configuration (through the environment too), e.g. a forge's `http.<url>.sslCAInfo`. */
  config?: readonly [string, string][];
  timeoutMs: number;
  /** Written to git's stdin (e.g. a commit message for `commit -F -`). */
  input?: string;
  /** An empty directory to use as HOME; a private temporary one by default. */
  home?: string;
};

export type GitResult = { stdout: string; stderr: string };

export type GitRunner = (args: readonly string[], options: GitRunOptions) => Promise<GitResult>;

export type GitInvocation = { file: string; args: string[]; env: Record<string, string> };

/** Variables passed through from DAG's own environment: proxies and TLS trust only. */
const PASSTHROUGH = [
  'PATH',
  'TMPDIR',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'all_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'GIT_SSL_CAINFO',
  'GIT_SSL_CAPATH',
];

/** Configuration every command gets, after the token header. */
const FIXED_CONFIG: [string, string][] = [
  // Never run hooks from a cached clone, and never leave a detached gc behind a command.
  ['core.hooksPath', '/dev/null'],
  ['gc.autoDetach', 'false'],
  ['advice.detachedHead', 'false'],
  ['init.defaultBranch', 'main'],
];

const MAX_OUTPUT = 64 * 1024 * 1024;

/** The `Authorization` header value for a token: HTTP Basic with `user:token`. */
export function basicAuthorization(user: string, token: string): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}

/** Builds the program, arguments and environment for a git command (pure, for tests). */
export function gitInvocation(
  args: readonly string[],
  options: Pick<GitRunOptions, 'token' | 'user' | 'env' | 'config'>,
  home: string,
  parentEnv: NodeJS.ProcessEnv = process.env,
): GitInvocation {
  const env: Record<string, string> = {};
  for (const name of PASSTHROUGH) {
    const value = parentEnv[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!name.startsWith('GIT_CONFIG')) env[name] = value;
  }
  const config: [string, string][] = [];
  // GIT_SSL_CAINFO would override a forge's own `http.<url>.sslCAInfo`: it becomes the general
  // `http.sslCAInfo` instead, which the URL-specific setting overrides for that forge only.
  if (env.GIT_SSL_CAINFO && options.config?.some(([key]) => /^http\..+\.sslcainfo$/i.test(key))) {
    config.push(['http.sslCAInfo', env.GIT_SSL_CAINFO]);
    delete env.GIT_SSL_CAINFO;
  }
  if (options.token) {
    const user = options.user ?? 'x-access-token';
    config.push(['http.extraHeader', `Authorization: ${basicAuthorization(user, options.token)}`]);
  }
  config.push(...(options.config ?? []), ...FIXED_CONFIG);
  Object.assign(env, {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LC_ALL: 'C',
    LANG: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '',
    SSH_ASKPASS: '',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_COUNT: String(config.length),
  });
  config.forEach(([key, value], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = key;
    env[`GIT_CONFIG_VALUE_${i}`] = value;
  });
  return { file: 'git', args: [...args], env };
}

let emptyHome: Promise<string> | undefined;

/** The default HOME: one empty private directory per process, removed at a normal exit. */
function homeDir(): Promise<string> {
  emptyHome ??= mkdtemp(join(tmpdir(), 'dag-git-home-')).then((dir) => {
    process.once('exit', () => {
      try {
        rmdirSync(dir); // only ever removes it while empty
      } catch {
        // already gone, or something was put there: leave it
      }
    });
    return dir;
  });
  return emptyHome;
}

/**
 * Runs one git command. Throws a classified DagError (see gitError()) whose message and
 * cause contain no credentials.
 */
export const runGit: GitRunner = async (args, options) => {
  const invocation = gitInvocation(args, options, options.home ?? (await homeDir()));
  const command = args.find((arg) => !arg.startsWith('-')) ?? 'git';
  const secrets = secretForms(options.token, options.user ?? 'x-access-token');

  return new Promise<GitResult>((resolve, reject) => {
    // spawn with an argument array (what execFile wraps; never a shell). execFile would drop
    // `detached`, which puts git in its own process group so a timeout also ends its helpers
    // (git-remote-https), not just git.
    const child = spawn(invocation.file, invocation.args, {
      cwd: options.cwd,
      env: invocation.env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    let timedOut = false;
    let spawnError: NodeJS.ErrnoException | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, options.timeoutMs);
    child.on('error', (error: NodeJS.ErrnoException) => {
      spawnError = error;
    });
    child.on('close', (exitCode) => {
      clearTimeout(timer);
      if (spawnError?.code === 'ENOENT') {
        reject(new ConfigError('git is not installed (DAG needs the git command line)'));
        return;
      }
      const out = stdout.text();
      const err = stderr.text();
      if (exitCode === 0 && !timedOut && !spawnError) {
        resolve({ stdout: out, stderr: err });
        return;
      }
      const output = scrub(`${err}\n${out}${spawnError ? `\n${spawnError.message}` : ''}`, secrets);
      const failure = timedOut ? GitFailure.timeout : classifyGitOutput(command, output);
      reject(gitError(failure, command, exitCode, relevantOutput(output)));
    });
    child.stdin.on('error', () => {
      // git may exit before reading its input; the exit status tells what happened.
    });
    child.stdin.end(options.input ?? '');
  });
};

/** Collects a stream's output, keeping at most MAX_OUTPUT bytes. */
function collect(stream: NodeJS.ReadableStream): { text(): string } {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    if (size >= MAX_OUTPUT) return;
    chunks.push(chunk);
    size += chunk.length;
  });
  return { text: () => Buffer.concat(chunks).toString('utf8') };
}
