// One GitLab project as GitLab's REST API shows it, for the GitLab stand-in of real-dag.ts: its
// repository read from and written to a real bare git repository (raw files, trees, branches,
// compares, commits with actions), its merge requests and their notes kept in memory, and what a
// person does in GitLab's UI (merge a merge request) with the Merge Request Hook GitLab then sends.
// Requests reach it after GitLab's contract (gitlab-contract.ts) has checked them; it applies
// GitLab's rules the contract cannot see (a file to create must not exist, a branch that exists
// needs `force` to be rewritten, one open merge request per source and target branch).

import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CheckedRequest } from './gitlab-contract.ts';
import { gitlabExample } from './gitlab-examples.ts';
import { RepoGit } from './github-stand-in/git.ts';

type Reply = (status: number, value: unknown, contentType?: string) => void;

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
  notes: { id: number; body: string; author: string }[];
};

export type GitLabProjectStandIn = {
  id: number;
  pathWithNamespace: string;
  webUrl: string;
  git: RepoGit;
  mergeRequests(): MergeRequestRecord[];
  /** Answers a request for this project; false when it is not one. */
  answer(request: CheckedRequest, reply: Reply): Promise<boolean>;
  /** A person merges merge request `iid` (a merge commit on its target); the merge commit. */
  merge(iid: number): Promise<string>;
  /** The Merge Request Hook GitLab sends for `action` on merge request `iid`, as it is now. */
  mergeRequestHook(iid: number, action: string): Record<string, unknown>;
};

const BOT = { name: 'DAG bot', email: 'dag-bot@example.com', username: 'dag-bot' };

export function gitlabProjectStandIn(options: {
  id: number;
  pathWithNamespace: string;
  webUrl: string;
  /** The bare repository (`git rev-parse --absolute-git-dir`). */
  dir: string;
}): GitLabProjectStandIn {
  const git = new RepoGit(options.dir);
  const mrs: MergeRequestRecord[] = [];
  let noteIds = 0;
  const encoded = encodeURIComponent(options.pathWithNamespace);
  const prefix = new RegExp(`^/api/v4/projects/(?:${options.id}|${encoded})(/.*)$`);

  const branchHead = (branch: string) => git.resolveCommit(`refs/heads/${branch}`);

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
      author: { username: BOT.username, name: BOT.name },
      web_url: `${options.webUrl}/-/merge_requests/${mr.iid}`,
    };
  }

  /** A commit of `actions` on `start`, as POST /repository/commits makes it; an error or its id. */
  async function commitActions(
    start: string,
    message: string,
    actions: { action: string; file_path: string; content?: string }[],
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
            GIT_AUTHOR_NAME: BOT.name,
            GIT_AUTHOR_EMAIL: BOT.email,
            GIT_COMMITTER_NAME: BOT.name,
            GIT_COMMITTER_EMAIL: BOT.email,
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

  async function answer(request: CheckedRequest, reply: Reply): Promise<boolean> {
    const match = prefix.exec(request.path);
    if (!match) return false;
    const route = match[1] ?? '';
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
      reply(
        200,
        entries.map((e) => ({
          id: e.oid,
          name: e.path.split('/').at(-1),
          type: e.type,
          path: folder ? `${folder}/${e.path}` : e.path,
          mode: e.mode,
        })),
      );
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
      const made = await commitActions(
        start,
        String(body.commit_message),
        body.actions as { action: string; file_path: string; content?: string }[],
      );
      if ('error' in made) return (reply(400, { message: made.error }), true);
      await git.run([
        'update-ref',
        `refs/heads/${name}`,
        made.sha,
        ...(existing ? [existing] : ['0'.repeat(40)]),
      ]);
      const [info] = await git.commits(`${made.sha}~1..${made.sha}`);
      reply(
        201,
        commitJson(
          info ?? { sha: made.sha, parents: [start], message: '', author: { ...BOT, date: '' } },
        ),
      );
      return true;
    }
    if (method === 'GET' && route === '/merge_requests') {
      const found = mrs.filter(
        (mr) =>
          (query.state === undefined || query.state === 'all' || mr.state === query.state) &&
          (query.source_branch === undefined || mr.sourceBranch === query.source_branch) &&
          (query.target_branch === undefined || mr.targetBranch === query.target_branch),
      );
      reply(200, await Promise.all(found.toReversed().map(mrJson)));
      return true;
    }
    if (method === 'POST' && route === '/merge_requests') {
      const source = String(body.source_branch);
      const target = String(body.target_branch);
      const sha = await branchHead(source);
      if (!sha || !(await branchHead(target)))
        return (reply(404, { message: '404 Branch Not Found' }), true);
      if (
        mrs.some(
          (m) => m.state === 'opened' && m.sourceBranch === source && m.targetBranch === target,
        )
      ) {
        reply(409, {
          message: [
            `Another open merge request already exists for this source branch: !${mrs.length}`,
          ],
        });
        return true;
      }
      const mr: MergeRequestRecord = {
        iid: mrs.length + 1,
        title: String(body.title),
        description: String(body.description ?? ''),
        state: 'opened',
        sourceBranch: source,
        targetBranch: target,
        labels: typeof body.labels === 'string' ? body.labels.split(',') : [],
        sha,
        mergeCommitSha: null,
        notes: [],
      };
      mrs.push(mr);
      reply(201, await mrJson(mr));
      return true;
    }
    const one = /^\/merge_requests\/(\d+)(\/notes)?$/.exec(route);
    const mr = one && mrs.find((m) => m.iid === Number(one[1]));
    if (one && !mr) return (notFound(''), true);
    if (mr && one?.[2] && method === 'POST') {
      const note = { id: ++noteIds, body: String(body.body), author: BOT.username };
      mr.notes.push(note);
      reply(201, { id: note.id, body: note.body, author: { username: note.author } });
      return true;
    }
    if (mr && !one?.[2] && method === 'GET') {
      reply(200, await mrJson(mr));
      return true;
    }
    if (mr && !one?.[2] && method === 'PUT') {
      if (typeof body.title === 'string') mr.title = body.title;
      if (typeof body.description === 'string') mr.description = body.description;
      if (body.state_event === 'close' && mr.state === 'opened') mr.state = 'closed';
      if (body.state_event === 'reopen' && mr.state === 'closed') mr.state = 'opened';
      reply(200, await mrJson(mr));
      return true;
    }
    return false;
  }

  return {
    id: options.id,
    pathWithNamespace: options.pathWithNamespace,
    webUrl: options.webUrl,
    git,
    mergeRequests: () => mrs,
    answer,

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
            GIT_AUTHOR_NAME: 'A Human',
            GIT_AUTHOR_EMAIL: 'human@example.com',
            GIT_COMMITTER_NAME: 'A Human',
            GIT_COMMITTER_EMAIL: 'human@example.com',
          },
        })
      )
        .toString('utf8')
        .trim();
      await git.run(['update-ref', `refs/heads/${mr.targetBranch}`, merge, base]);
      Object.assign(mr, { state: 'merged', sha: head, mergeCommitSha: merge });
      return merge;
    },

    mergeRequestHook(iid, action) {
      const mr = mrs.find((m) => m.iid === iid);
      if (!mr) throw new Error(`no merge request !${iid}`);
      const example = gitlabExample('merge-request-hook') as Record<string, unknown> & {
        object_attributes: Record<string, unknown>;
      };
      const project = (gitlabExample('push-hook') as { project: Record<string, unknown> }).project;
      return {
        ...example,
        project: {
          ...project,
          id: options.id,
          path_with_namespace: options.pathWithNamespace,
          web_url: options.webUrl,
        },
        object_attributes: {
          ...example.object_attributes,
          id: 1000 + mr.iid,
          iid: mr.iid,
          target_project_id: options.id,
          source_project_id: options.id,
          title: mr.title,
          description: mr.description,
          state: mr.state,
          action,
          source_branch: mr.sourceBranch,
          target_branch: mr.targetBranch,
          merge_commit_sha: mr.mergeCommitSha,
          url: `${options.webUrl}/-/merge_requests/${mr.iid}`,
        },
      };
    },
  };
}
