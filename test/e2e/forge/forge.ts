// What the scenario table (../scenarios.ts) does and sees on a git hosting provider, the same for
// GitHub and GitLab: a person's pushes, pull (merge) requests, comments and merges, each
// announced to DAG by the webhook that provider sends, and what DAG left there (its sticky
// comments, acknowledgements, deployments, preview status and the requests it opened). Each
// provider's driver works against its stand-in at the HTTP boundary (github-forge.ts,
// gitlab-forge.ts); the cases never see which one it is, except through `words`.

import type { Harness } from '../harness.ts';

/** A webhook as it was delivered, to be delivered again (a provider's redelivery). */
export type Delivery = { event: string; payload: object; id: string };

/** An acknowledgement on a person's comment, in GitHub's names (GitLab's emoji mapped). */
export type Acknowledgement = 'eyes' | '+1' | '-1' | 'confused';

/** A request (pull or merge) as the provider shows it. */
export type RequestView = {
  number: number;
  state: 'open' | 'closed' | 'merged';
  title: string;
  body: string;
  head: string;
  base: string;
  labels: string[];
  /** Opened by DAG's own account (the App, or the GitLab token's user). */
  byDag: boolean;
};

export type Role = 'developer' | 'maintainer';

/** A comment thread of the app repository: request `number`, or an issue. */
export type Thread = number | { issue: number };

export interface Forge {
  readonly provider: 'github' | 'gitlab';
  /** How the provider's text names a request: `pull request` / `#7`, `merge request` / `!7`. */
  readonly words: { request: 'pull request' | 'merge request'; ref(number: number): string };
  /** DAG, started for this provider alone (a GitLab-only install has no GitHub App). */
  readonly harness: Harness;
  /** The application repository and the IAC repository, both hosted by the provider. */
  readonly app: string;
  readonly iac: string;

  /** A person commits `files` (null deletes) to `branch` of the app repository; the commit. */
  commit(branch: string, files: Record<string, string | null>, message: string): Promise<string>;
  /** The branch's head in a repository of the provider. */
  head(repo: 'app' | 'iac', branch: string): Promise<string>;
  /** Every file on a branch of a repository of the provider. */
  files(repo: 'app' | 'iac', branch: string): Promise<Record<string, string>>;
  /** The push webhook of `branch` moving from `before` to its head now, delivered. */
  announcePush(branch: string, before: string): Promise<Delivery>;
  /** A person opens a request from `head` into `base` of the app repository, announced. */
  openRequest(head: string, base: string, title: string): Promise<number>;
  /** The request's new commits (its head moved from `before`), announced. */
  announceRequestPushed(number: number, before: string): Promise<Delivery>;
  /** A person opens an issue in the app repository; its number. */
  openIssue(title: string): Promise<number>;
  /** `user` comments `body` on a request (or an issue) of the app repository, announced. */
  comment(thread: Thread, body: string, user: string): Promise<{ id: number; delivery: Delivery }>;
  /** Delivers a webhook again with the same delivery id; DAG's HTTP status. */
  redeliver(delivery: Delivery): Promise<number>;
  setRole(user: string, role: Role): void;
  /** A person merges request `number` of a repository (a merge commit), announced: the commit. */
  merge(repo: 'app' | 'iac', number: number): Promise<string>;

  /** DAG's sticky comment of `topic` on a request or issue (part 0, without its marker). */
  dagComment(repo: 'app' | 'iac', thread: Thread, topic: string): string | undefined;
  /** How many comments of `topic` DAG keeps on the request or issue (sticky: one). */
  dagCommentCount(repo: 'app' | 'iac', thread: Thread, topic: string): number;
  /** The acknowledgements on a person's comment, in order. */
  acknowledgements(commentId: number): Acknowledgement[];
  /** The provider's deployments of the app to `environment`, oldest first, with their state. */
  deployments(environment: string): { sha: string; state: string }[];
  /**
   * What DAG posted about deploying `sha` to `environment`, oldest first, in GitHub's state
   * names (GitLab's `dag/deploy/<environment>` commit statuses mapped: running → in_progress,
   * failed → failure, canceled → inactive, pending → queued).
   */
  deployStatuses(environment: string, sha: string): { state: string; description: string }[];
  /** The outcome DAG reported for its preview of `sha` (`dag/diff`): passed, failed, running. */
  previewStatus(sha: string): 'passed' | 'failed' | 'running' | undefined;
  /** The requests of a repository, oldest first. */
  requests(repo: 'app' | 'iac'): RequestView[];
  /** Stops DAG and the stand-in; fails if DAG broke the provider's documented contract. */
  stop(): Promise<void>;
}

/** A forge, and what DAG is configured with to use it. */
export type StartedForge = {
  forge: Forge;
  /** The app repository's web address (apps.repo_url). */
  appUrl: string;
  /** The IAC repository's clone address and the token DAG pushes and opens requests with. */
  iacUrl: string;
  iacToken: string;
};
