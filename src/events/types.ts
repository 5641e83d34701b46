/** A repository as the provider named it in an event: enough to call its API and match it. */
export type RepoRef = {
  provider: 'github' | 'gitlab';
  /** owner/repo on GitHub; the full path with subgroups on GitLab. */
  fullName: string;
  /** Every URL the event gives for the repository (web, https clone, ssh clone). */
  urls: string[];
  /** GitLab project id. */
  projectId?: number;
  /** GitHub App installation that sent the event. */
  installationId?: number;
  /** Web URL, for links. */
  webUrl: string;
};

/** A push of commits to a branch, from either provider. */
export type PushEvent = {
  kind: 'push';
  repo: RepoRef;
  branch: string;
  /** The pushed head commit. */
  sha: string;
  before: string;
  /** Who pushed, as the provider shows them. */
  pusher: string;
  commitUrl: string;
};

/** What an incoming event is to DAG: something to act on, or a reason to ignore it. */
export type Normalized<T> = { event: T } | { ignored: string };

/** A new comment on a pull request (or issue), which may hold commands. */
export type CommentEvent = {
  kind: 'comment';
  repo: RepoRef;
  /** Pull request (or issue) number. */
  number: number;
  isPullRequest: boolean;
  commentId: number;
  body: string;
  author: string;
  /** The author's user id, where the provider's permission API asks for it (GitLab). */
  authorId?: number | undefined;
  /**
   * Written by a bot (on GitHub DAG itself included): never a command. On GitLab DAG's own
   * notes are told by the platform (`isOwnAccount`).
   */
  byBot: boolean;
};

/** A pull request (GitLab: merge request) opened, reopened or pushed to. */
export type PullRequestEvent = {
  kind: 'pull_request';
  repo: RepoRef;
  number: number;
  action: 'opened' | 'reopened' | 'synchronize';
  headSha: string;
  headRef: string;
  baseRef: string;
  fork: boolean;
};

/** A pull request merged into its base branch. */
/**
 * A pull request merged, closed unmerged or reopened, with its description: the fix proposals
 * DAG's fix pull request holds follow its state.
 */
export type PullRequestStateEvent = {
  kind: 'pull_request_state';
  repo: RepoRef;
  number: number;
  state: 'merged' | 'closed' | 'reopened';
  /** Its description, where DAG's fix pull requests keep their metadata. */
  body: string;
};

export type MergedPullRequestEvent = {
  kind: 'merged';
  repo: RepoRef;
  number: number;
  /** Its description, where DAG's promotion PRs keep their metadata. */
  body: string;
};
