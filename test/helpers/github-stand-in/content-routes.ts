// The stand-in's reads of repository contents, answered from the real git repositories:
// the repository, contents (raw or base64), trees, and compares.

import { z } from 'zod';
import type { FileChange } from './git.ts';
import { hashId, nodeId, type RepoRecord, type StandInState } from './state.ts';
import { DOC, notFound, page, repoRoute, splitHead, type Route } from './route.ts';

export function commitJson(
  state: StandInState,
  repo: RepoRecord,
  c: {
    sha: string;
    parents: string[];
    author: { name: string; email: string; date: string };
    committer: { name: string; email: string; date: string };
    message: string;
  },
) {
  const url = `${state.apiUrl}/repos/${repo.fullName}/commits/${c.sha}`;
  return {
    sha: c.sha,
    node_id: nodeId('Commit', hashId(c.sha)),
    commit: {
      author: c.author,
      committer: c.committer,
      message: c.message,
      url: `${state.apiUrl}/repos/${repo.fullName}/git/commits/${c.sha}`,
      comment_count: 0,
    },
    url,
    html_url: `${state.baseUrl}/${repo.fullName}/commit/${c.sha}`,
    comments_url: `${url}/comments`,
    // GitHub links authors to accounts by email; the stand-in knows no accounts.
    author: null,
    committer: null,
    parents: c.parents.map((sha) => ({
      sha,
      url: `${state.apiUrl}/repos/${repo.fullName}/commits/${sha}`,
      html_url: `${state.baseUrl}/${repo.fullName}/commit/${sha}`,
    })),
  };
}

function fileJson(state: StandInState, repo: RepoRecord, head: string, f: FileChange) {
  return {
    sha: null,
    filename: f.filename,
    status: f.status,
    additions: f.additions,
    deletions: f.deletions,
    changes: f.additions + f.deletions,
    blob_url: `${state.baseUrl}/${repo.fullName}/blob/${head}/${f.filename}`,
    raw_url: `${state.baseUrl}/${repo.fullName}/raw/${head}/${f.filename}`,
    contents_url: `${state.apiUrl}/repos/${repo.fullName}/contents/${f.filename}?ref=${head}`,
    ...(f.previous_filename ? { previous_filename: f.previous_filename } : {}),
  };
}

function contentEntryJson(
  state: StandInState,
  repo: RepoRecord,
  ref: string,
  entry: { type: string; path: string; oid: string; size?: number },
) {
  const type = entry.type === 'tree' ? 'dir' : entry.type === 'commit' ? 'submodule' : 'file';
  const self = `${state.apiUrl}/repos/${repo.fullName}/contents/${entry.path}?ref=${ref}`;
  const html = `${state.baseUrl}/${repo.fullName}/${type === 'dir' ? 'tree' : 'blob'}/${ref}/${entry.path}`;
  const git = `${state.apiUrl}/repos/${repo.fullName}/git/${type === 'dir' ? 'trees' : 'blobs'}/${entry.oid}`;
  return {
    type,
    size: entry.size ?? 0,
    name: entry.path.split('/').at(-1) ?? entry.path,
    path: entry.path,
    sha: entry.oid,
    url: self,
    git_url: git,
    html_url: html,
    download_url:
      type === 'file' ? `${state.baseUrl}/${repo.fullName}/raw/${ref}/${entry.path}` : null,
    _links: { self, git, html },
  };
}

export const CONTENT_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}',
    resource: 'Repository',
    docs: DOC.repo,
    handle: async ({ state, repo }) => ({
      status: 200,
      body: state.repoJson(repo, await repo.git.defaultBranch()),
    }),
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/contents/{path}',
    resource: 'Content',
    docs: DOC.contents,
    query: z.object({ ref: z.string().optional() }),
    handle: async ({ state, repo, params, query, accept }) => {
      const ref = query.ref || (await repo.git.defaultBranch());
      const commit = await repo.git.resolveCommit(ref);
      if (!commit) return notFound(DOC.contents, `No commit found for the ref ${ref}`);
      const path = (params.path ?? '').replace(/^\/+|\/+$/g, '');
      const object = path === '' ? { type: 'tree' } : await repo.git.object(`${commit}:${path}`);
      if (!object) return notFound(DOC.contents);
      if (object.type === 'tree') {
        const entries = await repo.git.tree(path === '' ? commit : `${commit}:${path}`, false);
        return {
          status: 200,
          body: (entries ?? []).map((e) =>
            contentEntryJson(state, repo, ref, { ...e, path: path ? `${path}/${e.path}` : e.path }),
          ),
        };
      }
      if (!('content' in object) || object.type !== 'blob') return notFound(DOC.contents);
      if (/application\/vnd\.github(\.v3)?\.raw/.test(accept)) {
        return {
          status: 200,
          raw: object.content,
          contentType: 'application/vnd.github.raw; charset=utf-8',
        };
      }
      const entry = contentEntryJson(state, repo, ref, {
        type: 'blob',
        path,
        oid: object.oid,
        size: object.size,
      });
      // Up to 1 MB the content comes base64-encoded in 60-character lines, as GitHub sends it.
      const small = object.size <= 1024 * 1024;
      const base64 = small ? object.content.toString('base64') : '';
      return {
        status: 200,
        body: {
          ...entry,
          encoding: small ? 'base64' : 'none',
          content: base64.replace(/(.{60})/g, '$1\n') + (base64 ? '\n' : ''),
        },
      };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/git/trees/{tree_sha}',
    resource: 'Tree',
    docs: DOC.tree,
    query: z.object({ recursive: z.string().optional() }),
    handle: async ({ state, repo, params, query }) => {
      const treeish = params.tree_sha ?? '';
      const resolved = (await repo.git.resolveCommit(treeish)) ?? treeish;
      // GitHub: any value of `recursive` (even 0 or false) lists the whole tree.
      const entries = await repo.git.tree(resolved, query.recursive !== undefined);
      const sha = await repo.git.text(['rev-parse', `${resolved}^{tree}`]).catch(() => undefined);
      if (!entries || !sha) return notFound(DOC.tree);
      return {
        status: 200,
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
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/compare/{basehead}',
    resource: 'Commit',
    docs: DOC.compare,
    query: z.object({ ...page, per_page: z.coerce.number().int().min(1).max(250).optional() }),
    handle: async ({ state, repo, params, query }) => {
      const [baseName, headName] = (params.basehead ?? '').split('...');
      if (!baseName || !headName) return notFound(DOC.compare);
      const base = await repo.git.resolveCommit(splitHead(baseName, repo.owner).branch);
      const head = await repo.git.resolveCommit(splitHead(headName, repo.owner).branch);
      if (!base || !head) return notFound(DOC.compare);
      const mergeBase = await repo.git.mergeBase(base, head);
      if (!mergeBase) {
        return notFound(DOC.compare, `No common ancestor between ${baseName} and ${headName}.`);
      }
      const ahead = await repo.git.count(`${mergeBase}..${head}`);
      const behind = await repo.git.count(`${mergeBase}..${base}`);
      const all = await repo.git.commits(`${mergeBase}..${head}`);
      const perPage = query.per_page ?? 250;
      const commits = all.slice((query.page - 1) * perPage, query.page * perPage);
      const files = (await repo.git.changes(mergeBase, head)).slice(0, 300);
      const [baseCommit] = await repo.git.commits(`${base}~1..${base}`).catch(() => []);
      const [mergeBaseCommit] = await repo.git
        .commits(`${mergeBase}~1..${mergeBase}`)
        .catch(() => []);
      return {
        status: 200,
        body: {
          url: `${state.apiUrl}/repos/${repo.fullName}/compare/${params.basehead}`,
          html_url: `${state.baseUrl}/${repo.fullName}/compare/${params.basehead}`,
          permalink_url: `${state.baseUrl}/${repo.fullName}/compare/${base}...${head}`,
          diff_url: `${state.baseUrl}/${repo.fullName}/compare/${params.basehead}.diff`,
          patch_url: `${state.baseUrl}/${repo.fullName}/compare/${params.basehead}.patch`,
          base_commit: baseCommit ? commitJson(state, repo, baseCommit) : { sha: base },
          merge_base_commit: mergeBaseCommit
            ? commitJson(state, repo, mergeBaseCommit)
            : { sha: mergeBase },
          status: ahead && behind ? 'diverged' : ahead ? 'ahead' : behind ? 'behind' : 'identical',
          ahead_by: ahead,
          behind_by: behind,
          total_commits: ahead,
          commits: commits.map((c) => commitJson(state, repo, c)),
          files: files.map((f) => fileJson(state, repo, head, f)),
        },
      };
    },
  }),
];
