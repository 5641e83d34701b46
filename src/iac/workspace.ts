import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, DagError, TransientError, UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { backoffDelay, sleep } from './backoff.ts';
import {
  changedFiles,
  checkCommitId,
  fetchBranch,
  isRebuildOf,
  pushWithLease,
  remoteBranchHead,
  type ChangedFile,
} from './branch.ts';
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

export type PublishOptions = ApplyOptions & {
  /** The commit DAG last pushed to `head`, or null when DAG believes the branch does not exist. */
  expectedHead: string | null;
};

export type { ChangedFile };

export type PublishResult =
  /** The base branch already holds exactly these folders: nothing to propose, nothing pushed. */
  | { status: 'nothing'; base: string }
  /** `head` now is one commit on the base tip with the changes (pushed, or already exactly that). */
  | { status: 'pushed' | 'up-to-date'; base: string; head: string; files: ChangedFile[] }
  /** `head` has a commit DAG did not push (a person pushed to it): nothing was pushed. */
  | { status: 'foreign'; base: string; remoteHead: string };

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
  /** Hears each push tried again because the branch moved under DAG (metrics). */
  onPushRetry?: () => void;
  /** Hosts of the GitLab DAG is configured for (GITLAB_URL): git's user name there is GitLab's. */
  gitlabHosts?: readonly string[];
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
  readonly #onPushRetry: () => void;

  private constructor(
    ctx: CloneContext,
    random: () => number,
    pause: (ms: number) => Promise<void>,
    onPushRetry: () => void,
  ) {
    this.#ctx = ctx;
    this.#random = random;
    this.#sleep = pause;
    this.#onPushRetry = onPushRetry;
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
        gitlabHosts: (options.gitlabHosts ?? []).map((host) => host.toLowerCase()),
      },
      options.random ?? Math.random,
      options.sleep ?? sleep,
      options.onPushRetry ?? (() => {}),
    );
  }

  /**
   * The same workspace (cache, clones and their locks) logging to `log`: a job's logger, so
   * the lines of its git work carry the job's ids.
   */
  withLog(log: Logger): IacWorkspace {
    return new IacWorkspace({ ...this.#ctx, log }, this.#random, this.#sleep, this.#onPushRetry);
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
    const remote = parseRemote(target.url, target.token, this.#ctx.gitlabHosts);
    const branch = target.branch === null ? null : checkBranchName(target.branch);
    const log = this.#ctx.log.child({ repo: remote.url });

    return this.#withClone(
      remote,
      branch,
      async (clone) => {
        for (let attempt = 1; ; attempt++) {
          if (attempt > 1) await clone.sync({ clean: false });
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
            await clone.git([
              'push',
              '--porcelain',
              'origin',
              `${head}:refs/heads/${clone.branch}`,
            ]);
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
            this.#onPushRetry();
            await this.#sleep(delay);
          }
        }
      },
      { clean: false },
    );
  }

  /**
   * Makes DAG's own branch `head` (e.g. a promotion pull request's) exactly one commit by the
   * bot on the current tip of the target branch (the base), holding the changes. The push is
   * leased on options.expectedHead, so a commit someone else pushed to `head` is never
   * overwritten; the base branch is never pushed to, and its cached clone is left at its tip.
   * `base` in the result is the base tip the branch was built on.
   */
  async publishBranch(
    target: IacTarget,
    head: string,
    changes: IacChange[],
    options: PublishOptions,
  ): Promise<PublishResult> {
    const planned = changes.map(checkChange);
    const author = checkAuthor(options.author);
    const expected = checkCommitId(options.expectedHead);
    const remote = parseRemote(target.url, target.token, this.#ctx.gitlabHosts);
    const base = target.branch === null ? null : checkBranchName(target.branch);
    const branch = checkOwnBranch(head, base);
    const log = this.#ctx.log.child({ repo: remote.url });

    return this.#withClone(remote, base, async (clone) => {
      checkOwnBranch(branch, clone.branch);
      const baseTip = await clone.head();
      if (baseTip === '') {
        throw new ConfigError(
          `branch ${JSON.stringify(clone.branch)} of the IAC repository has no commit yet: DAG cannot propose changes on top of it`,
        );
      }
      // Commit on a detached HEAD, so the base branch never moves; back to it afterwards.
      await clone.git(['checkout', '--quiet', '--detach']);
      let result: PublishResult;
      try {
        result = await publishOn(clone, baseTip, branch, planned, author, expected);
      } finally {
        await restoreBranch(clone).catch((error: unknown) => {
          log.warn({ err: error }, 'could not reset the cached IAC clone: its next use resets it');
        });
      }
      log.info(
        {
          branch,
          base: clone.branch,
          status: result.status,
          ...(result.status === 'foreign'
            ? { remoteHead: result.remoteHead }
            : result.status === 'nothing'
              ? {}
              : { head: result.head }),
        },
        "publishing DAG's IAC branch",
      );
      return result;
    });
  }

  /**
   * Deletes DAG's own branch `head` if it still is at `expectedHead`, the commit DAG last pushed
   * to it (with a lease: a commit someone else pushed meanwhile is never deleted). 'foreign'
   * when it holds another commit (any commit when expectedHead is null).
   */
  async deleteBranch(
    target: IacTarget,
    head: string,
    expectedHead: string | null,
  ): Promise<'deleted' | 'absent' | 'foreign'> {
    const expected = checkCommitId(expectedHead);
    const remote = parseRemote(target.url, target.token, this.#ctx.gitlabHosts);
    const base = target.branch === null ? null : checkBranchName(target.branch);
    const branch = checkOwnBranch(head, base);
    const log = this.#ctx.log.child({ repo: remote.url });

    return this.#withClone(remote, base, async (clone) => {
      checkOwnBranch(branch, clone.branch);
      const result = await deleteOn(clone, branch, expected);
      log.info({ branch, base: clone.branch, status: result }, "deleting DAG's IAC branch");
      return result;
    });
  }

  /** The files of folder `path` at the remote tip of the branch (e.g. for diff previews). */
  async read(target: IacTarget, path: string): Promise<FolderSnapshot> {
    const { branch, head, folders } = await this.readFolders(target, [path]);
    return { branch, head, files: folders[0] ?? {} };
  }

  /** The files of several folders at one remote tip of the branch (one fetch), in order. */
  async readFolders(
    target: IacTarget,
    paths: string[],
  ): Promise<{ branch: string; head: string; folders: Record<string, string>[] }> {
    const folders = paths.map(checkFolderPath);
    const remote = parseRemote(target.url, target.token, this.#ctx.gitlabHosts);
    const branch = target.branch === null ? null : checkBranchName(target.branch);
    return this.#withClone(remote, branch, async (clone) => ({
      branch: clone.branch,
      head: await clone.head(),
      folders: await Promise.all(folders.map((folder) => readFolder(clone.dir, folder))),
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
    options: { clean?: boolean } = {},
  ): Promise<T> {
    const lockKey = `${this.#ctx.cacheDir}\n${remote.url}\n${branch ?? ''}`;
    return withKeyedLock(lockKey, async () => {
      let clone = await IacClone.open(this.#ctx, remote, branch);
      if (!clone.fresh) {
        try {
          await clone.sync(options);
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

/**
 * One commit per change, chained on the clone's HEAD, built with git's plumbing: per change
 * `add`, `write-tree` (the same tree as its parent's: a no-op) and `commit-tree`, so a group of
 * deploys costs three git processes each. The branch itself is not moved: the push names the
 * last commit, and the clone's next use resets it to the remote tip.
 */
async function commitChanges(
  clone: IacClone,
  changes: IacChange[],
  author: { name: string; email: string },
): Promise<ApplyResult['commits']> {
  // The tip and its tree in one process; none yet in an empty repository.
  const [tip = '', tipTree = ''] = await clone
    .git(['rev-parse', 'HEAD^{commit}', 'HEAD^{tree}'])
    .then(
      (r) => r.stdout.trim().split('\n'),
      () => [],
    );
  let parent = tip;
  let tree = tipTree;
  const commits: ApplyResult['commits'] = [];
  for (const change of changes) {
    await stageFolder(clone, change);
    const next = (await clone.git(['write-tree'])).stdout.trim();
    if (next === tree) {
      commits.push({ message: change.message, sha: null });
      continue;
    }
    const sha = (
      await clone.git(
        ['commit-tree', '--no-gpg-sign', next, ...(parent === '' ? [] : ['-p', parent]), '-F', '-'],
        { env: botIdentity(author), input: withFinalNewline(change.message) },
      )
    ).stdout.trim();
    commits.push({ message: change.message, sha });
    parent = sha;
    tree = next;
  }
  return commits;
}

function withFinalNewline(message: string): string {
  const trimmed = message.replace(/\s+$/, '');
  return `${trimmed}\n`;
}

function botIdentity(author: { name: string; email: string }): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
  };
}

/** Makes the change's folder hold exactly its files, and stages it. */
async function stageFolder(clone: IacClone, change: IacChange): Promise<void> {
  await replaceFolder(clone.dir, change.path, change.files);
  await clone.git(
    Object.keys(change.files).length === 0
      ? // A deletion: `git add` fails on a path that matches nothing (a folder already gone).
        ['rm', '-r', '--cached', '--quiet', '--ignore-unmatch', '--', change.path]
      : // --force: DAG commits every file it renders, even one a .gitignore matches.
        ['add', '--all', '--force', '--', change.path],
  );
}

/** Makes the change's folder hold exactly its files and stages it; false when nothing changed. */
async function stageChange(clone: IacClone, change: IacChange): Promise<boolean> {
  await stageFolder(clone, change);
  const staged = await clone.git(['diff', '--cached', '--name-only', '-z', '--', change.path]);
  return staged.stdout !== '';
}

/** Commits what is staged, with the bot as author and committer: the new commit. */
async function commitStaged(
  clone: IacClone,
  author: { name: string; email: string },
  message: string,
): Promise<string> {
  await clone.git(
    ['commit', '--quiet', '--no-verify', '--no-gpg-sign', '--cleanup=whitespace', '-F', '-'],
    { env: botIdentity(author), input: message },
  );
  return clone.head();
}

/** publishBranch on the clone, detached at the base tip. */
async function publishOn(
  clone: IacClone,
  baseTip: string,
  head: string,
  changes: IacChange[],
  author: { name: string; email: string },
  expected: string | null,
): Promise<PublishResult> {
  const foreign = (remoteHead: string): PublishResult => ({
    status: 'foreign',
    base: baseTip,
    remoteHead,
  });
  // What the push is leased on: DAG's own commit, or null when the branch is absent (also
  // when a person deleted it: DAG may recreate it). One fetch tells, and brings its commit.
  const lease = await fetchBranch(clone, head);
  if (lease !== null && lease !== expected) return foreign(lease);

  const messages: string[] = [];
  for (const change of changes) {
    if (await stageChange(clone, change)) messages.push(change.message);
  }
  if (messages.length === 0) return { status: 'nothing', base: baseTip };
  const sha = await commitStaged(clone, author, messages.join('\n\n'));
  const files = await changedFiles(clone, baseTip, sha);
  if (lease !== null && (await isRebuildOf(clone, lease, baseTip, sha))) {
    return { status: 'up-to-date', base: baseTip, head: lease, files };
  }
  if (await pushWithLease(clone, head, sha, lease)) {
    return { status: 'pushed', base: baseTip, head: sha, files };
  }
  const now = await remoteBranchHead(clone, head);
  if (now === null || now === lease) throw leaseRefused(head);
  return foreign(now);
}

/** deleteBranch on the clone. */
async function deleteOn(
  clone: IacClone,
  head: string,
  expected: string | null,
): Promise<'deleted' | 'absent' | 'foreign'> {
  const current = await remoteBranchHead(clone, head);
  if (current === null) return 'absent';
  if (current !== expected) return 'foreign';
  if (await pushWithLease(clone, head, '', current)) return 'deleted';
  const now = await remoteBranchHead(clone, head);
  if (now === null) return 'absent';
  if (now === current) throw leaseRefused(head);
  return 'foreign';
}

// The lease was refused, yet the branch is where DAG expected it (a transient refusal, or a
// person's change that came and went): nothing is known to be wrong, so try again later.
function leaseRefused(head: string): TransientError {
  return new TransientError(
    `the IAC branch ${JSON.stringify(head)} changed while DAG pushed to it: try again`,
  );
}

/** Back on the base branch at its tip (which it never left), with a clean work tree. */
async function restoreBranch(clone: IacClone): Promise<void> {
  await clone.git(['checkout', '--quiet', '--force', clone.branch, '--']);
  await clone.git(['clean', '-ffdxq']);
}

/** Checks the name of DAG's own branch, which must not be its base branch. */
function checkOwnBranch(head: string, base: string | null): string {
  const branch = checkBranchName(head);
  if (branch === base) {
    throw new ConfigError(
      `DAG's IAC branch ${JSON.stringify(branch)} must differ from its base branch`,
    );
  }
  return branch;
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
