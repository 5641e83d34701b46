import { Gitlab, type MergeRequestSchema } from '@gitbeaker/rest';
import { UserError } from '../../errors.ts';
import type { RepoRef } from '../../events/types.ts';
import { readListedFolder } from '../folder.ts';
import { httpStatus, providerError } from '../http-errors.ts';
import {
  assertDagBranch,
  BranchMovedError,
  type BranchCommits,
  type ChangeRequest,
  type ChangeRequests,
  type CommitFilesInput,
  type Comparison,
  type CheckReport,
  type DeploymentState,
  type Platform,
  type PullRequestInfo,
  type PullRequests,
  type Reaction,
  type ThreadKind,
} from '../types.ts';
import { GitLabMergeRequests } from './merge-requests.ts';
import type { ProviderRequestObserver } from '../request-metrics.ts';
import { backoffRequester, type BackoffOptions } from './requester.ts';
import type { Permission } from '../../model.ts';

/**
 * How DAG's neutral deploy states show on GitLab. GitLab's API creates a deployment `running`
 * (or finished): it has no `queued`, and a deployment runs only from `created`, which no
 * API-created deployment is. So DAG creates the deployment `running` when it announces the
 * deploy, and moves it only to its end (`success`, `failed`, or `canceled` when a newer commit
 * superseded it before it rolled out). The commit status
 * `dag/deploy/<environment>` shows each step: `pending` while queued, `running`, then `success`
 * or `failed`, with the description (and the failure reason) and the link.
 */
export const GITLAB_DEPLOYMENT_STATUS = {
  create: 'running',
  queued: undefined,
  in_progress: undefined,
  success: 'success',
  failure: 'failed',
  inactive: 'canceled',
} as const satisfies Record<
  DeploymentState | 'create',
  'running' | 'success' | 'failed' | 'canceled' | undefined
>;

export const GITLAB_COMMIT_STATE = {
  queued: 'pending',
  in_progress: 'running',
  success: 'success',
  failure: 'failed',
  inactive: 'canceled',
} as const satisfies Record<
  DeploymentState,
  'pending' | 'running' | 'success' | 'failed' | 'canceled'
>;

/**
 * GitLab's answer to a commit status that cannot go where DAG asks: `pending` or `running` again,
 * or back from `running` to `pending` (a retry). The status already shows the deploy under way,
 * so DAG leaves it (as Renovate does with the same answer).
 */
function alreadyUnderWay(error: unknown): boolean {
  const message = String((error as { cause?: { description?: unknown } }).cause?.description ?? '');
  return (
    httpStatus(error) === 400 &&
    /^Cannot transition status via :(enqueue|run) from :(pending|running)\b/.test(message)
  );
}

/** How much of an environment's deployment list findDeployment reads, newest first. */
const FIND_PER_PAGE = 100;
const FIND_PAGES = 2;

/** The fields findDeployment reads of a listed deployment (`deployable`: its CI job, or null). */
type ListedDeployment = { id: number; sha: string; status: string; deployable?: unknown };

function project(repo: RepoRef): number | string {
  return repo.projectId ?? repo.fullName;
}

function changeRequest(mr: MergeRequestSchema): ChangeRequest {
  const state = mr.state === 'opened' ? 'open' : mr.state === 'merged' ? 'merged' : 'closed';
  return {
    number: mr.iid,
    url: mr.web_url,
    state,
    headRef: mr.source_branch,
    baseRef: mr.target_branch,
    headSha: mr.sha,
    title: mr.title,
    body: mr.description ?? '',
    mergeCommitSha: state === 'merged' ? (mr.merge_commit_sha ?? mr.squash_commit_sha) : null,
  };
}

/**
 * GitLab through its REST API (`@gitbeaker/rest`) with DAG's bot token (or an IAC's own token).
 * The client is gitbeaker's, with DAG's backoff requester in place of its stock one.
 */
export class GitLabPlatform implements Platform, PullRequests, ChangeRequests, BranchCommits {
  readonly provider = 'gitlab' as const;
  readonly maxBodyLength = 1_000_000;
  readonly changeRequestNoun = 'merge request' as const;
  /** Commit statuses hold no text: a preview lives in its notes, each within GitLab's limit. */
  readonly fullPreviewIn = 'comments' as const;
  readonly commentMaxChars = 990_000;
  readonly #api: Gitlab<false>;
  /** Commands and previews on merge requests (src/platform/gitlab/merge-requests.ts). */
  readonly #reviews: GitLabMergeRequests;

  constructor(options: {
    url: string;
    token: string;
    backoff?: BackoffOptions;
    /** Hears each API request (metrics). */
    onRequest?: ProviderRequestObserver | undefined;
  }) {
    this.#api = new Gitlab({
      host: options.url,
      token: options.token,
      requesterFn: backoffRequester(options.backoff, options.onRequest),
      queryTimeout: 30_000,
    });
    this.#reviews = new GitLabMergeRequests(this.#api);
  }

  changeRequestRef(number: number): string {
    return this.#reviews.changeRequestRef(number);
  }

  isOwnAccount(userId: number): Promise<boolean> {
    return this.#reviews.isOwnAccount(userId);
  }

  getPullRequest(repo: RepoRef, number: number): Promise<PullRequestInfo> {
    return this.#reviews.getPullRequest(repo, number);
  }

  shippedBy(repo: RepoRef, sha: string, branch: string): Promise<number | undefined> {
    return this.#reviews.shippedBy(repo, sha, branch);
  }

  permissionOf(repo: RepoRef, user: string, userId?: number): Promise<Permission> {
    return this.#reviews.permissionOf(repo, user, userId);
  }

  isApproved(repo: RepoRef, number: number): Promise<boolean> {
    return this.#reviews.isApproved(repo, number);
  }

  checksPassed(repo: RepoRef, sha: string, ignore: string[]): Promise<boolean> {
    return this.#reviews.checksPassed(repo, sha, ignore);
  }

  react(
    repo: RepoRef,
    comment: { number: number; id: number; kind?: ThreadKind | undefined },
    reaction: Reaction,
  ): Promise<void> {
    return this.#reviews.react(repo, comment, reaction);
  }

  upsertComments(
    repo: RepoRef,
    number: number,
    topic: string,
    bodies: string[],
    kind?: ThreadKind,
  ): Promise<void> {
    return this.#reviews.upsertComments(repo, number, topic, bodies, kind);
  }

  readComments(repo: RepoRef, number: number, topic: string): Promise<string[]> {
    return this.#reviews.readComments(repo, number, topic);
  }

  publishCheck(repo: RepoRef, check: CheckReport): Promise<string | undefined> {
    return this.#reviews.publishCheck(repo, check);
  }

  retireChecks(
    repo: RepoRef,
    sha: string,
    prefix: string,
    keep: readonly string[],
    output: { title: string; summary: string },
  ): Promise<void> {
    return this.#reviews.retireChecks(repo, sha, prefix, keep, output);
  }

  async readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined> {
    try {
      const raw: unknown = await this.#api.RepositoryFiles.showRaw(project(repo), path, ref);
      if (typeof raw === 'string') return raw;
      if (raw instanceof Blob) return raw.text();
      return JSON.stringify(raw);
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitLab', `reading ${path} at ${ref.slice(0, 7)}`, error);
    }
  }

  async readFolder(
    repo: RepoRef,
    ref: string,
    path: string,
  ): Promise<Record<string, string> | undefined> {
    let entries: { path: string; type: string }[];
    try {
      entries = (await this.#api.Repositories.allRepositoryTrees(project(repo), {
        path,
        ref,
        recursive: true,
        perPage: 100,
      })) as { path: string; type: string }[];
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitLab', `listing ${path} at ${ref.slice(0, 7)}`, error);
    }
    const blobs = entries.filter((e) => e.type === 'blob');
    return readListedFolder(path, blobs, (file) => this.readFile(repo, ref, file));
  }

  /**
   * A GitLab deployment has no room for the description or the attempt: the commit status
   * carries the one, and findDeployment tells attempts apart by the order they were created in.
   */
  async createDeployment(
    repo: RepoRef,
    input: { sha: string; ref: string; environment: string; description: string },
  ): Promise<string> {
    try {
      const deployment = await this.#api.Deployments.create(
        project(repo),
        input.environment,
        input.sha,
        input.ref,
        false,
        { status: GITLAB_DEPLOYMENT_STATUS.create },
      );
      return String((deployment as { id: number }).id);
    } catch (error) {
      throw providerError('GitLab', `creating the ${input.environment} deployment`, error);
    }
  }

  /**
   * The deployment a DAG process created for this commit, environment and attempt before it
   * died, if it did. A GitLab deployment holds nothing of DAG's (no description, no payload),
   * so the attempt is told by order: DAG creates one deployment per attempt, through the API
   * (no CI job), and a commit's next attempt begins only after the last one ended. Attempt n's
   * deployment is therefore the commit's newest API-created one in the environment, still
   * `running` (only the process that died knew its id, so nothing ended it), and the commit's
   * n-th: exactly n of them, or at most n when older ones lie beyond the pages read. Anything
   * else (another attempt's, a duplicate from before) is not taken: a second deployment does
   * less harm than this attempt reported on another attempt's.
   *
   * GitLab lists deployments by environment but not by commit, so the commit is matched here,
   * over the environment's newest FIND_PAGES pages.
   */
  async findDeployment(
    repo: RepoRef,
    input: { sha: string; environment: string; attempt: number },
  ): Promise<string | undefined> {
    let listed: ListedDeployment[];
    try {
      listed = (await this.#api.Deployments.all(project(repo), {
        environment: input.environment,
        orderBy: 'id',
        sort: 'desc',
        perPage: FIND_PER_PAGE,
        maxPages: FIND_PAGES,
      })) as unknown as ListedDeployment[];
    } catch (error) {
      throw providerError('GitLab', `listing the ${input.environment} deployments`, error);
    }
    // Fewer than the pages hold: GitLab had no further page, so every one was seen.
    const complete = listed.length < FIND_PER_PAGE * FIND_PAGES;
    const commits = listed.filter((d) => d.sha === input.sha && d.deployable == null);
    const newest = commits[0];
    if (newest?.status !== GITLAB_DEPLOYMENT_STATUS.create) return undefined;
    const ordinal = complete ? commits.length === input.attempt : commits.length <= input.attempt;
    return ordinal ? String(newest.id) : undefined;
  }

  async setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: {
      state: DeploymentState;
      description: string;
      logUrl?: string | undefined;
      resume?: boolean | undefined;
    },
  ): Promise<void> {
    const state = GITLAB_COMMIT_STATE[update.state];
    const status = GITLAB_DEPLOYMENT_STATUS[update.state];
    // A rerun after a crash: GitLab refuses a commit status or deployment moved to where it
    // already is, so what was posted before the crash is read and not posted again.
    const shown = update.resume ? await this.#shown(repo, deployment) : undefined;
    if (shown?.commit !== state) await this.#postCommitStatus(repo, deployment, update, state);
    if (status === undefined || shown?.deployment === status) return;
    try {
      await this.#api.Deployments.edit(project(repo), Number(deployment.id), status);
    } catch (error) {
      throw providerError('GitLab', `reporting the ${deployment.environment} deployment`, error);
    }
  }

  /** The deploy's commit status (its latest) and deployment status, as GitLab shows them now. */
  async #shown(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
  ): Promise<{ commit: string | undefined; deployment: string | undefined }> {
    try {
      const [statuses, shown] = await Promise.all([
        this.#api.Commits.allStatuses(project(repo), deployment.sha, {
          name: `dag/deploy/${deployment.environment}`,
          ref: deployment.ref,
        }),
        this.#api.Deployments.show(project(repo), Number(deployment.id)),
      ]);
      return {
        commit: (statuses as { status?: string }[])[0]?.status,
        deployment: (shown as { status?: string }).status,
      };
    } catch (error) {
      throw providerError('GitLab', `reading the ${deployment.environment} deployment`, error);
    }
  }

  async #postCommitStatus(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: { description: string; logUrl?: string | undefined },
    state: (typeof GITLAB_COMMIT_STATE)[DeploymentState],
  ): Promise<void> {
    try {
      // GitLab deployments carry no message: a commit status named after the environment
      // carries the description (and the failure reason) and links to the IAC commit.
      await this.#api.Commits.editStatus(project(repo), deployment.sha, state, {
        name: `dag/deploy/${deployment.environment}`,
        ref: deployment.ref,
        description: update.description.slice(0, 255),
        ...(update.logUrl ? { targetUrl: update.logUrl } : {}),
      });
    } catch (error) {
      if (!(state === 'pending' || state === 'running') || !alreadyUnderWay(error)) {
        throw providerError('GitLab', `reporting the ${deployment.environment} deployment`, error);
      }
    }
  }

  async findOpenChangeRequest(
    repo: RepoRef,
    head: string,
    base: string,
  ): Promise<ChangeRequest | undefined> {
    try {
      const requests = await this.#api.MergeRequests.all({
        projectId: project(repo),
        state: 'opened',
        sourceBranch: head,
        targetBranch: base,
        perPage: 20,
        maxPages: 1,
      });
      // A fork's branch of the same name is someone else's merge request.
      const own = requests.find((mr) => mr.source_project_id === mr.target_project_id);
      return own ? changeRequest(own) : undefined;
    } catch (error) {
      throw providerError('GitLab', `looking for an open merge request from ${head}`, error);
    }
  }

  async getChangeRequest(repo: RepoRef, number: number): Promise<ChangeRequest> {
    try {
      return changeRequest(await this.#api.MergeRequests.show(project(repo), number));
    } catch (error) {
      throw providerError('GitLab', `reading merge request !${number}`, error);
    }
  }

  async createChangeRequest(
    repo: RepoRef,
    input: { head: string; base: string; title: string; body: string; labels: string[] },
  ): Promise<ChangeRequest> {
    try {
      const created = await this.#api.MergeRequests.create(
        project(repo),
        input.head,
        input.base,
        input.title,
        {
          description: input.body,
          // GitLab creates the labels the project does not have yet.
          ...(input.labels.length > 0 ? { labels: input.labels.join(',') } : {}),
        },
      );
      return changeRequest(created);
    } catch (error) {
      throw providerError('GitLab', `opening a merge request from ${input.head}`, error);
    }
  }

  async updateChangeRequest(
    repo: RepoRef,
    number: number,
    input: { title: string; body: string },
  ): Promise<ChangeRequest> {
    try {
      const updated = await this.#api.MergeRequests.edit(project(repo), number, {
        title: input.title,
        description: input.body,
      });
      return changeRequest(updated);
    } catch (error) {
      throw providerError('GitLab', `updating merge request !${number}`, error);
    }
  }

  async closeChangeRequest(repo: RepoRef, number: number, note: string): Promise<void> {
    await this.commentOnChangeRequest(repo, number, note);
    try {
      await this.#api.MergeRequests.edit(project(repo), number, { stateEvent: 'close' });
    } catch (error) {
      throw providerError('GitLab', `closing merge request !${number}`, error);
    }
  }

  async commentOnChangeRequest(repo: RepoRef, number: number, body: string): Promise<void> {
    try {
      await this.#api.MergeRequestNotes.create(project(repo), number, body);
    } catch (error) {
      throw providerError('GitLab', `commenting on merge request !${number}`, error);
    }
  }

  async compare(repo: RepoRef, base: string, head: string, limit: number): Promise<Comparison> {
    try {
      const result = await this.#api.Repositories.compare(project(repo), base, head);
      // GitLab lists every commit, oldest first; DAG keeps the oldest `limit`.
      const commits = result.commits ?? [];
      const webUrl = typeof result.web_url === 'string' ? result.web_url : undefined;
      return {
        commits: commits.slice(0, limit).map((c) => ({
          sha: c.id,
          title: c.title,
          author: c.author_name || null,
          url: typeof c.web_url === 'string' ? c.web_url : `${repo.webUrl}/-/commit/${c.id}`,
        })),
        totalCommits: commits.length,
        files: (result.diffs ?? []).map((d) => d.new_path),
        url: webUrl ?? `${repo.webUrl}/-/compare/${base}...${head}`,
      };
    } catch (error) {
      if (httpStatus(error) === 404) {
        throw new UserError(
          `GitLab API: cannot compare ${base}...${head} in ${repo.fullName}: a branch or commit does not exist there (HTTP 404)`,
          { cause: error, status: 404 },
        );
      }
      throw providerError('GitLab', `comparing ${base}...${head}`, error);
    }
  }

  async branchHead(repo: RepoRef, branch: string): Promise<string | null> {
    try {
      return (await this.#api.Branches.show(project(repo), branch)).commit.id;
    } catch (error) {
      if (httpStatus(error) === 404) return null;
      throw providerError('GitLab', `reading branch ${branch}`, error);
    }
  }

  /**
   * One request to the commits API: every file as an action on `start_sha`, `force` to move an
   * existing branch to it (GitLab refuses a start point for a branch that exists without it).
   */
  async commitFiles(repo: RepoRef, input: CommitFilesInput): Promise<{ sha: string }> {
    assertDagBranch(input.branch);
    const head = await this.branchHead(repo, input.branch);
    if (head !== input.expectedHead) {
      throw new BranchMovedError(input.branch, input.expectedHead, head);
    }
    const actions = Object.entries(input.files)
      .filter(([, file]) => file.content !== null || file.existsAtBase)
      .map(([filePath, file]) =>
        file.content === null
          ? { action: 'delete' as const, filePath }
          : {
              action: file.existsAtBase ? ('update' as const) : ('create' as const),
              filePath,
              content: file.content,
              encoding: 'text',
            },
      );
    try {
      const commit = await this.#api.Commits.create(
        project(repo),
        input.branch,
        input.message,
        actions,
        { startSha: input.base, ...(head === null ? {} : { force: true }) },
      );
      return { sha: commit.id };
    } catch (error) {
      // Created by someone else since it was read: theirs, not DAG's.
      if (head === null && httpStatus(error) === 400) {
        const now = await this.branchHead(repo, input.branch);
        if (now !== null) throw new BranchMovedError(input.branch, null, now);
      }
      throw providerError('GitLab', `committing to ${input.branch}`, error);
    }
  }
}
