// A GitLab project's commit statuses and deployments, as its REST API keeps them: what external
// tools (DAG) and a person's CI post, listed the way GitLab lists them. The contract
// (gitlab-contract.ts) has refused the transitions GitLab refuses before a request gets here.

import type { CheckedRequest } from '../gitlab-contract.ts';
import { paginate } from './pages.ts';
import type { GitLabUser, Reply } from './types.ts';

export type CommitStatusRecord = {
  id: number;
  sha: string;
  ref: string | null;
  name: string;
  state: string;
  description: string | null;
  targetUrl: string | null;
  author: GitLabUser;
  createdAt: string;
  updatedAt: string;
};

export type DeploymentRecord = {
  id: number;
  iid: number;
  environment: string;
  sha: string;
  ref: string;
  tag: boolean;
  status: string;
  user: GitLabUser;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** Status changes, in order, the first being the one it was created with. */
  history: string[];
};

const FINISHED = new Set(['success', 'failed', 'canceled', 'skipped']);

export type ProjectCicd = {
  /** Answers a statuses or deployments route (`route` is the path after the project); false if none. */
  answer(
    route: string,
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): Promise<boolean>;
  /** Every status posted on `sha`, oldest first (GitLab keeps them all; it lists the latest). */
  statuses(sha: string): CommitStatusRecord[];
  /** A person's CI reports on a commit (a job named `name`). */
  setPipelineStatus(sha: string, name: string, state: string, author: GitLabUser): void;
  deployments(): DeploymentRecord[];
};

const userJson = (u: GitLabUser) => ({
  id: u.id,
  username: u.username,
  name: u.name,
  state: 'active',
});

export function projectCicd(options: {
  apiUrl: string;
  nextId: (kind: 'status' | 'deployment' | 'environment') => number;
  commitExists: (sha: string) => Promise<boolean>;
}): ProjectCicd {
  const statuses: CommitStatusRecord[] = [];
  const deployments: DeploymentRecord[] = [];
  const environments = new Map<string, number>();

  /** GitLab reuses a status still pending or running, and starts a new one after a finished one. */
  function post(
    input: Omit<CommitStatusRecord, 'id' | 'createdAt' | 'updatedAt'>,
  ): CommitStatusRecord {
    const now = new Date().toISOString();
    const open = statuses.findLast(
      (s) => s.sha === input.sha && s.name === input.name && s.ref === input.ref,
    );
    if (open && !FINISHED.has(open.state)) {
      const updated = { ...open, ...input, updatedAt: now };
      statuses.push(updated);
      return updated;
    }
    const created = { ...input, id: options.nextId('status'), createdAt: now, updatedAt: now };
    statuses.push(created);
    return created;
  }

  const statusJson = (s: CommitStatusRecord) => ({
    id: s.id,
    sha: s.sha,
    ref: s.ref,
    status: s.state,
    name: s.name,
    target_url: s.targetUrl,
    description: s.description,
    created_at: s.createdAt,
    started_at: s.createdAt,
    finished_at: FINISHED.has(s.state) ? s.updatedAt : null,
    allow_failure: false,
    coverage: null,
    author: userJson(s.author),
  });

  /** The latest status of each name (and ref) on the commit, by id, as GitLab lists them. */
  function latest(sha: string, query: Record<string, string>): CommitStatusRecord[] {
    const matching = statuses.filter(
      (s) =>
        s.sha === sha &&
        (query.name === undefined || s.name === query.name) &&
        (query.ref === undefined || s.ref === query.ref),
    );
    if (query.all === 'true') return uniqueById(matching);
    const byName = new Map<string, CommitStatusRecord>();
    for (const s of matching) byName.set(`${s.name}\0${s.ref ?? ''}`, s);
    const list = [...byName.values()].sort((a, b) => a.id - b.id);
    return query.sort === 'desc' ? list.toReversed() : list;
  }

  const deploymentJson = (d: DeploymentRecord) => ({
    id: d.id,
    iid: d.iid,
    ref: d.ref,
    sha: d.sha,
    tag: d.tag,
    status: d.status,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
    finished_at: d.finishedAt,
    user: userJson(d.user),
    environment: { id: environments.get(d.environment), name: d.environment, external_url: null },
    // API-created: no CI job behind it.
    deployable: null,
  });

  function listDeployments(query: Record<string, string>): DeploymentRecord[] {
    const key = (query.order_by ?? 'id') as 'id';
    const field = {
      id: (d: DeploymentRecord) => d.id,
      iid: (d: DeploymentRecord) => d.iid,
      created_at: (d: DeploymentRecord) => d.createdAt,
      updated_at: (d: DeploymentRecord) => d.updatedAt,
      finished_at: (d: DeploymentRecord) => d.finishedAt ?? '',
      ref: (d: DeploymentRecord) => d.ref,
    }[key];
    const list = deployments
      .filter(
        (d) =>
          (query.environment === undefined || d.environment === query.environment) &&
          (query.status === undefined || d.status === query.status) &&
          within(d.updatedAt, query.updated_after, query.updated_before) &&
          within(d.finishedAt, query.finished_after, query.finished_before),
      )
      // Ties (same timestamp) by id, as GitLab's finder does.
      .sort((a, b) => compare(field(a), field(b)) || a.id - b.id);
    // GitLab's default order is ascending: DAG asks for `sort=desc` to read the newest first.
    return query.sort === 'desc' ? list.toReversed() : list;
  }

  async function answer(
    route: string,
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): Promise<boolean> {
    const { method, body, query } = request;
    const posted = /^\/statuses\/([0-9a-f]+)$/.exec(route);
    if (method === 'POST' && posted) {
      const sha = posted[1] ?? '';
      if (!(await options.commitExists(sha)))
        return (reply(404, { message: '404 Commit Not Found' }), true);
      const status = post({
        sha,
        ref: typeof body.ref === 'string' ? body.ref : null,
        name: String(body.name ?? body.context ?? 'default'),
        state: String(body.state),
        description: typeof body.description === 'string' ? body.description : null,
        targetUrl: typeof body.target_url === 'string' ? body.target_url : null,
        author: caller,
      });
      reply(201, statusJson(status));
      return true;
    }
    const listed = /^\/repository\/commits\/([0-9a-f]+)\/statuses$/.exec(route);
    if (method === 'GET' && listed) {
      const sha = listed[1] ?? '';
      if (!(await options.commitExists(sha)))
        return (reply(404, { message: '404 Commit Not Found' }), true);
      const page = paginate(latest(sha, query), request, options.apiUrl);
      reply(200, page.items.map(statusJson), undefined, page.headers);
      return true;
    }
    if (method === 'POST' && route === '/deployments') {
      const sha = String(body.sha);
      if (!(await options.commitExists(sha))) {
        return (reply(400, { message: { sha: ['is not a valid commit'] } }), true);
      }
      const environment = String(body.environment);
      if (!environments.has(environment))
        environments.set(environment, options.nextId('environment'));
      const now = new Date().toISOString();
      const status = String(body.status);
      const deployment: DeploymentRecord = {
        id: options.nextId('deployment'),
        iid: deployments.length + 1,
        environment,
        sha,
        ref: String(body.ref),
        tag: body.tag === true || body.tag === 'true',
        status,
        user: caller,
        createdAt: now,
        updatedAt: now,
        finishedAt: FINISHED.has(status) ? now : null,
        history: [status],
      };
      deployments.push(deployment);
      reply(201, deploymentJson(deployment));
      return true;
    }
    if (method === 'GET' && route === '/deployments') {
      const page = paginate(listDeployments(query), request, options.apiUrl);
      reply(200, page.items.map(deploymentJson), undefined, page.headers);
      return true;
    }
    const one = /^\/deployments\/(\d+)$/.exec(route);
    const deployment = one && deployments.find((d) => d.id === Number(one[1]));
    if (one && !deployment) return (reply(404, { message: '404 Not found' }), true);
    if (deployment && method === 'GET') return (reply(200, deploymentJson(deployment)), true);
    if (deployment && method === 'PUT') {
      const now = new Date().toISOString();
      deployment.status = String(body.status);
      deployment.updatedAt = now;
      deployment.finishedAt = FINISHED.has(deployment.status) ? now : null;
      deployment.history.push(deployment.status);
      reply(200, deploymentJson(deployment));
      return true;
    }
    return false;
  }

  return {
    answer,
    statuses: (sha) => statuses.filter((s) => s.sha === sha),
    setPipelineStatus(sha, name, state, author) {
      post({ sha, ref: null, name, state, description: null, targetUrl: null, author });
    },
    deployments: () => deployments,
  };
}

/** `at` between the filter's bounds (GitLab's `*_after` and `*_before`), when it has any. */
function within(at: string | null, after?: string, before?: string): boolean {
  if (after === undefined && before === undefined) return true;
  if (at === null) return false;
  const time = Date.parse(at);
  return (
    (after === undefined || time > Date.parse(after)) &&
    (before === undefined || time < Date.parse(before))
  );
}

function compare(a: string | number, b: string | number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A status updated in place shows once in `all`, as it is now. */
function uniqueById(list: CommitStatusRecord[]): CommitStatusRecord[] {
  const byId = new Map<number, CommitStatusRecord>();
  for (const s of list) byId.set(s.id, s);
  return [...byId.values()];
}
