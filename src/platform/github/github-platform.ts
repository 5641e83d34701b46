import type { ProbotOctokit } from 'probot';
import type { RepoRef } from '../../events/types.ts';
import { stickyBodies, stickyParts, type StickyPart } from '../sticky-comments.ts';
import { UserError } from '../../errors.ts';
import { readListedFolder } from '../folder.ts';
import { httpStatus, providerError } from '../http-errors.ts';
import {
  assertDagBranch,
  BranchMovedError,
  commentMarker,
  type BranchCommits,
  type ChangeRequest,
  type CommitFilesInput,
  type ChangeRequests,
  type CheckReport,
  type Comparison,
  type DeploymentState,
  type Platform,
  type PullRequestInfo,
  type PullRequests,
  type Reaction,
} from '../types.ts';
import { isProductionName, type Permission, PERMISSIONS } from '../../model.ts';

type Rest = Pick<InstanceType<typeof ProbotOctokit>, 'request'>;

function split(repo: RepoRef): { owner: string; repo: string } {
  const [owner, name] = repo.fullName.split('/');
  if (!owner || !name) throw new UserError(`not a GitHub repository name: ${repo.fullName}`);
  return { owner, repo: name };
}

/** What DAG reads of a pull request; the list and the single-PR endpoints both give it. */
type Pull = {
  number: number;
  html_url: string;
  state: string;
  merged?: boolean | undefined;
  merged_at: string | null;
  merge_commit_sha: string | null;
  title: string;
  body: string | null;
  head: { ref: string; sha: string };
  base: { ref: string };
};

function changeRequest(pull: Pull): ChangeRequest {
  const merged = pull.merged === true || pull.merged_at !== null;
  return {
    number: pull.number,
    url: pull.html_url,
    state: merged ? 'merged' : pull.state === 'closed' ? 'closed' : 'open',
    headRef: pull.head.ref,
    baseRef: pull.base.ref,
    headSha: pull.head.sha,
    title: pull.title,
    body: pull.body ?? '',
    mergeCommitSha: merged ? pull.merge_commit_sha : null,
  };
}

/** How often a deployment status answered 5xx is tried (the deployment read in between). */
const STATUS_ATTEMPTS = 3;

const GITHUB_STATE: Record<DeploymentState, string> = {
  queued: 'queued',
  in_progress: 'in_progress',
  success: 'success',
  failure: 'failure',
  inactive: 'inactive',
};

/**
 * GitHub through Probot's Octokit (retries and throttling built in), with an installation's
 * token or, for an IAC repository without the App, the IAC's own token.
 */
export class GitHubPlatform implements Platform, PullRequests, ChangeRequests, BranchCommits {
  readonly provider = 'github' as const;
  readonly maxBodyLength = 65536;
  readonly changeRequestNoun = 'pull request' as const;
  readonly #octokit: Rest;

  constructor(octokit: Rest) {
    this.#octokit = octokit;
  }

  async readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined> {
    try {
      const response = await this.#octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
        ...split(repo),
        path,
        ref,
        headers: { accept: 'application/vnd.github.raw+json' },
      });
      const data: unknown = response.data;
      if (typeof data === 'string') return data;
      if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
      throw new UserError(`${path} in ${repo.fullName} is a folder, not a file`);
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitHub', `reading ${path} at ${ref.slice(0, 7)}`, error);
    }
  }

  async readFolder(
    repo: RepoRef,
    ref: string,
    path: string,
  ): Promise<Record<string, string> | undefined> {
    let tree: { path?: string; type?: string; size?: number }[];
    try {
      const response = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/git/trees/{tree_sha}',
        { ...split(repo), tree_sha: ref, recursive: '1' },
      );
      tree = (response.data as { tree: typeof tree }).tree;
    } catch (error) {
      throw providerError('GitHub', `listing files at ${ref.slice(0, 7)}`, error);
    }
    const prefix = `${path.replace(/\/+$/, '')}/`;
    const blobs = tree.flatMap((e) =>
      e.type === 'blob' && e.path?.startsWith(prefix) ? [{ path: e.path, size: e.size }] : [],
    );
    return readListedFolder(path, blobs, (file) => this.readFile(repo, ref, file));
  }

  async createDeployment(
    repo: RepoRef,
    input: {
      sha: string;
      ref: string;
      environment: string;
      description: string;
      attempt?: number | undefined;
    },
  ): Promise<string> {
    const attempt = (input.attempt ?? 1) > 1 ? { attempt: input.attempt } : {};
    try {
      const response = await this.#octokit.request('POST /repos/{owner}/{repo}/deployments', {
        ...split(repo),
        ref: input.sha,
        environment: input.environment,
        description: input.description.slice(0, 140),
        // Without these GitHub merges the default branch in or waits for every status check.
        auto_merge: false,
        required_contexts: [],
        production_environment: isProductionName(input.environment),
        payload: { dag: { ref: input.ref, ...attempt } },
        // Not sent again on a 5xx: the first may have created it (its answer lost). The caller
        // looks it up instead (ensureDeployment), so a retry makes no second deployment.
        request: { retries: 0 },
      });
      const id = (response.data as { id?: number }).id;
      if (typeof id !== 'number') throw new Error('GitHub did not return a deployment id');
      return String(id);
    } catch (error) {
      throw providerError('GitHub', `creating the ${input.environment} deployment`, error);
    }
  }

  async findDeployment(
    repo: RepoRef,
    input: { sha: string; environment: string; attempt: number },
  ): Promise<string | undefined> {
    try {
      const { data } = await this.#octokit.request('GET /repos/{owner}/{repo}/deployments', {
        ...split(repo),
        sha: input.sha,
        environment: input.environment,
        per_page: 100,
      });
      const found = (data as { id: number; payload?: unknown }[]).find((d) => {
        const payload = typeof d.payload === 'object' && d.payload !== null ? d.payload : {};
        const dag = (payload as { dag?: { attempt?: unknown } }).dag;
        return dag !== undefined && (dag.attempt ?? 1) === input.attempt;
      });
      return found ? String(found.id) : undefined;
    } catch (error) {
      throw providerError('GitHub', `listing the ${input.environment} deployments`, error);
    }
  }

  /** The state the deployment shows now (its newest status), or undefined when it has none. */
  async #shownState(
    repo: RepoRef,
    deployment: { id: string; environment: string },
  ): Promise<string | undefined> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
        { ...split(repo), deployment_id: Number(deployment.id), per_page: 1 },
      );
      return (data as { state?: string }[])[0]?.state;
    } catch (error) {
      throw providerError('GitHub', `reading the ${deployment.environment} deployment`, error);
    }
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
    const wanted = GITHUB_STATE[update.state];
    if (update.resume && (await this.#shownState(repo, deployment)) === wanted) return;
    // A status answered 5xx may have been recorded (its answer lost): Octokit must not send it
    // again blindly (a second `success`). DAG looks at the deployment first, then sends again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#octokit.request(
          'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
          {
            ...split(repo),
            deployment_id: Number(deployment.id),
            state: wanted as 'queued',
            description: update.description.slice(0, 140),
            ...(update.logUrl ? { log_url: update.logUrl } : {}),
            auto_inactive: update.state === 'success',
            request: { retries: 0 },
          },
        );
        return;
      } catch (error) {
        const status = httpStatus(error);
        const uncertain = status === undefined || status >= 500;
        if (!uncertain || attempt >= STATUS_ATTEMPTS) {
          throw providerError(
            'GitHub',
            `reporting the ${deployment.environment} deployment`,
            error,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** attempt));
        if ((await this.#shownState(repo, deployment).catch(() => undefined)) === wanted) return;
      }
    }
  }

  changeRequestRef(number: number): string {
    return `#${number}`;
  }

  async shippedBy(repo: RepoRef, sha: string, branch: string): Promise<number | undefined> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls',
        { ...split(repo), commit_sha: sha, per_page: 10 },
      );
      // Merged ones only, the one into `branch` first (a promoted commit is asked about from
      // the branch it was promoted to).
      const merged = data
        .filter((pull) => pull.merged_at !== null)
        .toSorted((a, b) => Number(b.base.ref === branch) - Number(a.base.ref === branch));
      return (
        merged.find((pull) => pull.merge_commit_sha === sha) ??
        merged.find((pull) => pull.head.sha === sha)
      )?.number;
    } catch (error) {
      throw providerError('GitHub', `finding the pull request of ${sha.slice(0, 7)}`, error);
    }
  }

  async getPullRequest(repo: RepoRef, number: number): Promise<PullRequestInfo> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/pulls/{pull_number}',
        {
          ...split(repo),
          pull_number: number,
        },
      );
      return {
        number,
        headSha: data.head.sha,
        headRef: data.head.ref,
        baseRef: data.base.ref,
        fork: data.head.repo?.full_name !== data.base.repo.full_name,
        open: data.state === 'open',
      };
    } catch (error) {
      throw providerError('GitHub', `reading pull request #${number}`, error);
    }
  }

  async permissionOf(repo: RepoRef, user: string): Promise<Permission> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/collaborators/{username}/permission',
        { ...split(repo), username: user },
      );
      // role_name is the fine-grained one (maintain, triage); permission the classic one.
      const role = (data as { role_name?: string }).role_name ?? data.permission;
      return (PERMISSIONS as readonly string[]).includes(role) ? (role as Permission) : 'read';
    } catch (error) {
      if (httpStatus(error) === 404) return 'none';
      throw providerError('GitHub', `reading ${user}'s permission`, error);
    }
  }

  async isApproved(repo: RepoRef, number: number): Promise<boolean> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews',
        { ...split(repo), pull_number: number, per_page: 100 },
      );
      const latest = new Map<string, string>();
      for (const review of data) {
        if (!review.user || review.state === 'COMMENTED') continue;
        latest.set(review.user.login, review.state);
      }
      const states = [...latest.values()];
      return states.includes('APPROVED') && !states.includes('CHANGES_REQUESTED');
    } catch (error) {
      throw providerError('GitHub', `reading the reviews of #${number}`, error);
    }
  }

  async checksPassed(repo: RepoRef, sha: string, ignore: string[]): Promise<boolean> {
    const passed = new Set(['success', 'neutral', 'skipped']);
    try {
      const runs = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
        {
          ...split(repo),
          ref: sha,
          per_page: 100,
        },
      );
      const checks = runs.data.check_runs.filter((run) => !ignore.includes(run.name));
      if (checks.some((run) => run.status !== 'completed' || !passed.has(run.conclusion ?? ''))) {
        return false;
      }
      const status = await this.#octokit.request('GET /repos/{owner}/{repo}/commits/{ref}/status', {
        ...split(repo),
        ref: sha,
      });
      const statuses = status.data.statuses.filter((s) => !ignore.includes(s.context));
      return statuses.every((s) => s.state === 'success');
    } catch (error) {
      throw providerError('GitHub', `reading the checks of ${sha.slice(0, 7)}`, error);
    }
  }

  async react(
    repo: RepoRef,
    comment: { number: number; id: number },
    reaction: Reaction,
  ): Promise<void> {
    try {
      await this.#octokit.request(
        'POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions',
        {
          ...split(repo),
          comment_id: comment.id,
          content: reaction,
        },
      );
    } catch (error) {
      throw providerError('GitHub', 'reacting to the command', error);
    }
  }

  /** DAG's comments of the topic on the pull request, by part: the first of each part wins. */
  async #topicComments(
    repo: RepoRef,
    number: number,
    topic: string,
  ): Promise<Map<number, StickyPart>> {
    let existing: {
      id: number | bigint;
      body?: string | undefined;
      user: { type?: string } | null;
    }[];
    try {
      existing = [];
      for (let page = 1; ; page++) {
        const { data } = await this.#octokit.request(
          'GET /repos/{owner}/{repo}/issues/{issue_number}/comments',
          { ...split(repo), issue_number: number, per_page: 100, page },
        );
        existing.push(...data);
        if (data.length < 100) break;
      }
    } catch (error) {
      throw providerError('GitHub', `reading the comments of #${number}`, error);
    }
    return stickyParts(
      existing.flatMap((comment) =>
        comment.user?.type === 'Bot' && comment.body
          ? [{ id: Number(comment.id), body: comment.body }]
          : [],
      ),
      topic,
    );
  }

  async readComments(repo: RepoRef, number: number, topic: string): Promise<string[]> {
    return stickyBodies(await this.#topicComments(repo, number, topic), topic);
  }

  async upsertComments(
    repo: RepoRef,
    number: number,
    topic: string,
    bodies: string[],
  ): Promise<void> {
    const parts = new Map(
      [...(await this.#topicComments(repo, number, topic))].map(([part, { id }]) => [part, id]),
    );
    try {
      for (const [index, body] of bodies.entries()) {
        const text = `${commentMarker(topic, index)}\n${body}`;
        const id = parts.get(index);
        if (id === undefined) {
          await this.#octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
            ...split(repo),
            issue_number: number,
            body: text,
            // Not resent on a 5xx (a lost answer would make a second comment): the job's retry
            // finds the comment by its marker and edits it.
            request: { retries: 0 },
          });
        } else {
          await this.#octokit.request('PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}', {
            ...split(repo),
            comment_id: id,
            body: text,
          });
        }
      }
      for (const [part, id] of parts) {
        if (part < bodies.length) continue;
        await this.#octokit.request('DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}', {
          ...split(repo),
          comment_id: id,
        });
      }
    } catch (error) {
      throw providerError('GitHub', `writing DAG's ${topic} comment on #${number}`, error);
    }
  }

  async publishCheck(repo: RepoRef, check: CheckReport): Promise<string | undefined> {
    const output = {
      title: check.title,
      summary: check.summary,
      ...(check.text ? { text: check.text } : {}),
    };
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
        {
          ...split(repo),
          ref: check.sha,
          check_name: check.name,
        },
      );
      const existing = data.check_runs[0];
      const fields = {
        status: check.status,
        ...(check.conclusion ? { conclusion: check.conclusion } : {}),
        output,
      };
      if (existing) {
        const { data: run } = await this.#octokit.request(
          'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}',
          { ...split(repo), check_run_id: existing.id, ...fields },
        );
        return run.html_url ?? existing.html_url ?? undefined;
      }
      const { data: run } = await this.#octokit.request('POST /repos/{owner}/{repo}/check-runs', {
        ...split(repo),
        name: check.name,
        head_sha: check.sha,
        ...fields,
        // Not resent on a 5xx: the job's retry finds the check run by name and edits it.
        request: { retries: 0 },
      });
      return run.html_url ?? undefined;
    } catch (error) {
      throw providerError('GitHub', `publishing the ${check.name} check`, error);
    }
  }

  async retireChecks(
    repo: RepoRef,
    sha: string,
    prefix: string,
    keep: readonly string[],
    output: { title: string; summary: string },
  ): Promise<void> {
    try {
      const stale: number[] = [];
      for (let page = 1; page <= 10; page++) {
        const { data } = await this.#octokit.request(
          'GET /repos/{owner}/{repo}/commits/{ref}/check-runs',
          { ...split(repo), ref: sha, filter: 'latest', per_page: 100, page },
        );
        for (const run of data.check_runs) {
          if (!run.name.startsWith(prefix) || keep.includes(run.name)) continue;
          if (run.status === 'completed' && run.output.title === output.title) continue;
          stale.push(Number(run.id));
        }
        if (data.check_runs.length < 100) break;
      }
      for (const id of stale) {
        await this.#octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', {
          ...split(repo),
          check_run_id: id,
          status: 'completed',
          conclusion: 'neutral',
          output,
        });
      }
    } catch (error) {
      throw providerError('GitHub', `completing the unused ${prefix}… checks`, error);
    }
  }

  async findOpenChangeRequest(
    repo: RepoRef,
    head: string,
    base: string,
  ): Promise<ChangeRequest | undefined> {
    const { owner, repo: name } = split(repo);
    try {
      const { data } = await this.#octokit.request('GET /repos/{owner}/{repo}/pulls', {
        owner,
        repo: name,
        state: 'open',
        // Qualified by the owner: a fork's branch of the same name is someone else's.
        head: `${owner}:${head}`,
        base,
        per_page: 1,
      });
      return data[0] ? changeRequest(data[0]) : undefined;
    } catch (error) {
      throw providerError('GitHub', `looking for an open pull request from ${head}`, error);
    }
  }

  async getChangeRequest(repo: RepoRef, number: number): Promise<ChangeRequest> {
    try {
      const { data } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/pulls/{pull_number}',
        { ...split(repo), pull_number: number },
      );
      return changeRequest(data);
    } catch (error) {
      throw providerError('GitHub', `reading pull request #${number}`, error);
    }
  }

  async createChangeRequest(
    repo: RepoRef,
    input: { head: string; base: string; title: string; body: string; labels: string[] },
  ): Promise<ChangeRequest> {
    let created: ChangeRequest;
    try {
      const { data } = await this.#octokit.request('POST /repos/{owner}/{repo}/pulls', {
        ...split(repo),
        head: input.head,
        base: input.base,
        title: input.title,
        body: input.body,
        maintainer_can_modify: false,
      });
      created = changeRequest(data);
    } catch (error) {
      throw providerError('GitHub', `opening a pull request from ${input.head}`, error);
    }
    if (input.labels.length === 0) return created;
    try {
      // GitHub creates the labels the repository does not have yet.
      await this.#octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/labels', {
        ...split(repo),
        issue_number: created.number,
        labels: input.labels,
      });
    } catch (error) {
      throw providerError('GitHub', `labelling pull request #${created.number}`, error);
    }
    return created;
  }

  async updateChangeRequest(
    repo: RepoRef,
    number: number,
    input: { title: string; body: string },
  ): Promise<ChangeRequest> {
    try {
      const { data } = await this.#octokit.request(
        'PATCH /repos/{owner}/{repo}/pulls/{pull_number}',
        { ...split(repo), pull_number: number, title: input.title, body: input.body },
      );
      return changeRequest(data);
    } catch (error) {
      throw providerError('GitHub', `updating pull request #${number}`, error);
    }
  }

  async closeChangeRequest(repo: RepoRef, number: number, note: string): Promise<void> {
    await this.commentOnChangeRequest(repo, number, note);
    try {
      await this.#octokit.request('PATCH /repos/{owner}/{repo}/pulls/{pull_number}', {
        ...split(repo),
        pull_number: number,
        state: 'closed',
      });
    } catch (error) {
      throw providerError('GitHub', `closing pull request #${number}`, error);
    }
  }

  async commentOnChangeRequest(repo: RepoRef, number: number, body: string): Promise<void> {
    try {
      await this.#octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        ...split(repo),
        issue_number: number,
        body,
      });
    } catch (error) {
      throw providerError('GitHub', `commenting on pull request #${number}`, error);
    }
  }

  async compare(repo: RepoRef, base: string, head: string, limit: number): Promise<Comparison> {
    try {
      // Commits come oldest first, so the first page holds the oldest `limit` of them.
      const { data } = await this.#octokit.request('GET /repos/{owner}/{repo}/compare/{basehead}', {
        ...split(repo),
        basehead: `${base}...${head}`,
        per_page: Math.min(100, Math.max(1, limit)),
      });
      return {
        commits: data.commits.slice(0, limit).map((c) => ({
          sha: c.sha,
          title: c.commit.message.split('\n', 1)[0] ?? '',
          author: c.author?.login ?? c.commit.author?.name ?? null,
          url: c.html_url,
        })),
        totalCommits: data.total_commits,
        files: (data.files ?? []).map((f) => f.filename),
        url: data.html_url,
      };
    } catch (error) {
      if (httpStatus(error) === 404) {
        throw new UserError(
          `GitHub API: cannot compare ${base}...${head} in ${repo.fullName}: a branch or commit does not exist there (HTTP 404)`,
          { cause: error, status: 404 },
        );
      }
      throw providerError('GitHub', `comparing ${base}...${head}`, error);
    }
  }

  async branchHead(repo: RepoRef, branch: string): Promise<string | null> {
    try {
      const { data } = await this.#octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
        ...split(repo),
        ref: `heads/${branch}`,
      });
      return data.object.sha;
    } catch (error) {
      if (httpStatus(error) === 404) return null;
      throw providerError('GitHub', `reading branch ${branch}`, error);
    }
  }

  /**
   * Git Data API: the base commit's tree, one new tree with every file inline (one request
   * whatever the number of files), one commit, then the ref created or force-moved.
   */
  async commitFiles(repo: RepoRef, input: CommitFilesInput): Promise<{ sha: string }> {
    assertDagBranch(input.branch);
    const head = await this.branchHead(repo, input.branch);
    if (head !== input.expectedHead) {
      throw new BranchMovedError(input.branch, input.expectedHead, head);
    }
    const where = split(repo);
    let commit: string;
    try {
      const { data: base } = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/git/commits/{commit_sha}',
        { ...where, commit_sha: input.base },
      );
      const tree = Object.entries(input.files)
        .filter(([, file]) => file.content !== null || file.existsAtBase)
        .map(([path, file]) =>
          file.content === null
            ? { path, mode: '100644' as const, type: 'blob' as const, sha: null }
            : { path, mode: '100644' as const, type: 'blob' as const, content: file.content },
        );
      const { data: created } = await this.#octokit.request(
        'POST /repos/{owner}/{repo}/git/trees',
        { ...where, base_tree: base.tree.sha, tree },
      );
      const { data } = await this.#octokit.request('POST /repos/{owner}/{repo}/git/commits', {
        ...where,
        message: input.message,
        tree: created.sha,
        parents: [input.base],
      });
      commit = data.sha;
    } catch (error) {
      throw providerError('GitHub', `committing to ${input.branch}`, error);
    }
    try {
      if (head === null) {
        await this.#octokit.request('POST /repos/{owner}/{repo}/git/refs', {
          ...where,
          ref: `refs/heads/${input.branch}`,
          sha: commit,
        });
      } else {
        await this.#octokit.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', {
          ...where,
          ref: `heads/${input.branch}`,
          sha: commit,
          force: true,
        });
      }
    } catch (error) {
      // Created by someone else since it was read: theirs, not DAG's.
      if (head === null && httpStatus(error) === 422) {
        throw new BranchMovedError(input.branch, null, await this.branchHead(repo, input.branch));
      }
      throw providerError('GitHub', `moving branch ${input.branch}`, error);
    }
    return { sha: commit };
  }
}
