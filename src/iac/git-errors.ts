import { ConfigError, DagError, TransientError } from '../errors.ts';
import { redactUrlCredentials } from './remote.ts';

/** Why a git command failed, read from its output (git runs under LC_ALL=C). */
export const GitFailure = {
  /** The server did not accept the credentials (or none were sent). */
  auth: 'auth',
  /** The credentials were accepted but lack the permission (HTTP 403, read-only token). */
  forbidden: 'forbidden',
  notFound: 'not-found',
  branchNotFound: 'branch-not-found',
  /** A push was refused because the remote branch moved: integrate and push again. */
  remoteMoved: 'remote-moved',
  /** A push was refused by a hook or rule (protected branch, repository rules). */
  refused: 'refused',
  /** The server answered 429 or 5xx. */
  unavailable: 'unavailable',
  unreachable: 'unreachable',
  tls: 'tls',
  timeout: 'timeout',
  /** Anything else: a local problem (disk, a broken cache) or a message we do not know. */
  other: 'other',
} as const;
export type GitFailure = (typeof GitFailure)[keyof typeof GitFailure];

/** The detail behind a failed git command, kept as the `cause` of the error DAG raises. */
export class GitCommandFailure extends Error {
  readonly failure: GitFailure;
  readonly command: string;
  readonly exitCode: number | null;

  constructor(failure: GitFailure, command: string, exitCode: number | null, output: string) {
    super(`git ${command} exited with ${exitCode ?? 'a signal'}: ${output}`);
    this.name = 'GitCommandFailure';
    this.failure = failure;
    this.command = command;
    this.exitCode = exitCode;
  }
}

/** The classified failure behind an error raised by runGit, if it was one. */
export function gitFailureOf(error: unknown): GitFailure | undefined {
  const cause = error instanceof Error ? error.cause : undefined;
  return cause instanceof GitCommandFailure ? cause.failure : undefined;
}

const PATTERNS: [GitFailure, RegExp][] = [
  // Push rejections first: their output also mentions the remote, hooks and refs.
  [GitFailure.remoteMoved, /\[rejected\][^\n]*\((fetch first|non-fast-forward|stale info)\)/],
  [
    GitFailure.remoteMoved,
    /\[remote rejected\][^\n]*\((failed to update ref|failed to lock|cannot lock ref|incorrect old value|[^)]*but expected)/,
  ],
  [GitFailure.remoteMoved, /^remote: error: cannot lock ref/m],
  [GitFailure.refused, /\[remote rejected\]|protected branch|GH0\d\d:|pre-receive hook declined/i],
  [
    GitFailure.auth,
    /could not read (Username|Password)|Authentication failed|HTTP Basic: Access denied|returned error: 401|Invalid username or (password|token)|Bad credentials/i,
  ],
  [
    GitFailure.forbidden,
    /returned error: 403|Permission to .* denied|Write access to repository not granted|not allowed to (push|upload|download)|insufficient_scope/i,
  ],
  [
    GitFailure.notFound,
    /repository '[^']*' not found|Repository not found|returned error: 404|does not appear to be a git repository|project you were looking for could not be found/i,
  ],
  [GitFailure.branchNotFound, /Remote branch .* not found in upstream|couldn't find remote ref/i],
  [GitFailure.unavailable, /returned error: (429|5\d\d)/],
  [GitFailure.tls, /SSL certificate problem|server certificate verification failed|certificate/i],
  [
    GitFailure.unreachable,
    /Could not resolve (host|proxy)|Failed to connect|Couldn't connect|Connection (refused|reset|timed out)|Operation timed out|timed out after|RPC failed|early EOF|remote end hung up|unexpected disconnect|transfer closed|Empty reply from server|gnutls_handshake|SSL_ERROR_SYSCALL|Recv failure|Send failure|HTTP\/2 stream/i,
  ],
];

/** Classifies a failed git command from its combined output. */
export function classifyGitOutput(command: string, output: string): GitFailure {
  for (const [failure, pattern] of PATTERNS) {
    if (failure === GitFailure.remoteMoved && command !== 'push') continue;
    if (failure === GitFailure.refused && command !== 'push') continue;
    if (pattern.test(output)) return failure;
  }
  return GitFailure.other;
}

/** Every form in which a token can appear in git's output or an error. */
export function secretForms(token: string | null | undefined, user: string): string[] {
  if (!token) return [];
  return [
    Buffer.from(`${user}:${token}`).toString('base64'),
    Buffer.from(token).toString('base64'),
    encodeURIComponent(token),
    token,
  ].filter((form) => form.length > 0);
}

/** Removes tokens, Authorization headers and URL credentials from text. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join('***');
  out = out.replace(/(authorization:\s*)[^\n]*/gi, '$1***');
  return redactUrlCredentials(out);
}

/** The lines of git's output that say what went wrong, without progress noise and hints. */
export function relevantOutput(output: string, maxLength = 600): string {
  const lines = output
    .split(/\r?\n|\r/)
    .map((line) => line.trimEnd())
    .filter((line) => line && !/^(hint:|Cloning into|To |Done$|From )/.test(line));
  const text = lines.join('\n');
  return text.length > maxLength ? `…${text.slice(-maxLength)}` : text;
}

/** The error DAG raises for a failed git command. `detail` must already be scrubbed. */
export function gitError(
  failure: GitFailure,
  command: string,
  exitCode: number | null,
  detail: string,
): DagError {
  const cause = new GitCommandFailure(failure, command, exitCode, detail);
  const options = { cause };
  const remoteSays = (): string => {
    const remote = detail
      .split('\n')
      .filter((line) => line.startsWith('remote:') || line.includes('rejected]'))
      .map((line) => line.replace(/^remote:\s*/, '').trim())
      .filter(Boolean)
      .join(' ');
    return remote ? `: ${remote.slice(0, 400)}` : '';
  };
  switch (failure) {
    case GitFailure.auth:
      return new ConfigError(
        "the IAC repository rejected DAG's token (check the token and its scopes)",
        options,
      );
    case GitFailure.forbidden:
      return new ConfigError(
        "the IAC repository refused access with DAG's token (the token needs read and write access to the repository's contents)",
        options,
      );
    case GitFailure.notFound:
      return new ConfigError(
        "the IAC repository was not found (check its URL, and that DAG's token can see it)",
        options,
      );
    case GitFailure.branchNotFound:
      return new ConfigError('the branch does not exist in the IAC repository', options);
    case GitFailure.remoteMoved:
      return new TransientError(
        'the IAC branch moved while DAG was pushing (another commit landed first)',
        options,
      );
    case GitFailure.refused:
      return new ConfigError(`the IAC repository refused DAG's push${remoteSays()}`, options);
    case GitFailure.unavailable:
      return new TransientError(
        'the IAC repository is temporarily unavailable (HTTP 429 or 5xx)',
        options,
      );
    case GitFailure.tls:
      return new ConfigError("DAG could not verify the IAC repository's TLS certificate", options);
    case GitFailure.unreachable:
      return new TransientError(
        `the IAC repository is unreachable${detail ? `: ${firstLine(detail)}` : ''}`,
        options,
      );
    case GitFailure.timeout:
      return new TransientError(`git ${command} against the IAC repository timed out`, options);
    case GitFailure.other:
      return new DagError(
        'internal',
        `git ${command} failed${detail ? `: ${firstLine(detail)}` : ''}`,
        options,
      );
  }
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => /fatal:|error:/.test(l)) ?? text.split('\n')[0] ?? '';
  return line.replace(/^(fatal|error):\s*/, '').slice(0, 300);
}
