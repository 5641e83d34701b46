import type { RepoRef } from '../events/types.ts';
import { UserError } from '../errors.ts';
import type { Permission } from '../model.ts';

/** `inactive`: superseded before it rolled out (GitLab: canceled). */
export type DeploymentState = 'queued' | 'in_progress' | 'success' | 'failure' | 'inactive';

/**
 * What workflows need from a git hosting provider, the same for GitHub and GitLab.
 * Instances are built per event (they carry that event's credentials), never shared globally.
 */
export interface Platform {
  readonly provider: 'github' | 'gitlab';
  /** A file's text at a commit, or undefined when it does not exist. */
  readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined>;
  /** Every file under a folder at a commit (paths relative to it), or undefined if no folder. */
  readFolder(repo: RepoRef, ref: string, path: string): Promise<Record<string, string> | undefined>;
  /**
   * Creates the provider's deployment record for an environment; returns its id. `attempt`
   * (above 1: a redeploy of the commit) is kept with it (GitHub: in its payload), or told by the
   * order the commit's deployments were created in (GitLab: its deployments hold no data), so
   * findDeployment can tell them apart.
   */
  createDeployment(
    repo: RepoRef,
    input: {
      sha: string;
      ref: string;
      environment: string;
      description: string;
      attempt?: number | undefined;
    },
  ): Promise<string>;
  /**
   * Optional: the deployment DAG created for this commit, environment and attempt, if any.
   * Asked only when a DAG process that claimed the creation died before storing the id.
   */
  findDeployment?(
    repo: RepoRef,
    input: { sha: string; environment: string; attempt: number },
  ): Promise<string | undefined>;
  setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: {
      state: DeploymentState;
      description: string;
      logUrl?: string | undefined;
      /**
       * A report run again after its worker died: the state may have been posted just before
       * the crash. The provider is read first and a state it shows already is not posted again.
       */
      resume?: boolean | undefined;
    },
  ): Promise<void>;
}

/** Limits for reading a chart folder through a provider API. */
export const FOLDER_LIMITS = { files: 200, bytes: 2 * 1024 * 1024 } as const;

export type PullRequestInfo = {
  number: number;
  headSha: string;
  headRef: string;
  baseRef: string;
  /** The head branch lives in another repository. */
  fork: boolean;
  open: boolean;
};

export type Reaction = 'eyes' | '+1' | '-1' | 'confused' | 'rocket';

/**
 * Where a comment thread lives: a pull (merge) request, or an issue. GitHub keeps both in one
 * numbering and one comments API; GitLab numbers issues and merge requests apart and gives each
 * its own notes, so the kind says which `number` is meant.
 */
export type ThreadKind = 'request' | 'issue';

export type CheckReport = {
  name: string;
  sha: string;
  status: 'in_progress' | 'completed';
  conclusion?: 'success' | 'neutral' | 'failure' | undefined;
  title: string;
  summary: string;
  text?: string | undefined;
};

export type RequestNoun = 'pull request' | 'merge request';

/** How the provider's own text names its requests, for every text DAG writes there. */
export interface RequestNames {
  /** What the provider calls a pull request in text DAG writes (GitLab: `merge request`). */
  readonly changeRequestNoun: RequestNoun;
  /** How the provider's text refers to request `number` (`#7` on GitHub, `!7` on GitLab). */
  changeRequestRef(number: number): string;
}

/**
 * What pull-request commands need from a provider: who may run them, the state of the pull
 * request, and DAG's replies (one sticky comment per topic, edited in place).
 */
export interface PullRequests extends RequestNames {
  /**
   * Where a preview too large for its comments is read: `check-runs` (GitHub: check runs hold
   * pages of text, linked from the comment), or `comments` only (GitLab: a commit status holds
   * a title, so the notes, each up to `commentMaxChars`, are all there is). Absent: check runs.
   */
  readonly fullPreviewIn?: 'check-runs' | 'comments';
  /** The most characters of one sticky comment DAG writes; absent: GitHub's (60,000). */
  readonly commentMaxChars?: number;
  getPullRequest(repo: RepoRef, number: number): Promise<PullRequestInfo>;
  /**
   * The merged request that made commit `sha` (its merge commit, or its head when it was
   * fast-forwarded onto the branch; one into `branch` first), or undefined when none did.
   * Optional: a provider without it gets no deployment cards.
   */
  shippedBy?(repo: RepoRef, sha: string, branch: string): Promise<number | undefined>;
  /**
   * The commenter's permission on the repository, from the provider's API: by login (GitHub),
   * or by `userId`, which GitLab's events carry and its members API asks for.
   */
  permissionOf(repo: RepoRef, user: string, userId?: number | undefined): Promise<Permission>;
  /**
   * Optional: whether the user is the account DAG itself writes with, whose comments are never
   * commands (GitLab: the token's user). Without it, the event's `byBot` says so (GitHub).
   */
  isOwnAccount?(userId: number): Promise<boolean>;
  /** Approved by someone, with no outstanding request for changes. */
  isApproved(repo: RepoRef, number: number): Promise<boolean>;
  /** Every check run and commit status on the commit passed (ignoring `ignore` names). */
  checksPassed(repo: RepoRef, sha: string, ignore: string[]): Promise<boolean>;
  /** Acknowledges comment `comment.id` on pull request (or issue: `kind`) `comment.number`. */
  react(
    repo: RepoRef,
    comment: { number: number; id: number; kind?: ThreadKind | undefined },
    reaction: Reaction,
  ): Promise<void>;
  /**
   * DAG's comments on the topic, edited in place: `bodies[i]` goes into part i (found by its
   * hidden `<!-- dag:<topic>:<i> -->` marker), missing parts are created, surplus ones deleted.
   * `kind`: the thread is an issue's (default: a pull request's).
   */
  upsertComments(
    repo: RepoRef,
    number: number,
    topic: string,
    bodies: string[],
    kind?: ThreadKind,
  ): Promise<void>;
  /**
   * The bodies DAG last put in the topic's comments, part by part (as given to upsertComments,
   * without the marker); empty when there is none. Only DAG's own comments are read.
   */
  readComments(repo: RepoRef, number: number, topic: string): Promise<string[]>;
  /**
   * Creates or updates DAG's check run of this name on the commit; returns its web page (known
   * only once it exists, so a comment linking it is written after it). GitLab has no check
   * runs: a commit status of the name carries the state and the title, no text, and there is no
   * page to link (undefined).
   */
  publishCheck(repo: RepoRef, check: CheckReport): Promise<string | undefined>;
  /**
   * Completes DAG's check runs on the commit whose name starts with `prefix` and is not in
   * `keep` with `output` (neutral), unless they say so already: a check run cannot be deleted,
   * so the parts a smaller preview no longer needs say that they hold nothing.
   */
  retireChecks(
    repo: RepoRef,
    sha: string,
    prefix: string,
    keep: readonly string[],
    output: { title: string; summary: string },
  ): Promise<void>;
}

/** The hidden marker of part `part` of a topic's sticky comment. */
export function commentMarker(topic: string, part: number): string {
  return `<!-- dag:${topic}:${part} -->`;
}

/** A pull request (GitHub) or merge request (GitLab) DAG opened or looks for. */
export type ChangeRequest = {
  number: number;
  /** Web address, for links. */
  url: string;
  state: 'open' | 'closed' | 'merged';
  headRef: string;
  baseRef: string;
  headSha: string;
  title: string;
  body: string;
  /** The commit the merge produced (merged only). */
  mergeCommitSha: string | null;
};

/** What `head` has that `base` has not, from the provider's compare API (one request). */
export type Comparison = {
  /** Commits in head and not in base, oldest first, at most the `limit` asked for. */
  commits: { sha: string; title: string; author: string | null; url: string }[];
  /** How many commits head is ahead of base in all. */
  totalCommits: number;
  /** Paths of the files that differ (as many as the provider lists). */
  files: string[];
  /** Web address of the comparison. */
  url: string;
};

/**
 * Pull (merge) requests DAG opens itself: promotion PRs, in an application or an IAC
 * repository. Every method is one or two provider requests, whatever the size of the change.
 */
export interface ChangeRequests extends RequestNames {
  readonly provider: 'github' | 'gitlab';
  /** The longest description the provider accepts. */
  readonly maxBodyLength: number;
  /** The open request from branch `head` into `base` of the same repository, if any. */
  findOpenChangeRequest(
    repo: RepoRef,
    head: string,
    base: string,
  ): Promise<ChangeRequest | undefined>;
  getChangeRequest(repo: RepoRef, number: number): Promise<ChangeRequest>;
  createChangeRequest(
    repo: RepoRef,
    input: { head: string; base: string; title: string; body: string; labels: string[] },
  ): Promise<ChangeRequest>;
  updateChangeRequest(
    repo: RepoRef,
    number: number,
    input: { title: string; body: string },
  ): Promise<ChangeRequest>;
  /** Posts `note` as a comment, then closes the request. */
  closeChangeRequest(repo: RepoRef, number: number, note: string): Promise<void>;
  commentOnChangeRequest(repo: RepoRef, number: number, body: string): Promise<void>;
  compare(repo: RepoRef, base: string, head: string, limit: number): Promise<Comparison>;
}

/** One file a commit writes: its new content (null: deleted), and whether the base has it. */
export type FileWrite = { content: string | null; existsAtBase: boolean };

export type CommitFilesInput = {
  /** The branch DAG owns and moves (created when absent). */
  branch: string;
  /** The commit the new commit is made on top of (its only parent). */
  base: string;
  /**
   * Where DAG expects the branch to be now: the head it pushed last, or null when the branch
   * must not exist yet. Any other head means someone else pushed: BranchMovedError, no write.
   */
  expectedHead: string | null;
  message: string;
  /** Repository path → what to write there. */
  files: Record<string, FileWrite>;
};

/**
 * A branch was not where DAG expected it (a person pushed to it, or another run moved it):
 * nothing was written. `actualHead` is its head (null: the branch does not exist).
 */
export class BranchMovedError extends UserError {
  readonly branch: string;
  readonly actualHead: string | null;

  constructor(branch: string, expected: string | null, actualHead: string | null) {
    super(
      `branch ${branch} is at ${actualHead?.slice(0, 7) ?? '(none)'}, not at ${expected?.slice(0, 7) ?? '(none)'} where DAG left it; DAG does not overwrite what it did not push`,
      { status: 409 },
    );
    this.branch = branch;
    this.actualHead = actualHead;
  }
}

/** The branches DAG writes in application repositories: its own, never a person's. */
export const DAG_BRANCH_PREFIX = 'dag/';

/** commitFiles asked to write a branch outside DAG_BRANCH_PREFIX: refused before any request. */
export class ForeignBranchError extends UserError {
  constructor(branch: string) {
    super(
      `DAG writes only its own branches (${DAG_BRANCH_PREFIX}...) in application repositories, not ${branch}`,
      { status: 403 },
    );
    this.name = 'ForeignBranchError';
  }
}

/** Throws ForeignBranchError unless `branch` is one of DAG's (`dag/<something>`). */
export function assertDagBranch(branch: string): void {
  if (!branch.startsWith(DAG_BRANCH_PREFIX) || branch.length === DAG_BRANCH_PREFIX.length) {
    throw new ForeignBranchError(branch);
  }
}

/**
 * Writes to an application repository through the provider's API (no clone): DAG's own branch
 * moved to one new commit on top of a base, guarded by the head DAG expects.
 */
export interface BranchCommits {
  /** The branch's head commit, or null when the branch does not exist. */
  branchHead(repo: RepoRef, branch: string): Promise<string | null>;
  /**
   * Makes one commit with `files` on top of `base` and points `branch` at it (creating the
   * branch, or moving it even when that is not a fast-forward), after checking the branch is at
   * `expectedHead`: otherwise throws BranchMovedError and writes nothing. The check and the move
   * are two requests (neither provider offers a compare-and-swap on a forced ref update), so a
   * push in the moment between them is overwritten; a branch created by someone else in that
   * moment is not (creation fails, BranchMovedError). A branch outside DAG_BRANCH_PREFIX is
   * refused (ForeignBranchError) before anything is read or written.
   */
  commitFiles(repo: RepoRef, input: CommitFilesInput): Promise<{ sha: string }>;
}

/**
 * What DAG needs of a provider, which GitHub and GitLab both implement in full: the deploy
 * reports, pull or merge requests (comments, permissions, checks), change requests of its own
 * (promotions, fixes) and commits on its own branches. Workflows take this, not a guess.
 */
export type ForgePlatform = Platform & PullRequests & ChangeRequests & BranchCommits;
