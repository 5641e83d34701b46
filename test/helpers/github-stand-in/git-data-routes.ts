// The stand-in's Git Data API, written to and read from the real git repositories: references
// (read, create, move), trees built on a base tree with inline contents or deletions, and commits.
// GitHub's rules DAG can meet: a reference that exists already is not created again, one that
// does not exist is not moved, a move that is not a fast-forward needs `force`, and trees,
// parents and base trees must exist.

import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { RepoGit } from './git.ts';
import { hashId, nodeId, type RepoRecord, type StandInState, type User } from './state.ts';
import { DOC, notFound, repoRoute, unprocessableMessage, type Route } from './route.ts';

const SHA = /^[0-9a-f]{40}$/;

/** Whether `sha` names an object of `type` in the repository. */
async function isObject(git: RepoGit, sha: string, type: 'commit' | 'tree'): Promise<boolean> {
  if (!SHA.test(sha)) return false;
  return (await git.object(sha))?.type === type;
}

type ParsedCommit = {
  tree: string;
  parents: string[];
  author: { name: string; email: string; date: string };
  committer: { name: string; email: string; date: string };
  message: string;
};

function person(line: string): { name: string; email: string; date: string } {
  const m = /^(.*) <([^>]*)> (\d+) [+-]\d{4}$/.exec(line);
  return {
    name: m?.[1] ?? '',
    email: m?.[2] ?? '',
    date: new Date(Number(m?.[3] ?? 0) * 1000).toISOString().replace('.000Z', 'Z'),
  };
}

async function readCommit(git: RepoGit, sha: string): Promise<ParsedCommit | undefined> {
  if (!SHA.test(sha)) return undefined;
  const object = await git.object(sha);
  if (object?.type !== 'commit') return undefined;
  const text = object.content.toString('utf8');
  const split = text.indexOf('\n\n');
  const headers = text.slice(0, split < 0 ? text.length : split).split('\n');
  const value = (name: string) =>
    headers.filter((h) => h.startsWith(`${name} `)).map((h) => h.slice(name.length + 1));
  return {
    tree: value('tree')[0] ?? '',
    parents: value('parent'),
    author: person(value('author')[0] ?? ''),
    committer: person(value('committer')[0] ?? ''),
    message: split < 0 ? '' : text.slice(split + 2),
  };
}

function gitCommitJson(state: StandInState, repo: RepoRecord, sha: string, c: ParsedCommit) {
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  return {
    sha,
    node_id: nodeId('Commit', hashId(sha)),
    url: `${api}/git/commits/${sha}`,
    html_url: `${state.baseUrl}/${repo.fullName}/commit/${sha}`,
    author: c.author,
    committer: c.committer,
    message: c.message,
    tree: { sha: c.tree, url: `${api}/git/trees/${c.tree}` },
    parents: c.parents.map((p) => ({
      sha: p,
      url: `${api}/git/commits/${p}`,
      html_url: `${state.baseUrl}/${repo.fullName}/commit/${p}`,
    })),
    verification: { verified: false, reason: 'unsigned', signature: null, payload: null },
  };
}

function refJson(state: StandInState, repo: RepoRecord, ref: string, sha: string) {
  const api = `${state.apiUrl}/repos/${repo.fullName}`;
  return {
    ref,
    node_id: nodeId('Ref', hashId(`${repo.fullName}:${ref}`)),
    url: `${api}/git/${ref}`,
    object: { type: 'commit', sha, url: `${api}/git/commits/${sha}` },
  };
}

/** The commit a full reference (`refs/heads/x`) points at, or undefined. */
async function refTarget(git: RepoGit, ref: string): Promise<string | undefined> {
  if (!/^refs\/[^\s]+$/.test(ref) || ref.includes('..')) return undefined;
  try {
    return await git.text(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    return undefined;
  }
}

/** How GitHub writes a commit of the App's: its bot's name and no-reply address. */
function botIdentity(user: User): { name: string; email: string } {
  return { name: user.login, email: `${user.id}+${user.login}@users.noreply.github.com` };
}

const treeEntry = z.object({
  path: z.string().min(1),
  mode: z.enum(['100644', '100755', '040000', '160000', '120000']),
  type: z.enum(['blob', 'tree', 'commit']),
  sha: z.string().nullable().optional(),
  content: z.string().optional(),
});

const gitPerson = z.object({ name: z.string(), email: z.string(), date: z.string().optional() });

export const GIT_DATA_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/git/ref/{ref}',
    resource: 'Reference',
    docs: DOC.getRef,
    handle: async ({ state, repo, params }) => {
      const ref = `refs/${params.ref ?? ''}`;
      const sha = await refTarget(repo.git, ref);
      if (!sha) return notFound(DOC.getRef);
      return { status: 200, body: refJson(state, repo, ref, sha) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/git/refs',
    resource: 'Reference',
    docs: DOC.createRef,
    body: z.object({ ref: z.string(), sha: z.string(), key: z.string().optional() }),
    handle: async ({ state, repo, body }) => {
      if (!/^refs\/[^/]+\/.+/.test(body.ref)) {
        return unprocessableMessage(DOC.createRef, 'Reference name must start with refs/');
      }
      if (!(await isObject(repo.git, body.sha, 'commit'))) {
        return unprocessableMessage(DOC.createRef, 'Object does not exist');
      }
      if (await refTarget(repo.git, body.ref)) {
        return unprocessableMessage(DOC.createRef, 'Reference already exists');
      }
      await repo.git.run(['update-ref', body.ref, body.sha, '0'.repeat(40)]);
      return { status: 201, body: refJson(state, repo, body.ref, body.sha) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/git/refs/{ref}',
    resource: 'Reference',
    docs: DOC.updateRef,
    body: z.object({ sha: z.string(), force: z.boolean().optional() }),
    handle: async ({ state, repo, params, body }) => {
      const ref = `refs/${params.ref ?? ''}`;
      const current = await refTarget(repo.git, ref);
      if (!current) return unprocessableMessage(DOC.updateRef, 'Reference does not exist');
      if (!(await isObject(repo.git, body.sha, 'commit'))) {
        return unprocessableMessage(DOC.updateRef, 'Object does not exist');
      }
      const fastForward = (await repo.git.mergeBase(current, body.sha)) === current;
      if (!fastForward && body.force !== true) {
        return unprocessableMessage(DOC.updateRef, 'Update is not a fast forward');
      }
      await repo.git.run(['update-ref', ref, body.sha, current]);
      return { status: 200, body: refJson(state, repo, ref, body.sha) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/git/commits/{commit_sha}',
    resource: 'Commit',
    docs: DOC.getCommit,
    handle: async ({ state, repo, params }) => {
      const sha = params.commit_sha ?? '';
      const commit = await readCommit(repo.git, sha);
      if (!commit) return notFound(DOC.getCommit);
      return { status: 200, body: gitCommitJson(state, repo, sha, commit) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/git/trees',
    resource: 'Tree',
    docs: DOC.createTree,
    body: z.object({ tree: z.array(treeEntry), base_tree: z.string().optional() }),
    handle: async ({ state, repo, body }) => {
      if (body.base_tree !== undefined && !(await isObject(repo.git, body.base_tree, 'tree'))) {
        return unprocessableMessage(DOC.createTree, 'base_tree is not a valid tree oid');
      }
      for (const entry of body.tree) {
        const both = entry.content !== undefined && entry.sha !== undefined;
        const neither = entry.content === undefined && entry.sha === undefined;
        if (both || neither || entry.type !== 'blob' || entry.path.split('/').includes('..')) {
          return unprocessableMessage(DOC.createTree, `tree.path ${entry.path} is not valid`);
        }
      }
      // A throwaway index: the base tree, then each entry written, removed or pointed at.
      const index = path.join(tmpdir(), `stand-in-index-${randomUUID()}`);
      const env = { GIT_INDEX_FILE: index };
      try {
        if (body.base_tree) await repo.git.run(['read-tree', body.base_tree], { env });
        else await repo.git.run(['read-tree', '--empty'], { env });
        for (const entry of body.tree) {
          if (entry.sha === null) {
            await repo.git.run(['update-index', '--force-remove', '--', entry.path], { env });
            continue;
          }
          const sha =
            entry.content !== undefined
              ? await repo.git
                  .run(['hash-object', '-w', '--stdin'], { input: entry.content })
                  .then((out) => out.toString('utf8').trim())
              : (entry.sha as string);
          if (!(await repo.git.object(sha))) {
            return unprocessableMessage(DOC.createTree, `tree.sha ${sha} is not a valid blob`);
          }
          await repo.git.run(
            ['update-index', '--add', '--cacheinfo', `${entry.mode},${sha},${entry.path}`],
            { env },
          );
        }
        const sha = (await repo.git.run(['write-tree'], { env })).toString('utf8').trim();
        const entries = (await repo.git.tree(sha, false)) ?? [];
        return {
          status: 201,
          body: {
            sha,
            url: `${state.apiUrl}/repos/${repo.fullName}/git/trees/${sha}`,
            tree: entries.map((e) => ({
              path: e.path,
              mode: e.mode,
              type: e.type,
              sha: e.oid,
              ...(e.size !== undefined ? { size: e.size } : {}),
              url: `${state.apiUrl}/repos/${repo.fullName}/git/${e.type === 'tree' ? 'trees' : 'blobs'}/${e.oid}`,
            })),
            truncated: false,
          },
        };
      } finally {
        await rm(index, { force: true });
      }
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/git/commits',
    resource: 'Commit',
    docs: DOC.createCommit,
    body: z.object({
      message: z.string(),
      tree: z.string(),
      parents: z.array(z.string()).optional(),
      author: gitPerson.optional(),
      committer: gitPerson.optional(),
      signature: z.string().optional(),
    }),
    handle: async ({ state, repo, body, user }) => {
      if (!(await isObject(repo.git, body.tree, 'tree'))) {
        return unprocessableMessage(DOC.createCommit, 'Tree SHA does not exist');
      }
      for (const parent of body.parents ?? []) {
        if (!(await isObject(repo.git, parent, 'commit'))) {
          return unprocessableMessage(DOC.createCommit, 'Parent SHA does not exist');
        }
      }
      const author = body.author ?? botIdentity(user);
      const committer = body.committer ?? author;
      const args = ['commit-tree', body.tree, ...(body.parents ?? []).flatMap((p) => ['-p', p])];
      const sha = (
        await repo.git.run([...args, '-F', '-'], {
          input: body.message,
          env: {
            GIT_AUTHOR_NAME: author.name,
            GIT_AUTHOR_EMAIL: author.email,
            GIT_COMMITTER_NAME: committer.name,
            GIT_COMMITTER_EMAIL: committer.email,
          },
        })
      )
        .toString('utf8')
        .trim();
      const commit = await readCommit(repo.git, sha);
      if (!commit) throw new Error(`commit-tree made no commit in ${repo.fullName}`);
      return { status: 201, body: gitCommitJson(state, repo, sha, commit) };
    },
  }),
];
