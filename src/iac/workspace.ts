import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DagError, TransientError, UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { checkFilePaths, checkFolderPath } from './change-paths.ts';
import { IacClone, type CloneContext } from './clone.ts';
import { readFolder, replaceFolder } from './folder.ts';
import { GitFailure, gitFailureOf } from './git-errors.ts';
import { runGit, type GitRunner } from './git.ts';
import { withKeyedLock } from './keyed-lock.ts';
import { checkBranchName, parseRemote, type IacRemote } from './remote.ts';

/** Where DAG writes: a repository URL (credentials in it are stripped), a token, a branch. */
export type IacTarget = {
  url: string;
  token: string | null;
  /** null: the repository's default branch. */
  branch: string | null;
};

/** Replace folder `path` of the repository so it contains exactly `files`, in one commit. */
export type IacChange = {
  path: string;
  /** Relative paths inside the folder (subfolders allowed) and their text content. */
  files: Record<string, string>;
  message: string;
};

export type ApplyOptions = {
  author: { name: string; email: string };
  /** Push attempts when the branch keeps moving under DAG; 5 by default. */
  maxAttempts?: number;
  /** Base of the exponential backoff between push attempts; 200 ms by default. */
  backoffMs?: number;
};

export type ApplyResult = {
  branch: string;
  /** One entry per change, in order; sha null when the change was a no-op. */
  commits: { message: string; sha: string | null }[];
  /** The branch tip after apply ('' only for a still-empty repository). */
  head: string;
  pushed: boolean;
  attempts: number;
};

export type FolderSnapshot = { branch: string; head: string; files: Record<string, string> };

export type IacWorkspaceOptions = {
  cacheDir: string;
  log: Logger;
  /** Per git command; 120 s by default. */
  timeoutMs?: number;
  /** The git runner (tests wrap runGit to observe commands). */
  git?: GitRunner;
  /** Injected for tests. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
};

/**
 * DAG's writes to IAC repositories. Keeps one cached clone per (repository, branch) under
 * cacheDir; each change becomes its own commit by the bot; commits go out in one push that is
 * never forced. When another writer moved the branch meanwhile, the changes are applied again
 * on the new tip (they are folder replacements, so this is exact) and pushed again.
 */
export class IacWorkspace {
  readonly #ctx: CloneContext;
  readonly #random: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  private constructor(
    ctx: CloneContext,
    random: () => number,
    pause: (ms: number) => Promise<void>,
  ) {
    this.#ctx = ctx;
    this.#random = random;
    this.#sleep = pause;
  }

  static async create(options: IacWorkspaceOptions): Promise<IacWorkspace> {
    const cacheDir = resolve(options.cacheDir);
    // git's HOME: empty, so no ~/.netrc, ~/.gitconfig or ~/.config/git can influence it.
    // (Clone directories are named by hashes, so this name cannot collide with one.)
    const home = join(cacheDir, '.git-home');
    await mkdir(home, { recursive: true });
    return new IacWorkspace(
      {
        cacheDir,
        home,
        log: options.log,
        git: options.git ?? runGit,
        timeoutMs: options.timeoutMs ?? 120_000,
      },
      options.random ?? Math.random,
      options.sleep ?? sleep,
    );
  }

  async apply(
    target: IacTarget,
    changes: IacChange[],
    options: ApplyOptions,
  ): Promise<ApplyResult> {
    const planned = changes.map(checkChange);
    const author = checkAuthor(options.author);
    const maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 5));
    const backoffMs = Math.max(0, options.backoffMs ?? 200);
    const remote = parseRemote(target.url, target.token);
    const branch = target.branch === null ? null : checkBranchName(target.branch);
    const log = this.#ctx.log.child({ repo: remote.url });

    return this.#withClone(remote, branch, async (clone) => {
      for (let attempt = 1; ; attempt++) {
        if (attempt > 1) await clone.sync();
        const commits = await commitChanges(clone, planned, author);
        const head = commits.findLast((c) => c.sha !== null)?.sha ?? (await clone.head());
        const result = { branch: clone.branch, commits, head, attempts: attempt };
        if (commits.every((commit) => commit.sha === null)) {
          log.info(
            { branch: clone.branch, head },
            'IAC folders already up to date: nothing to push',
          );
          return { ...result, pushed: false };
        }
        try {
          await clone.git(['push', '--porcelain', 'origin', `HEAD:refs/heads/${clone.branch}`]);
          log.info(
            { branch: clone.branch, head, commits: commits.filter((c) => c.sha).length, attempt },
            'pushed to the IAC repository',
          );
          return { ...result, pushed: true };
        } catch (error) {
          if (gitFailureOf(error) !== GitFailure.remoteMoved) throw error;
          if (attempt >= maxAttempts) {
            throw new TransientError(
              `the IAC branch ${JSON.stringify(clone.branch)} kept moving while DAG pushed: gave up after ${attempt} attempts`,
              { cause: error },
            );
          }
          const delay = backoffDelay(attempt, backoffMs, this.#random);
          log.info(
            { branch: clone.branch, attempt, delayMs: delay },
            'the IAC branch moved under DAG: applying the changes again on the new tip',
          );
          await this.#sleep(delay);
        }
      }
    });
  }

  /** The files of folder `path` at the remote tip of the branch (e.g. for diff previews). */
  async read(target: IacTarget, path: string): Promise<FolderSnapshot> {
    const folder = checkFolderPath(path);
    const remote = parseRemote(target.url, target.token);
    const branch = target.branch === null ? null : checkBranchName(target.branch);
    return this.#withClone(remote, branch, async (clone) => ({
      branch: clone.branch,
      head: await clone.head(),
      files: await readFolder(clone.dir, folder),
    }));
  }

  /**
   * Runs fn on the clone of (remote, branch), serialized per clone and synced to the remote
   * tip. A cached clone that git cannot work with is discarded and cloned again, once.
   */
  #withClone<T>(
    remote: IacRemote,
    branch: string | null,
    fn: (clone: IacClone) => Promise<T>,
  ): Promise<T> {
    const lockKey = `${this.#ctx.cacheDir}\n${remote.url}\n${branch ?? ''}`;
    return withKeyedLock(lockKey, async () => {
      let clone = await IacClone.open(this.#ctx, remote, branch);
      if (!clone.fresh) {
        try {
          await clone.sync();
        } catch (error) {
          if (!(error instanceof DagError) || error.kind !== 'internal') throw error;
          this.#ctx.log.warn(
            { err: error, repo: remote.url },
            'the cached IAC clone is unusable: cloning again',
          );
          await clone.discard();
          clone = await IacClone.open(this.#ctx, remote, branch);
        }
      }
      return fn(clone);
    });
  }
}

async function commitChanges(
  clone: IacClone,
  changes: IacChange[],
  author: { name: string; email: string },
): Promise<ApplyResult['commits']> {
  const env = {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
  const commits: ApplyResult['commits'] = [];
  for (const change of changes) {
    await replaceFolder(clone.dir, change.path, change.files);
    // --force: DAG commits every file it renders, even one the repository's .gitignore matches.
    await clone.git(['add', '--all', '--force', '--', change.path]);
    const staged = await clone.git(['diff', '--cached', '--name-only', '-z', '--', change.path]);
    if (staged.stdout === '') {
      commits.push({ message: change.message, sha: null });
      continue;
    }
    await clone.git(
      ['commit', '--quiet', '--no-verify', '--no-gpg-sign', '--cleanup=whitespace', '-F', '-'],
      { env, input: change.message },
    );
    commits.push({ message: change.message, sha: await clone.head() });
  }
  return commits;
}

function checkChange(change: IacChange): IacChange {
  const path = checkFolderPath(change.path);
  checkFilePaths(path, change.files);
  if (change.message.trim() === '') {
    throw new UserError(`the change to IAC path ${JSON.stringify(path)} has no commit message`);
  }
  return { path, files: change.files, message: change.message };
}

function checkAuthor(author: { name: string; email: string }): { name: string; email: string } {
  const bad = (text: string): boolean => text.trim() === '' || /[<>\n]/.test(text);
  if (bad(author.name) || bad(author.email)) {
    throw new UserError('the IAC commit author needs a name and an email address');
  }
  return author;
}
