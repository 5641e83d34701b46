// What the GitHub stand-in keeps in memory (deployments, comments, pull requests, checks...)
// and how it shows it: the JSON shapes GitHub's REST API answers with, for the fields clients
// read. Repository contents are not here: they are read from the real git repositories.

import type { RepoGit } from './git.ts';

export type User = { login: string; id: number; type: 'Bot' | 'User' };
export type Role = 'admin' | 'maintain' | 'write' | 'triage' | 'read';

export type LabelRecord = { id: number; name: string; color: string; description: string | null };

export type RepoRecord = {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  private: boolean;
  git: RepoGit;
  labels: Map<string, LabelRecord>;
  /** Collaborators by lower-case login. */
  permissions: Map<string, Role>;
};

export type DeploymentStatusRecord = {
  id: number;
  state: string;
  description: string;
  environment: string;
  environmentUrl: string;
  logUrl: string;
  targetUrl: string;
  creator: User;
  createdAt: string;
  /** Date.now() when it was recorded. */
  at: number;
};

export type DeploymentRecord = {
  id: number;
  repo: string;
  sha: string;
  ref: string;
  task: string;
  environment: string;
  originalEnvironment: string;
  description: string | null;
  payload: unknown;
  autoMerge: boolean;
  requiredContexts: string[] | null;
  transientEnvironment: boolean;
  productionEnvironment: boolean;
  creator: User;
  createdAt: string;
  at: number;
  /** In the order they were created. */
  statuses: DeploymentStatusRecord[];
};

export type ReactionRecord = { id: number; content: string; user: User; createdAt: string };

export type CommentRecord = {
  id: number;
  repo: string;
  issueNumber: number;
  body: string;
  user: User;
  createdAt: string;
  updatedAt: string;
  reactions: ReactionRecord[];
};

export type PullRecord = {
  head: string;
  /** The repository the head branch lives in (a fork's, or the same). */
  headRepo: string;
  /** The head commit when last seen (the branch's tip is read again on every answer). */
  headSha: string;
  base: string;
  merged: boolean;
  mergedAt: string | null;
  mergeCommitSha: string | null;
  maintainerCanModify: boolean;
  draft: boolean;
};

export type IssueRecord = {
  number: number;
  repo: string;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  user: User;
  labels: string[];
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  pull?: PullRecord;
};

export type ReviewRecord = {
  id: number;
  repo: string;
  pullNumber: number;
  user: User;
  state: 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
  body: string;
  commitId: string;
  submittedAt: string;
};

export type CheckRunRecord = {
  id: number;
  repo: string;
  name: string;
  headSha: string;
  status: string;
  conclusion: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  detailsUrl: string | null;
  externalId: string | null;
  startedAt: string;
  completedAt: string | null;
};

export type CommitStatusRecord = {
  id: number;
  repo: string;
  sha: string;
  state: string;
  context: string;
  description: string | null;
  targetUrl: string | null;
  creator: User;
  createdAt: string;
};

export type Installation = {
  id: number;
  account: string;
  /** Lower-case full names, or 'all' for every repository of the account. */
  repositories: Set<string> | 'all';
};

/** Everything the stand-in has been told or has recorded; tests read it directly. */
export class StandInState {
  readonly baseUrl: string;
  readonly apiUrl: string;
  readonly app: { id: number; slug: string; name: string };
  readonly repos = new Map<string, RepoRecord>();
  readonly installations = new Map<number, Installation>();
  readonly deployments: DeploymentRecord[] = [];
  readonly comments = new Map<number, CommentRecord>();
  readonly issues = new Map<string, IssueRecord>();
  readonly reviews: ReviewRecord[] = [];
  readonly checkRuns: CheckRunRecord[] = [];
  readonly commitStatuses: CommitStatusRecord[] = [];
  #ids = 1000;

  constructor(baseUrl: string, app: { id: number; slug: string; name: string }) {
    this.baseUrl = baseUrl;
    this.apiUrl = `${baseUrl}/api/v3`;
    this.app = app;
  }

  nextId(): number {
    this.#ids += 1;
    return this.#ids;
  }

  repo(fullName: string): RepoRecord | undefined {
    return this.repos.get(fullName.toLowerCase());
  }

  /** The next issue or pull request number of a repository (they share one sequence). */
  nextNumber(repo: RepoRecord): number {
    let n = 0;
    for (const issue of this.issues.values()) if (issue.repo === repo.fullName) n += 1;
    return n + 1;
  }

  issue(repo: RepoRecord, number: number): IssueRecord | undefined {
    return this.issues.get(`${repo.fullName.toLowerCase()}#${number}`);
  }

  addIssue(issue: IssueRecord): void {
    this.issues.set(`${issue.repo.toLowerCase()}#${issue.number}`, issue);
  }

  botUser(): User {
    return { login: `${this.app.slug}[bot]`, id: 90_000 + this.app.id, type: 'Bot' };
  }

  // ---- JSON as GitHub answers it ------------------------------------------------------------

  userJson(user: User) {
    return {
      login: user.login,
      id: user.id,
      node_id: nodeId('User', user.id),
      type: user.type,
      site_admin: false,
      url: `${this.apiUrl}/users/${encodeURIComponent(user.login)}`,
      html_url: `${this.baseUrl}/${encodeURIComponent(user.login)}`,
    };
  }

  repoJson(repo: RepoRecord, defaultBranch: string) {
    const owner: User = { login: repo.owner, id: hashId(repo.owner), type: 'User' };
    return {
      id: repo.id,
      node_id: nodeId('Repository', repo.id),
      name: repo.name,
      full_name: repo.fullName,
      private: repo.private,
      owner: this.userJson(owner),
      html_url: `${this.baseUrl}/${repo.fullName}`,
      url: `${this.apiUrl}/repos/${repo.fullName}`,
      clone_url: `${this.baseUrl}/${repo.fullName}.git`,
      git_url: `git://${new URL(this.baseUrl).host}/${repo.fullName}.git`,
      ssh_url: `git@${new URL(this.baseUrl).hostname}:${repo.fullName}.git`,
      default_branch: defaultBranch,
      visibility: repo.private ? 'private' : 'public',
      fork: false,
      archived: false,
      disabled: false,
    };
  }

  deploymentJson(d: DeploymentRecord) {
    const url = `${this.apiUrl}/repos/${d.repo}/deployments/${d.id}`;
    return {
      url,
      id: d.id,
      node_id: nodeId('Deployment', d.id),
      sha: d.sha,
      ref: d.ref,
      task: d.task,
      payload: d.payload,
      original_environment: d.originalEnvironment,
      environment: d.environment,
      description: d.description,
      creator: this.userJson(d.creator),
      created_at: d.createdAt,
      updated_at: d.statuses.at(-1)?.createdAt ?? d.createdAt,
      statuses_url: `${url}/statuses`,
      repository_url: `${this.apiUrl}/repos/${d.repo}`,
      transient_environment: d.transientEnvironment,
      production_environment: d.productionEnvironment,
    };
  }

  deploymentStatusJson(d: DeploymentRecord, s: DeploymentStatusRecord) {
    const deploymentUrl = `${this.apiUrl}/repos/${d.repo}/deployments/${d.id}`;
    return {
      url: `${deploymentUrl}/statuses/${s.id}`,
      id: s.id,
      node_id: nodeId('DeploymentStatus', s.id),
      state: s.state,
      creator: this.userJson(s.creator),
      description: s.description,
      environment: s.environment,
      target_url: s.targetUrl || s.logUrl,
      log_url: s.logUrl || s.targetUrl,
      environment_url: s.environmentUrl,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      deployment_url: deploymentUrl,
      repository_url: `${this.apiUrl}/repos/${d.repo}`,
    };
  }

  commentJson(c: CommentRecord) {
    const counts: Record<string, number> = {};
    for (const r of c.reactions) counts[r.content] = (counts[r.content] ?? 0) + 1;
    return {
      id: c.id,
      node_id: nodeId('IssueComment', c.id),
      url: `${this.apiUrl}/repos/${c.repo}/issues/comments/${c.id}`,
      html_url: `${this.baseUrl}/${c.repo}/issues/${c.issueNumber}#issuecomment-${c.id}`,
      issue_url: `${this.apiUrl}/repos/${c.repo}/issues/${c.issueNumber}`,
      body: c.body,
      user: this.userJson(c.user),
      created_at: c.createdAt,
      updated_at: c.updatedAt,
      author_association: c.user.type === 'Bot' ? 'NONE' : 'MEMBER',
      reactions: { total_count: c.reactions.length, ...counts },
    };
  }

  reactionJson(r: ReactionRecord) {
    return {
      id: r.id,
      node_id: nodeId('Reaction', r.id),
      user: this.userJson(r.user),
      content: r.content,
      created_at: r.createdAt,
    };
  }

  labelJson(repo: RepoRecord, l: LabelRecord) {
    return {
      id: l.id,
      node_id: nodeId('Label', l.id),
      url: `${this.apiUrl}/repos/${repo.fullName}/labels/${encodeURIComponent(l.name)}`,
      name: l.name,
      color: l.color,
      default: false,
      description: l.description,
    };
  }

  pullJson(
    repo: RepoRecord,
    issue: IssueRecord,
    headSha: string,
    baseSha: string,
    defaultBranch: string,
  ) {
    const pull = issue.pull as PullRecord;
    const headRepo = this.repo(pull.headRepo) ?? repo;
    const url = `${this.apiUrl}/repos/${repo.fullName}/pulls/${issue.number}`;
    return {
      url,
      id: hashId(`${repo.fullName}#${issue.number}`),
      node_id: nodeId('PullRequest', issue.number),
      html_url: `${this.baseUrl}/${repo.fullName}/pull/${issue.number}`,
      diff_url: `${this.baseUrl}/${repo.fullName}/pull/${issue.number}.diff`,
      issue_url: `${this.apiUrl}/repos/${repo.fullName}/issues/${issue.number}`,
      number: issue.number,
      state: issue.state,
      locked: false,
      title: issue.title,
      body: issue.body,
      user: this.userJson(issue.user),
      labels: issue.labels.map((name) => {
        const label = repo.labels.get(name.toLowerCase());
        return label ? this.labelJson(repo, label) : { name };
      }),
      draft: pull.draft,
      created_at: issue.createdAt,
      updated_at: issue.updatedAt,
      closed_at: issue.closedAt,
      merged_at: pull.mergedAt,
      merge_commit_sha: pull.mergeCommitSha,
      merged: pull.merged,
      mergeable: null,
      maintainer_can_modify: pull.maintainerCanModify,
      head: {
        label: `${headRepo.owner}:${pull.head}`,
        ref: pull.head,
        sha: headSha,
        user: this.userJson({ login: headRepo.owner, id: hashId(headRepo.owner), type: 'User' }),
        repo: this.repoJson(headRepo, defaultBranch),
      },
      base: {
        label: `${repo.owner}:${pull.base}`,
        ref: pull.base,
        sha: baseSha,
        user: this.userJson({ login: repo.owner, id: hashId(repo.owner), type: 'User' }),
        repo: this.repoJson(repo, defaultBranch),
      },
    };
  }

  checkRunJson(c: CheckRunRecord) {
    return {
      id: c.id,
      node_id: nodeId('CheckRun', c.id),
      head_sha: c.headSha,
      external_id: c.externalId,
      url: `${this.apiUrl}/repos/${c.repo}/check-runs/${c.id}`,
      html_url: `${this.baseUrl}/${c.repo}/runs/${c.id}`,
      details_url: c.detailsUrl,
      status: c.status,
      conclusion: c.conclusion,
      started_at: c.startedAt,
      completed_at: c.completedAt,
      output: { ...c.output, annotations_count: 0 },
      name: c.name,
      app: { id: this.app.id, slug: this.app.slug, name: this.app.name },
      pull_requests: [],
    };
  }

  commitStatusJson(s: CommitStatusRecord) {
    return {
      url: `${this.apiUrl}/repos/${s.repo}/statuses/${s.sha}`,
      id: s.id,
      node_id: nodeId('StatusContext', s.id),
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      created_at: s.createdAt,
      updated_at: s.createdAt,
      creator: this.userJson(s.creator),
    };
  }

  reviewJson(r: ReviewRecord) {
    return {
      id: r.id,
      node_id: nodeId('PullRequestReview', r.id),
      user: this.userJson(r.user),
      body: r.body,
      state: r.state,
      commit_id: r.commitId,
      submitted_at: r.submittedAt,
      html_url: `${this.baseUrl}/${r.repo}/pull/${r.pullNumber}#pullrequestreview-${r.id}`,
      author_association: 'MEMBER',
    };
  }
}

export function nodeId(type: string, id: number): string {
  return Buffer.from(`0:${type}${id}`).toString('base64');
}

/** A stable positive id for a name (user and repository ids the stand-in was not told). */
export function hashId(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 10_000_000;
}
