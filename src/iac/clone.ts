import { createHash, randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { GitFailure, gitFailureOf } from './git-errors.ts';
import type { GitResult, GitRunner } from './git.ts';
import type { IacRemote } from './remote.ts';

export type CloneContext = {
  cacheDir: string;
  /** An empty directory git uses as HOME. */
  home: string;
  git: GitRunner;
  timeoutMs: number;
  log: Logger;
  /** Hosts of the configured GitLab (see tokenUser). */
  gitlabHosts: readonly string[];
};

/** The cache directory name of the clone of (url, branch): a hash, so URLs never become paths. */
export function cloneDirName(url: string, branch: string | null): string {
  return createHash('sha256')
    .update(`${url}\n${branch ?? ''}`)
    .digest('hex')
    .slice(0, 32);
}

/**
 * One cached clone of one branch of an IAC repository. Created with
 * `git clone --no-tags --single-branch` on first use; afterwards sync() fetches incrementally
 * and resets the work tree to the remote tip, so an earlier failed attempt leaves nothing
 * behind. Callers serialize work on a clone (see withKeyedLock).
 */
export class IacClone {
  readonly dir: string;
  readonly branch: string;
  readonly remote: IacRemote;
  /** True right after cloning, while the work tree is known to be at the remote tip. */
  readonly fresh: boolean;
  readonly #ctx: CloneContext;

  private constructor(
    ctx: CloneContext,
    remote: IacRemote,
    dir: string,
    branch: string,
    fresh: boolean,
  ) {
    this.#ctx = ctx;
    this.remote = remote;
    this.dir = dir;
    this.branch = branch;
    this.fresh = fresh;
  }

  /** Opens the cached clone of (remote, branch), cloning it first if there is none. */
  static async open(
    ctx: CloneContext,
    remote: IacRemote,
    branch: string | null,
  ): Promise<IacClone> {
    const dir = join(ctx.cacheDir, cloneDirName(remote.url, branch));
    if (await exists(join(dir, '.git'))) {
      const resolved = branch ?? (await currentBranch(ctx, remote, dir));
      return new IacClone(ctx, remote, dir, resolved, false);
    }
    const resolved = await cloneInto(ctx, remote, branch, dir);
    return new IacClone(ctx, remote, dir, resolved, true);
  }

  /** Runs git in the clone, authenticated for the remote. */
  git(args: readonly string[], extra: { env?: Record<string, string>; input?: string } = {}) {
    return run(this.#ctx, this.remote, this.dir, args, extra);
  }

  /**
   * Fetches the branch and makes the work tree, index and branch exactly the remote tip.
   * `clean: false` leaves untracked files (a write interrupted by a crash): fine for a writer,
   * which replaces whole folders and stages only its own, and saves a git process. Readers clean.
   */
  async sync(options: { clean?: boolean } = {}): Promise<void> {
    const { branch } = this;
    try {
      await this.git([
        'fetch',
        '--no-tags',
        'origin',
        `+refs/heads/${branch}:${trackingRef(branch)}`,
      ]);
    } catch (error) {
      if (gitFailureOf(error) !== GitFailure.branchNotFound) throw error;
      if (!(await remoteIsEmpty(this.#ctx, this.remote, this.dir))) {
        throw new ConfigError(
          `branch ${JSON.stringify(branch)} does not exist in the IAC repository (was it deleted?)`,
          { cause: error },
        );
      }
      await this.#resetToEmpty();
      return;
    }
    await this.git([
      'checkout',
      '--quiet',
      '--force',
      '--no-track',
      '-B',
      branch,
      trackingRef(branch),
    ]);
    if (options.clean !== false) await this.git(['clean', '-ffdxq']);
  }

  /** The commit HEAD points at, or '' while the branch has no commit (an empty repository). */
  async head(): Promise<string> {
    try {
      return (await this.git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])).stdout.trim();
    } catch {
      return '';
    }
  }

  /** Removes the clone, e.g. when it is broken; the next open() clones again. */
  async discard(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  // The remote has no branch at all yet: start the branch from nothing (the first push creates it).
  async #resetToEmpty(): Promise<void> {
    const { branch } = this;
    await this.git(['symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
    await this.git(['update-ref', '-d', `refs/heads/${branch}`]);
    await this.git(['read-tree', '--empty']);
    await this.git(['clean', '-ffdxq']);
  }
}

function trackingRef(branch: string): string {
  return `refs/remotes/origin/${branch}`;
}

function run(
  ctx: CloneContext,
  remote: IacRemote,
  cwd: string,
  args: readonly string[],
  extra: { env?: Record<string, string>; input?: string } = {},
): Promise<GitResult> {
  ctx.log.debug({ git: args[0], cwd }, 'git');
  return ctx.git(args, {
    cwd,
    token: remote.token,
    user: remote.user,
    timeoutMs: ctx.timeoutMs,
    home: ctx.home,
    ...extra,
  });
}

async function cloneInto(
  ctx: CloneContext,
  remote: IacRemote,
  branch: string | null,
  dir: string,
): Promise<string> {
  // Clone next to the final place and rename, so a crash never leaves a half clone in the cache.
  const tmp = `${dir}.tmp-${randomBytes(4).toString('hex')}`;
  const base = ['clone', '--quiet', '--no-tags', '--single-branch'];
  ctx.log.info({ repo: remote.url, branch }, 'cloning the IAC repository');
  try {
    try {
      const branchArgs = branch ? [`--branch=${branch}`] : [];
      await run(ctx, remote, ctx.cacheDir, [...base, ...branchArgs, '--', remote.url, tmp]);
    } catch (error) {
      if (!branch || gitFailureOf(error) !== GitFailure.branchNotFound) throw error;
      // `clone --branch` fails on an empty repository: clone it as is, then name the branch.
      if (!(await remoteIsEmpty(ctx, remote, ctx.cacheDir))) {
        throw new ConfigError(
          `branch ${JSON.stringify(branch)} does not exist in the IAC repository`,
          { cause: error },
        );
      }
      await rm(tmp, { recursive: true, force: true });
      await run(ctx, remote, ctx.cacheDir, [...base, '--', remote.url, tmp]);
      await run(ctx, remote, tmp, ['symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
    }
    const resolved = branch ?? (await currentBranch(ctx, remote, tmp));
    await rename(tmp, dir).catch(async (error: unknown) => {
      // Another process sharing the cache directory cloned first: use its clone.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      await rm(tmp, { recursive: true, force: true });
    });
    return resolved;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}

async function currentBranch(ctx: CloneContext, remote: IacRemote, dir: string): Promise<string> {
  const out = await run(ctx, remote, dir, ['symbolic-ref', '--short', 'HEAD']);
  return out.stdout.trim();
}

async function remoteIsEmpty(ctx: CloneContext, remote: IacRemote, cwd: string): Promise<boolean> {
  // Outside a repository `origin` means nothing: name the URL (it carries no credentials).
  const where = cwd === ctx.cacheDir ? remote.url : 'origin';
  const out = await run(ctx, remote, cwd, ['ls-remote', '--heads', '--', where]);
  return out.stdout.trim() === '';
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
