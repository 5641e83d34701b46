// One GitLab project as GitLab's REST API shows it, for the GitLab stand-ins (real-dag.ts's and
// gitlab-stand-in.ts): its repository read from and written to a real bare git repository (raw
// files, trees, branches, compares, commits with actions), its merge requests, their notes, award
// emoji and approvals, its members kept in memory, its commit statuses and deployments (only when
// asked: real-dag.ts's stand-in keeps its own), and what people do (push commits, open and merge
// merge requests, write notes) with the webhooks GitLab then sends.
// Requests reach it after GitLab's contract (gitlab-contract.ts) has checked them; it applies
// GitLab's rules the contract cannot see (a file to create must not exist, a branch that exists
// needs `force` to be rewritten, one open merge request per source and target branch, only a
// note's author edits it, an emoji once per user).

import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CheckedRequest } from './gitlab-contract.ts';
import { gitlabExample } from './gitlab-examples.ts';
import { RepoGit } from './github-stand-in/git.ts';
import {
  projectCicd,
  type CommitStatusRecord,
  type DeploymentRecord,
} from './gitlab-stand-in/cicd.ts';
import { paginate } from './gitlab-stand-in/pages.ts';
import type { GitLabUser, Reply } from './gitlab-stand-in/types.ts';

export type { CommitStatusRecord, DeploymentRecord } from './gitlab-stand-in/cicd.ts';
export type { GitLabUser, Reply } from './gitlab-stand-in/types.ts';

export type NoteRecord = {
  id: number;
  body: string;
  /** The author's username (`author` in GitLab's JSON is {id, username, ...}). */
  author: string;
  authorId: number;
  createdAt: string;
  updatedAt: string;
  /** How many times the note was edited. */
  edits: number;
  /** Award emoji on the note, in the order given. */
  awards: { name: string; userId: number }[];
};

export type MergeRequestRecord = {
  iid: number;
  title: string;
  description: string;
  state: 'opened' | 'closed' | 'merged';
  sourceBranch: string;
  targetBranch: string;
  labels: string[];
  /** The source branch's head when last seen (kept when merged). */
  sha: string;
  mergeCommitSha: string | null;
  notes: NoteRecord[];
  /** Who opened it: the token's user for DAG's, a person for theirs. */
  author: GitLabUser;
  /** Users who approved it, in order. */
  approvedBy: number[];
};

export type GitLabProjectStandIn = {
  id: number;
  pathWithNamespace: string;
  webUrl: string;
  git: RepoGit;
  mergeRequests(): MergeRequestRecord[];
  /**
   * Answers a request for this project, made with the token of `caller` (the bot when not
   * said); false when it is not one.
   */
  answer(request: CheckedRequest, reply: Reply, caller?: GitLabUser): Promise<boolean>;
  /** Reads the source branches' heads again (after a push the stand-in did not make itself). */
  refresh(): Promise<void>;
  /** A person merges merge request `iid` (a merge commit on its target); the merge commit. */
  merge(iid: number): Promise<string>;
  /**
   * The Merge Request Hook GitLab sends for `action` on merge request `iid`, as it is now:
   * `oldrev` (the head before an `update` that pushed commits), the acting user (`userId`,
   * else the merge request's author) and other `attributes` of object_attributes as given.
   */
  mergeRequestHook(
    iid: number,
    action: string,
    extra?: { oldrev?: string; userId?: number; attributes?: Record<string, unknown> },
  ): Record<string, unknown>;
  /** The Push Hook GitLab sends for a push of `branch` from `before` to `after`. */
  pushHook(input: {
    branch: string;
    before: string;
    after: string;
    userId?: number;
  }): Promise<Record<string, unknown>>;
  /**
   * A person's commit of `files` (null deletes one) on `branch`, created from the default
   * branch when absent, as a push would make it (no hook is sent: see pushHook). Its sha.
   */
  commit(
    branch: string,
    files: Record<string, string | null>,
    message: string,
    author?: { name: string; email: string },
  ): Promise<string>;
  /** A person opens a merge request; its iid. */
  openMergeRequest(input: {
    source: string;
    target: string;
    title: string;
    description?: string;
    author: number;
  }): Promise<number>;
  /** A person's note on merge request `iid`, and the Note Hook GitLab sends for it. */
  addNote(iid: number, body: string, userId: number): { id: number; hook: Record<string, unknown> };
  /** The Note Hook GitLab sends for note `noteId` (DAG's too: GitLab sends one for every note). */
  noteHook(iid: number, noteId: number, action?: string): Record<string, unknown>;
  /** The notes of merge request `iid`, oldest first. */
  notes(iid: number): NoteRecord[];
  /** A person opens an issue; its iid (issues are numbered apart from merge requests). */
  openIssue(input: { title: string; author: number }): number;
  /** A person's note on issue `iid`, and the Note Hook GitLab sends for it. */
  addIssueNote(
    iid: number,
    body: string,
    userId: number,
  ): { id: number; hook: Record<string, unknown> };
  /** The notes of issue `iid`, oldest first. */
  issueNotes(iid: number): NoteRecord[];
  /** The award emoji on note `noteId`, in the order given. */
  awards(noteId: number): string[];
  /** Makes a user a member with `level` (10 Guest … 50 Owner); 0 removes them. */
  setAccessLevel(userId: number, level: number): void;
  /** A person approves merge request `iid`. */
  approve(iid: number, userId: number): void;
  /** A person's CI reports a job `name` on `sha` (`success`, `failed`, `running`, …). */
  setPipelineStatus(sha: string, name: string, status: string, userId?: number): void;
  /** Every status posted on `sha` (history, oldest first). */
  statuses(sha: string): { name: string; state: string }[];
  /** The same, as recorded (description, target URL, author). */
  statusRecords(sha: string): CommitStatusRecord[];
  deployments(): DeploymentRecord[];
};

/** DAG's token user when the project is served without a user directory. */
export const DEFAULT_BOT: GitLabUser = { id: 900, username: 'dag-bot', name: 'DAG bot' };

const HUMAN = { name: 'A Human', email: 'human@example.com' };

export function gitlabProjectStandIn(options: {
  id: number;
  pathWithNamespace: string;
  webUrl: string;
  /** The bare repository (`git rev-parse --absolute-git-dir`). */
  dir: string;
  /** Where the API is (for pagination links); `<origin of webUrl>/api/v4` when not said. */
  apiUrl?: string;
  /** The clone URL hooks carry; `<webUrl>.git` when not said. */
  httpUrl?: string;
  /** Answer commit statuses and deployments too (real-dag.ts's stand-in keeps its own). */
  cicd?: boolean;
  /** The users requests and people act as; made up from the id when not found. */
  user?: (id: number) => GitLabUser | undefined;
  /** Ids unique across the GitLab instance (notes, statuses, deployments, award emoji). */
  nextId?: (kind: string) => number;
}): GitLabProjectStandIn {
  const git = new RepoGit(options.dir);
  const mrs: MergeRequestRecord[] = [];
  /** Issues: only what their notes need (GitLab numbers them apart from merge requests). */
  const issues: {
    iid: number;
    title: string;
    author: GitLabUser;
    notes: NoteRecord[];
    issue: true;
  }[] = [];
  const members = new Map<number, number>();
  const counters = new Map<string, number>();
  const nextId =
    options.nextId ??
    ((kind: string) => {
      counters.set(kind, (counters.get(kind) ?? 0) + 1);
      return counters.get(kind) ?? 0;
    });
  const apiUrl = options.apiUrl ?? `${new URL(options.webUrl).origin}/api/v4`;
  const httpUrl = options.httpUrl ?? `${options.webUrl}.git`;
  const encoded = encodeURIComponent(options.pathWithNamespace);
  const prefix = new RegExp(`^/api/v4/projects/(?:${options.id}|${encoded})(/.*)$`);

  const userOf = (id: number): GitLabUser =>
    options.user?.(id) ??
    (id === DEFAULT_BOT.id ? DEFAULT_BOT : { id, username: `user${id}`, name: `User ${id}` });
  const userJson = (u: GitLabUser) => ({
    id: u.id,
    username: u.username,
    name: u.name,
    state: 'active',
    avatar_url: null,
    web_url: `${new URL(options.webUrl).origin}/${u.username}`,
  });
  const branchHead = (branch: string) => git.resolveCommit(`refs/heads/${branch}`);
  const commitExists = async (sha: string) => (await git.resolveCommit(sha)) === sha;
  const cicd = projectCicd({ apiUrl, nextId, commitExists });
  const mrUrl = (iid: number) => `${options.webUrl}/-/merge_requests/${iid}`;

  const commitJson = (c: {
    sha: string;
    parents: string[];
    message: string;
    author: { name: string; email: string; date: string };
  }) => ({
    id: c.sha,
    short_id: c.sha.slice(0, 8),
    title: c.message.split('\n')[0] ?? '',
    message: c.message,
    author_name: c.author.name,
    author_email: c.author.email,
    created_at: c.author.date,
    parent_ids: c.parents,
    web_url: `${options.webUrl}/-/commit/${c.sha}`,
  });

  async function refresh(): Promise<void> {
    for (const mr of mrs) {
      if (mr.state === 'opened') mr.sha = (await branchHead(mr.sourceBranch)) ?? mr.sha;
    }
  }

  async function mrJson(mr: MergeRequestRecord) {
    if (mr.state === 'opened') mr.sha = (await branchHead(mr.sourceBranch)) ?? mr.sha;
    return {
      id: 1000 + mr.iid,
      iid: mr.iid,
      project_id: options.id,
      title: mr.title,
      description: mr.description,
      state: mr.state,
      source_branch: mr.sourceBranch,
      target_branch: mr.targetBranch,
      source_project_id: options.id,
      target_project_id: options.id,
      labels: mr.labels,
      sha: mr.sha,
      merge_commit_sha: mr.mergeCommitSha,
      squash_commit_sha: null,
      author: userJson(mr.author),
      web_url: mrUrl(mr.iid),
    };
  }

  /** A thread of notes: a merge request's, or an issue's (`issue`). */
  type Thread = { iid: number; notes: NoteRecord[]; issue?: true };

  const noteJson = (mr: Thread, note: NoteRecord) => ({
    id: note.id,
    type: null,
    body: note.body,
    attachment: null,
    author: userJson(userOf(note.authorId)),
    created_at: note.createdAt,
    updated_at: note.updatedAt,
    system: false,
    noteable_id: (mr.issue ? 5000 : 1000) + mr.iid,
    noteable_type: mr.issue ? 'Issue' : 'MergeRequest',
    noteable_iid: mr.iid,
    project_id: options.id,
    resolvable: false,
    confidential: false,
    internal: false,
  });

  function newNote(mr: Thread, body: string, author: GitLabUser): NoteRecord {
    const now = new Date().toISOString();
    const note: NoteRecord = {
      id: nextId('note'),
      body,
      author: author.username,
      authorId: author.id,
      createdAt: now,
      updatedAt: now,
      edits: 0,
      awards: [],
    };
    mr.notes.push(note);
    return note;
  }

  /** A commit of `actions` on `start`, as POST /repository/commits makes it; an error or its id. */
  async function commitActions(
    start: string,
    message: string,
    actions: { action: string; file_path: string; content?: string }[],
    author: { name: string; email: string },
  ): Promise<{ error: string } | { sha: string }> {
    const index = path.join(tmpdir(), `gitlab-index-${randomUUID()}`);
    const env = { GIT_INDEX_FILE: index };
    try {
      await git.run(['read-tree', start], { env });
      for (const a of actions) {
        const exists = (await git.object(`${start}:${a.file_path}`)) !== undefined;
        if (a.action === 'create' && exists) {
          return { error: 'A file with this name already exists' };
        }
        if ((a.action === 'update' || a.action === 'delete') && !exists) {
          return { error: "A file with this name doesn't exist" };
        }
        if (a.action === 'delete') {
          await git.run(['update-index', '--force-remove', '--', a.file_path], { env });
          continue;
        }
        const blob = (await git.run(['hash-object', '-w', '--stdin'], { input: a.content ?? '' }))
          .toString('utf8')
          .trim();
        await git.run(['update-index', '--add', '--cacheinfo', `100644,${blob},${a.file_path}`], {
          env,
        });
      }
      const tree = (await git.run(['write-tree'], { env })).toString('utf8').trim();
      const sha = (
        await git.run(['commit-tree', tree, '-p', start, '-F', '-'], {
          input: message,
          env: {
            GIT_AUTHOR_NAME: author.name,
            GIT_AUTHOR_EMAIL: author.email,
            GIT_COMMITTER_NAME: author.name,
            GIT_COMMITTER_EMAIL: author.email,
          },
        })
      )
        .toString('utf8')
        .trim();
      return { sha };
    } finally {
      await rm(index, { force: true });
    }
  }

  /** Repository routes: raw files, trees, branches, compares, commits with actions. */
  async function answerRepository(
    route: string,
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): Promise<boolean> {
    const { method, query, body } = request;
    const notFound = (what: string) => reply(404, { message: `404 ${what} Not Found` });
    const raw = /^\/repository\/files\/([^/]+)\/raw$/.exec(route);
    if (method === 'GET' && raw) {
      const ref = await git.resolveCommit(query.ref ?? 'HEAD');
      const file = ref && (await git.object(`${ref}:${decodeURIComponent(raw[1] ?? '')}`));
      if (!file || file.type !== 'blob') return (notFound('File'), true);
      reply(200, file.content.toString('utf8'), 'text/plain');
      return true;
    }
    if (method === 'GET' && route === '/repository/tree') {
      const ref = await git.resolveCommit(query.ref ?? 'HEAD');
      const folder = query.path ?? '';
      const entries = ref && (await git.tree(`${ref}:${folder}`, query.recursive === 'true'));
      if (!entries) return (notFound('Tree'), true);
      const page = paginate(
        entries.map((e) => ({
          id: e.oid,
          name: e.path.split('/').at(-1),
          type: e.type,
          path: folder ? `${folder}/${e.path}` : e.path,
          mode: e.mode,
        })),
        request,
        apiUrl,
      );
      reply(200, page.items, undefined, page.headers);
      return true;
    }
    const branch = /^\/repository\/branches\/([^/]+)$/.exec(route);
    if (method === 'GET' && branch) {
      const name = decodeURIComponent(branch[1] ?? '');
      const head = await branchHead(name);
      if (!head) return (notFound('Branch'), true);
      reply(200, { name, commit: { id: head }, merged: false, protected: false });
      return true;
    }
    if (method === 'GET' && route === '/repository/compare') {
      const from = await git.resolveCommit(query.from ?? '');
      const to = await git.resolveCommit(query.to ?? '');
      const base = from && to && (await git.mergeBase(from, to));
      if (!from || !to || !base) return (notFound('Commit'), true);
      reply(200, {
        commit: null,
        commits: (await git.commits(`${base}..${to}`)).map(commitJson),
        diffs: (await git.changes(base, to)).map((c) => ({
          old_path: c.previous_filename ?? c.filename,
          new_path: c.filename,
        })),
        compare_timeout: false,
        compare_same_ref: from === to,
        web_url: `${options.webUrl}/-/compare/${from}...${to}`,
      });
      return true;
    }
    if (method === 'POST' && route === '/repository/commits') {
      const name = String(body.branch);
      const start = String(body.start_sha ?? '');
      const existing = await branchHead(name);
      if (existing && body.force !== true && body.force !== 'true') {
        reply(400, {
          message: `A branch called '${name}' already exists. Switch to that branch in order to make changes`,
        });
        return true;
      }
      if (!(await git.resolveCommit(start)))
        return (reply(400, { message: 'Invalid start SHA' }), true);
      const author = { name: caller.name, email: `${caller.username}@example.com` };
      const made = await commitActions(
        start,
        String(body.commit_message),
        body.actions as { action: string; file_path: string; content?: string }[],
        author,
      );
      if ('error' in made) return (reply(400, { message: made.error }), true);
      await git.run([
        'update-ref',
        `refs/heads/${name}`,
        made.sha,
        ...(existing ? [existing] : ['0'.repeat(40)]),
      ]);
      await refresh();
      const [info] = await git.commits(`${made.sha}~1..${made.sha}`);
      reply(
        201,
        commitJson(
          info ?? { sha: made.sha, parents: [start], message: '', author: { ...author, date: '' } },
        ),
      );
      return true;
    }
    return false;
  }

  /** Merge request routes: list, create, show, update. */
  async function answerMergeRequests(
    route: string,
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): Promise<boolean> {
    const { method, query, body } = request;
    // The merge requests that brought a commit in (merged as it), or whose head it is.
    const commitMrs = /^\/repository\/commits\/([0-9a-f]{7,40})\/merge_requests$/.exec(route);
    if (method === 'GET' && commitMrs) {
      const sha = commitMrs[1] as string;
      const found = mrs.filter((mr) => mr.mergeCommitSha === sha || mr.sha === sha);
      const page = paginate(found.toReversed(), request, apiUrl);
      reply(200, await Promise.all(page.items.map(mrJson)), undefined, page.headers);
      return true;
    }
    if (method === 'GET' && route === '/merge_requests') {
      const found = mrs.filter(
        (mr) =>
          (query.state === undefined || query.state === 'all' || mr.state === query.state) &&
          (query.source_branch === undefined || mr.sourceBranch === query.source_branch) &&
          (query.target_branch === undefined || mr.targetBranch === query.target_branch) &&
          // Every label asked for (a comma-separated list).
          (query.labels ?? '').split(',').every((l) => l === '' || mr.labels.includes(l)),
      );
      const page = paginate(found.toReversed(), request, apiUrl);
      reply(200, await Promise.all(page.items.map(mrJson)), undefined, page.headers);
      return true;
    }
    if (method === 'POST' && route === '/merge_requests') {
      const opened = await open({
        source: String(body.source_branch),
        target: String(body.target_branch),
        title: String(body.title),
        description: String(body.description ?? ''),
        labels: typeof body.labels === 'string' ? body.labels.split(',') : [],
        author: caller,
      });
      if ('error' in opened) return (reply(opened.status, { message: opened.error }), true);
      reply(201, await mrJson(opened.mr));
      return true;
    }
    const one = /^\/merge_requests\/(\d+)$/.exec(route);
    const mr = one && mrs.find((m) => m.iid === Number(one[1]));
    if (one && !mr) return (reply(404, { message: '404 Not found' }), true);
    if (mr && method === 'GET') return (reply(200, await mrJson(mr)), true);
    if (mr && method === 'PUT') {
      if (typeof body.title === 'string') mr.title = body.title;
      if (typeof body.description === 'string') mr.description = body.description;
      if (body.state_event === 'close' && mr.state === 'opened') mr.state = 'closed';
      if (body.state_event === 'reopen' && mr.state === 'closed') mr.state = 'opened';
      reply(200, await mrJson(mr));
      return true;
    }
    return false;
  }

  /** Opens a merge request as GitLab does: both branches must exist, one open per pair. */
  async function open(input: {
    source: string;
    target: string;
    title: string;
    description: string;
    labels: string[];
    author: GitLabUser;
  }): Promise<{ mr: MergeRequestRecord } | { status: number; error: unknown }> {
    const sha = await branchHead(input.source);
    if (!sha || !(await branchHead(input.target))) {
      return { status: 404, error: '404 Branch Not Found' };
    }
    const other = mrs.find(
      (m) =>
        m.state === 'opened' && m.sourceBranch === input.source && m.targetBranch === input.target,
    );
    if (other) {
      return {
        status: 409,
        error: [`Another open merge request already exists for this source branch: !${other.iid}`],
      };
    }
    const mr: MergeRequestRecord = {
      iid: mrs.length + 1,
      title: input.title,
      description: input.description,
      state: 'opened',
      sourceBranch: input.source,
      targetBranch: input.target,
      labels: input.labels,
      sha,
      mergeCommitSha: null,
      notes: [],
      author: input.author,
      approvedBy: [],
    };
    mrs.push(mr);
    return { mr };
  }

  /** Notes, their award emoji, and approvals of a merge request; members of the project. */
  function answerReviews(
    route: string,
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): boolean {
    const { method, body, query } = request;
    const member = /^\/members\/all\/(\d+)$/.exec(route);
    if (method === 'GET' && member) {
      const id = Number(member[1]);
      const level = members.get(id);
      if (level === undefined) return (reply(404, { message: '404 Not found' }), true);
      reply(200, { ...userJson(userOf(id)), access_level: level });
      return true;
    }
    const at =
      /^\/(merge_requests|issues)\/(\d+)\/(notes|approvals)(?:\/(\d+)(\/award_emoji)?)?$/.exec(
        route,
      );
    if (!at) return false;
    const onIssue = at[1] === 'issues';
    const iid = Number(at[2]);
    // From here on the groups are those of a merge request's route: notes|approvals, note, emoji.
    at.splice(1, 1);
    const merge = onIssue ? undefined : mrs.find((m) => m.iid === iid);
    const mr: Thread | undefined = onIssue ? issues.find((i) => i.iid === iid) : merge;
    if (!mr) return (reply(404, { message: '404 Not found' }), true);
    if (at[2] === 'approvals' && method === 'GET') {
      if (!merge) return (reply(404, { message: '404 Not found' }), true);
      reply(200, {
        id: 1000 + merge.iid,
        iid: merge.iid,
        project_id: options.id,
        title: merge.title,
        state: merge.state,
        // GitLab's default: no approval rule, so approved whoever approved.
        approved: true,
        approvals_required: 0,
        approvals_left: 0,
        approved_by: merge.approvedBy.map((id) => ({ user: userJson(userOf(id)) })),
      });
      return true;
    }
    if (at[3] === undefined && method === 'GET') {
      const order = query.order_by === 'updated_at' ? 'updatedAt' : 'createdAt';
      const sorted = mr.notes.toSorted((a, b) => a[order].localeCompare(b[order]) || a.id - b.id);
      // GitLab's default is newest first; DAG asks for `sort=asc`.
      const page = paginate(query.sort === 'asc' ? sorted : sorted.toReversed(), request, apiUrl);
      reply(
        200,
        page.items.map((n) => noteJson(mr, n)),
        undefined,
        page.headers,
      );
      return true;
    }
    if (at[3] === undefined && method === 'POST') {
      reply(201, noteJson(mr, newNote(mr, String(body.body), caller)));
      return true;
    }
    const note = mr.notes.find((n) => n.id === Number(at[3]));
    if (!note) return (reply(404, { message: '404 Not found' }), true);
    if (at[4] && method === 'POST') {
      const name = String(body.name);
      // lib/api/award_emoji.rb: a second award of the same name by the same user.
      if (note.awards.some((a) => a.name === name && a.userId === caller.id)) {
        return (reply(404, { message: '404 Award Emoji Name has already been taken' }), true);
      }
      note.awards.push({ name, userId: caller.id });
      const now = new Date().toISOString();
      reply(201, {
        id: nextId('award'),
        name,
        user: userJson(caller),
        created_at: now,
        updated_at: now,
        awardable_id: note.id,
        awardable_type: 'Note',
      });
      return true;
    }
    if (method === 'PUT') {
      // Only the author edits a note (GitLab's `admin_note`, which a maintainer has, deletes).
      if (note.authorId !== caller.id) return (reply(403, { message: '403 Forbidden' }), true);
      note.body = String(body.body);
      note.updatedAt = new Date().toISOString();
      note.edits += 1;
      reply(200, noteJson(mr, note));
      return true;
    }
    if (method === 'DELETE') {
      if (note.authorId !== caller.id && (members.get(caller.id) ?? 0) < 40) {
        return (reply(403, { message: '403 Forbidden' }), true);
      }
      mr.notes.splice(mr.notes.indexOf(note), 1);
      reply(204, '', 'text/plain');
      return true;
    }
    return false;
  }

  async function answer(
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser = userOf(DEFAULT_BOT.id),
  ): Promise<boolean> {
    const match = prefix.exec(request.path);
    if (!match) return false;
    const route = match[1] ?? '';
    return (
      (await answerRepository(route, request, reply, caller)) ||
      answerReviews(route, request, reply, caller) ||
      (await answerMergeRequests(route, request, reply, caller)) ||
      (options.cicd === true && (await cicd.answer(route, request, reply, caller)))
    );
  }

  const project = (): Record<string, unknown> => {
    const example = (gitlabExample('push-hook') as { project: Record<string, unknown> }).project;
    return {
      ...example,
      id: options.id,
      name: options.pathWithNamespace.split('/').at(-1),
      namespace: options.pathWithNamespace.split('/').slice(0, -1).join('/'),
      path_with_namespace: options.pathWithNamespace,
      web_url: options.webUrl,
      homepage: options.webUrl,
      git_http_url: httpUrl,
      http_url: httpUrl,
      git_ssh_url: `git@${new URL(options.webUrl).host}:${options.pathWithNamespace}.git`,
    };
  };

  const lastCommit = (mr: MergeRequestRecord) => ({
    id: mr.sha,
    url: `${options.webUrl}/-/commit/${mr.sha}`,
  });

  const mergeRequestOf = (iid: number) => {
    const mr = mrs.find((m) => m.iid === iid);
    if (!mr) throw new Error(`no merge request !${iid}`);
    return mr;
  };

  const hookUser = (u: GitLabUser) => ({
    id: u.id,
    name: u.name,
    username: u.username,
    avatar_url: null,
    email: '[REDACTED]',
  });

  /**
   * A Note Hook as GitLab sends it, from its documented example `example`: the note, its author,
   * the project, and what the note is on (`noteable`: its type, id and web address).
   */
  function noteHookOf(
    example: 'note-hook-merge-request' | 'note-hook-issue',
    note: NoteRecord,
    noteable: { type: 'MergeRequest' | 'Issue'; id: number; url: string },
    action: string,
  ): Record<string, unknown> & { object_attributes: Record<string, unknown> } {
    const author = userOf(note.authorId);
    const payload = gitlabExample(example) as Record<string, unknown> & {
      object_attributes: Record<string, unknown>;
    };
    return {
      ...payload,
      object_kind: 'note',
      event_type: 'note',
      user: hookUser(author),
      project_id: options.id,
      project: project(),
      repository: { name: project().name, url: httpUrl, homepage: options.webUrl },
      object_attributes: {
        ...payload.object_attributes,
        id: note.id,
        note: note.body,
        noteable_type: noteable.type,
        author_id: author.id,
        project_id: options.id,
        noteable_id: noteable.id,
        created_at: note.createdAt,
        updated_at: note.updatedAt,
        system: false,
        action,
        url: `${noteable.url}#note_${note.id}`,
      },
    };
  }

  /** The Note Hook GitLab sends for note `noteId` of merge request `iid` (`action`: create, update). */
  function noteHook(iid: number, noteId: number, action = 'create'): Record<string, unknown> {
    const mr = mergeRequestOf(iid);
    const note = mr.notes.find((n) => n.id === noteId);
    if (!note) throw new Error(`no note ${noteId} on !${iid}`);
    const hook = noteHookOf(
      'note-hook-merge-request',
      note,
      { type: 'MergeRequest', id: 1000 + mr.iid, url: mrUrl(mr.iid) },
      action,
    );
    return {
      ...hook,
      merge_request: {
        ...(hook.merge_request as Record<string, unknown>),
        ...mergeRequestAttributes(mr),
      },
    };
  }

  /** The Note Hook GitLab sends for note `noteId` of issue `iid` (a person's new note). */
  function issueNoteHook(iid: number, noteId: number): Record<string, unknown> {
    const issue = issues.find((i) => i.iid === iid);
    const note = issue?.notes.find((n) => n.id === noteId);
    if (!issue || !note) throw new Error(`no note ${noteId} on issue #${iid}`);
    const url = `${options.webUrl}/-/issues/${iid}`;
    const hook = noteHookOf(
      'note-hook-issue',
      note,
      { type: 'Issue', id: 5000 + iid, url },
      'create',
    );
    return {
      ...hook,
      issue: {
        ...(hook.issue as Record<string, unknown>),
        id: 5000 + iid,
        iid,
        title: issue.title,
        author_id: issue.author.id,
        project_id: options.id,
        state: 'opened',
        url,
      },
    };
  }

  /** A merge request as hooks show it (object_attributes of the Merge Request Hook). */
  function mergeRequestAttributes(mr: MergeRequestRecord): Record<string, unknown> {
    return {
      id: 1000 + mr.iid,
      iid: mr.iid,
      title: mr.title,
      description: mr.description,
      source_branch: mr.sourceBranch,
      target_branch: mr.targetBranch,
      source_project_id: options.id,
      target_project_id: options.id,
      source: project(),
      target: project(),
      author_id: mr.author.id,
      state: mr.state,
      state_id: { opened: 1, closed: 2, merged: 3 }[mr.state],
      merge_commit_sha: mr.mergeCommitSha,
      last_commit: lastCommit(mr),
      url: mrUrl(mr.iid),
    };
  }

  return {
    id: options.id,
    pathWithNamespace: options.pathWithNamespace,
    webUrl: options.webUrl,
    git,
    mergeRequests: () => mrs,
    answer,
    refresh,

    async merge(iid) {
      const mr = mrs.find((m) => m.iid === iid && m.state === 'opened');
      if (!mr) throw new Error(`no open merge request !${iid}`);
      const base = await branchHead(mr.targetBranch);
      const head = await branchHead(mr.sourceBranch);
      if (!base || !head) throw new Error(`merge request !${iid}: a branch is gone`);
      const tree = (await git.text(['merge-tree', '--write-tree', base, head])).split('\n')[0];
      const message = `Merge branch '${mr.sourceBranch}' into '${mr.targetBranch}'\n\n${mr.title}\n\nSee merge request ${options.pathWithNamespace}!${iid}\n`;
      const merge = (
        await git.run(['commit-tree', tree ?? '', '-p', base, '-p', head, '-F', '-'], {
          input: message,
          env: {
            GIT_AUTHOR_NAME: HUMAN.name,
            GIT_AUTHOR_EMAIL: HUMAN.email,
            GIT_COMMITTER_NAME: HUMAN.name,
            GIT_COMMITTER_EMAIL: HUMAN.email,
          },
        })
      )
        .toString('utf8')
        .trim();
      await git.run(['update-ref', `refs/heads/${mr.targetBranch}`, merge, base]);
      Object.assign(mr, { state: 'merged', sha: head, mergeCommitSha: merge });
      return merge;
    },

    mergeRequestHook(iid, action, extra = {}) {
      const mr = mergeRequestOf(iid);
      const example = gitlabExample('merge-request-hook') as Record<string, unknown> & {
        object_attributes: Record<string, unknown>;
      };
      const actor = extra.userId === undefined ? mr.author : userOf(extra.userId);
      return {
        ...example,
        object_kind: 'merge_request',
        event_type: 'merge_request',
        user: hookUser(actor),
        project: project(),
        repository: { name: project().name, url: httpUrl, homepage: options.webUrl },
        labels: mr.labels.map((title, index) => ({ id: index + 1, title })),
        changes: {},
        object_attributes: {
          ...example.object_attributes,
          ...mergeRequestAttributes(mr),
          labels: mr.labels.map((title, index) => ({ id: index + 1, title })),
          action,
          ...(extra.oldrev === undefined ? {} : { oldrev: extra.oldrev }),
          ...extra.attributes,
        },
      };
    },

    async pushHook({ branch, before, after, userId }) {
      const zero = /^0+$/;
      const pusher = userOf(userId ?? 1);
      const base = zero.test(before) ? await branchHead(await git.defaultBranch()) : before;
      const range = base && base !== after ? `${base}..${after}` : after;
      const total = zero.test(after) ? 0 : await git.count(range);
      // GitLab lists at most 20 commits (the newest), and counts them all.
      const listed = zero.test(after) ? [] : (await git.commits(range)).slice(-20);
      const commits = await Promise.all(
        listed.map(async (c) => ({
          id: c.sha,
          message: c.message,
          title: c.message.split('\n')[0] ?? '',
          timestamp: c.author.date,
          url: `${options.webUrl}/-/commit/${c.sha}`,
          author: { name: c.author.name, email: c.author.email },
          ...(await touched(c.sha)),
        })),
      );
      return {
        ...gitlabExample('push-hook'),
        before,
        after,
        ref: `refs/heads/${branch}`,
        ref_protected: branch === (await git.defaultBranch()),
        checkout_sha: zero.test(after) ? null : after,
        message: null,
        user_id: pusher.id,
        user_name: pusher.name,
        user_username: pusher.username,
        user_email: '',
        project_id: options.id,
        project: project(),
        repository: {
          name: project().name,
          url: httpUrl,
          homepage: options.webUrl,
          git_http_url: httpUrl,
        },
        commits,
        total_commits_count: total,
      };
    },

    async commit(branch, files, message, author = HUMAN) {
      if (!(await branchHead(branch))) {
        const start = await branchHead(await git.defaultBranch());
        if (!start) throw new Error(`no default branch in ${options.pathWithNamespace}`);
        await git.run(['update-ref', `refs/heads/${branch}`, start, '0'.repeat(40)]);
      }
      const sha = await git.commit(branch, files, message, author);
      await refresh();
      return sha;
    },

    async openMergeRequest(input) {
      const opened = await open({
        source: input.source,
        target: input.target,
        title: input.title,
        description: input.description ?? '',
        labels: [],
        author: userOf(input.author),
      });
      if ('error' in opened) throw new Error(JSON.stringify(opened.error));
      return opened.mr.iid;
    },

    addNote(iid, body, userId) {
      const note = newNote(mergeRequestOf(iid), body, userOf(userId));
      return { id: note.id, hook: noteHook(iid, note.id) };
    },

    noteHook,

    notes: (iid) => mergeRequestOf(iid).notes,
    openIssue({ title, author }) {
      const iid = issues.length + 1;
      issues.push({ iid, title, author: userOf(author), notes: [], issue: true });
      return iid;
    },
    addIssueNote(iid, body, userId) {
      const issue = issues.find((i) => i.iid === iid);
      if (!issue) throw new Error(`no issue #${iid}`);
      const note = newNote(issue, body, userOf(userId));
      return { id: note.id, hook: issueNoteHook(iid, note.id) };
    },
    issueNotes: (iid) => issues.find((i) => i.iid === iid)?.notes ?? [],
    awards: (noteId) =>
      [...mrs, ...issues].flatMap((thread) =>
        thread.notes.filter((n) => n.id === noteId).flatMap((n) => n.awards.map((a) => a.name)),
      ),
    setAccessLevel(userId, level) {
      if (level > 0) members.set(userId, level);
      else members.delete(userId);
    },
    approve(iid, userId) {
      const mr = mergeRequestOf(iid);
      if (!mr.approvedBy.includes(userId)) mr.approvedBy.push(userId);
    },
    setPipelineStatus(sha, name, status, userId = 1) {
      cicd.setPipelineStatus(sha, name, status, userOf(userId));
    },
    statuses: (sha) => cicd.statuses(sha).map((s) => ({ name: s.name, state: s.state })),
    statusRecords: (sha) => cicd.statuses(sha),
    deployments: () => cicd.deployments(),
  };

  /** The files a commit added, modified and removed, as a Push Hook lists them. */
  async function touched(sha: string) {
    const out = await git.text([
      'diff-tree',
      '--root',
      '--no-commit-id',
      '--name-status',
      '-r',
      '-m',
      '--first-parent',
      sha,
    ]);
    const files = { added: [] as string[], modified: [] as string[], removed: [] as string[] };
    for (const line of out.split('\n').filter(Boolean)) {
      const [code = '', name = ''] = line.split('\t');
      const list = code === 'A' ? files.added : code === 'D' ? files.removed : files.modified;
      list.push(name);
    }
    return files;
  }
}
