// The stand-in's pull requests (one open per head and base, heads and bases that must exist),
// their reviews, and collaborators' permissions.

import { z } from 'zod';
import { BODY_LIMIT } from './issue-routes.ts';
import {
  hashId,
  type IssueRecord,
  type RepoRecord,
  type Role,
  type StandInState,
} from './state.ts';
import {
  DOC,
  limited,
  notFound,
  now,
  page,
  paginate,
  repoRoute,
  splitHead,
  unprocessable,
  unprocessableMessage,
  type Route,
} from './route.ts';

function headRepoOf(state: StandInState, repo: RepoRecord, owner: string): RepoRecord | undefined {
  return owner.toLowerCase() === repo.owner.toLowerCase()
    ? repo
    : state.repo(`${owner}/${repo.name}`);
}

async function pullAnswer(state: StandInState, repo: RepoRecord, issue: IssueRecord) {
  const pull = issue.pull;
  if (!pull) throw new Error('not a pull request');
  const headRepo = state.repo(pull.headRepo) ?? repo;
  const headSha = (await headRepo.git.resolveCommit(`refs/heads/${pull.head}`)) ?? pull.headSha;
  if (issue.state === 'open') pull.headSha = headSha;
  const baseSha = (await repo.git.resolveCommit(`refs/heads/${pull.base}`)) ?? '';
  return state.pullJson(repo, issue, pull.headSha, baseSha, await repo.git.defaultBranch());
}

/** The classic permission GitHub reports next to a fine-grained role. */
function classicPermission(role: Role | 'none'): string {
  if (role === 'maintain') return 'write';
  if (role === 'triage') return 'read';
  return role;
}

export const PULL_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/pulls',
    resource: 'PullRequest',
    docs: DOC.listPulls,
    query: z.object({
      state: z.enum(['open', 'closed', 'all']).optional(),
      head: z.string().optional(),
      base: z.string().optional(),
      sort: z.enum(['created', 'updated', 'popularity', 'long-running']).optional(),
      direction: z.enum(['asc', 'desc']).optional(),
      ...page,
    }),
    handle: async ({ state, repo, query }) => {
      const wanted = query.state ?? 'open';
      const head = query.head ? splitHead(query.head, repo.owner) : undefined;
      const pulls = [...state.issues.values()].filter((i) => {
        if (i.repo !== repo.fullName || !i.pull) return false;
        if (wanted !== 'all' && i.state !== wanted) return false;
        if (query.base && i.pull.base !== query.base) return false;
        if (head) {
          const owner = (state.repo(i.pull.headRepo) ?? repo).owner;
          if (owner.toLowerCase() !== head.owner.toLowerCase() || i.pull.head !== head.branch) {
            return false;
          }
        }
        return true;
      });
      const key = query.sort === 'updated' ? 'updatedAt' : 'createdAt';
      pulls.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.number - b.number));
      if ((query.direction ?? 'desc') === 'desc') pulls.reverse();
      const start = (query.page - 1) * query.per_page;
      const body = [];
      for (const issue of pulls.slice(start, start + query.per_page)) {
        body.push(await pullAnswer(state, repo, issue));
      }
      return { status: 200, body };
    },
  }),

  // GitHub: the merged pull request that brought the commit in (its merge commit), or, for a
  // commit not merged yet, the open pull requests whose head it is.
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/commits/{commit_sha}/pulls',
    resource: 'PullRequest',
    docs: DOC.commitPulls,
    query: z.object({ ...page }),
    handle: async ({ state, repo, params, query }) => {
      const sha = String(params.commit_sha);
      const all = [...state.issues.values()].filter((i) => i.repo === repo.fullName && i.pull);
      const merged = all.filter((i) => i.pull?.mergeCommitSha === sha);
      const pulls =
        merged.length > 0
          ? merged
          : all.filter((i) => i.state === 'open' && i.pull?.headSha === sha);
      const start = (query.page - 1) * query.per_page;
      const body = [];
      for (const issue of pulls.slice(start, start + query.per_page)) {
        body.push(await pullAnswer(state, repo, issue));
      }
      return { status: 200, body };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/pulls/{pull_number}',
    resource: 'PullRequest',
    docs: DOC.getPull,
    handle: async ({ state, repo, params }) => {
      const issue = state.issue(repo, Number(params.pull_number));
      if (!issue?.pull) return notFound(DOC.getPull);
      return { status: 200, body: await pullAnswer(state, repo, issue) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/pulls',
    resource: 'PullRequest',
    docs: DOC.createPull,
    body: z.object({
      title: limited(256).optional(),
      head: z.string().min(1),
      head_repo: z.string().optional(),
      base: z.string().min(1),
      body: limited(BODY_LIMIT).nullable().optional(),
      maintainer_can_modify: z.boolean().optional(),
      draft: z.boolean().optional(),
      issue: z.number().int().optional(),
    }),
    handle: async ({ state, services, repo, body, user }) => {
      const docs = DOC.createPull;
      if (body.title === undefined && body.issue === undefined) {
        return unprocessable(docs, [
          { resource: 'PullRequest', code: 'missing_field', field: 'title' },
        ]);
      }
      const head = splitHead(body.head, repo.owner);
      const headRepo = headRepoOf(state, repo, head.owner);
      const headSha = headRepo && (await headRepo.git.resolveCommit(`refs/heads/${head.branch}`));
      const baseSha = await repo.git.resolveCommit(`refs/heads/${body.base}`);
      const invalid = [
        ...(baseSha ? [] : [{ resource: 'PullRequest', code: 'invalid' as const, field: 'base' }]),
        ...(headRepo && headSha
          ? []
          : [{ resource: 'PullRequest', code: 'invalid' as const, field: 'head' }]),
      ];
      if (invalid.length > 0 || !headRepo || !headSha || !baseSha)
        return unprocessable(docs, invalid);
      const open = [...state.issues.values()].find(
        (i) =>
          i.repo === repo.fullName &&
          i.state === 'open' &&
          i.pull?.head === head.branch &&
          i.pull.headRepo === headRepo.fullName &&
          i.pull.base === body.base,
      );
      if (open) {
        return unprocessable(docs, [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: `A pull request already exists for ${headRepo.owner}:${head.branch}.`,
          },
        ]);
      }
      // Only a head in this repository can be compared here; a fork's shares its objects on
      // GitHub, which the stand-in's separate repositories do not.
      if (headRepo === repo && (await repo.git.count(`${baseSha}..${headSha}`)) === 0) {
        return unprocessable(docs, [
          {
            resource: 'PullRequest',
            code: 'custom',
            message: `No commits between ${body.base} and ${head.branch}`,
          },
        ]);
      }
      const at = now();
      const issue: IssueRecord = {
        number: state.nextNumber(repo),
        repo: repo.fullName,
        title: body.title ?? '',
        body: body.body ?? null,
        state: 'open',
        user,
        labels: [],
        createdAt: at,
        updatedAt: at,
        closedAt: null,
        pull: {
          head: head.branch,
          headRepo: headRepo.fullName,
          headSha,
          base: body.base,
          merged: false,
          mergedAt: null,
          mergeCommitSha: null,
          maintainerCanModify: body.maintainer_can_modify ?? true,
          draft: body.draft ?? false,
        },
      };
      state.addIssue(issue);
      services.emit('pull_request', issue);
      return { status: 201, body: await pullAnswer(state, repo, issue) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/pulls/{pull_number}',
    resource: 'PullRequest',
    docs: DOC.updatePull,
    body: z.object({
      title: limited(256).optional(),
      body: limited(BODY_LIMIT).nullable().optional(),
      state: z.enum(['open', 'closed']).optional(),
      base: z.string().min(1).optional(),
      maintainer_can_modify: z.boolean().optional(),
    }),
    handle: async ({ state, services, repo, params, body }) => {
      const docs = DOC.updatePull;
      const issue = state.issue(repo, Number(params.pull_number));
      const pull = issue?.pull;
      if (!issue || !pull) return notFound(docs);
      if (body.base && !(await repo.git.branchExists(body.base))) {
        return unprocessable(docs, [{ resource: 'PullRequest', code: 'invalid', field: 'base' }]);
      }
      if (body.state === 'open' && issue.state === 'closed') {
        if (pull.merged) {
          return unprocessableMessage(docs, 'Cannot reopen a merged pull request.');
        }
        const other = [...state.issues.values()].find(
          (i) =>
            i !== issue &&
            i.repo === repo.fullName &&
            i.state === 'open' &&
            i.pull?.head === pull.head &&
            i.pull.headRepo === pull.headRepo &&
            i.pull.base === (body.base ?? pull.base),
        );
        if (other) {
          return unprocessable(docs, [
            {
              resource: 'PullRequest',
              code: 'custom',
              message: `A pull request already exists for ${pull.headRepo.split('/')[0]}:${pull.head}.`,
            },
          ]);
        }
      }
      if (body.title !== undefined) issue.title = body.title;
      if (body.body !== undefined) issue.body = body.body;
      if (body.base) pull.base = body.base;
      if (body.maintainer_can_modify !== undefined)
        pull.maintainerCanModify = body.maintainer_can_modify;
      if (body.state && body.state !== issue.state) {
        issue.state = body.state;
        issue.closedAt = body.state === 'closed' ? now() : null;
      }
      issue.updatedAt = now();
      services.emit('pull_request', issue);
      return { status: 200, body: await pullAnswer(state, repo, issue) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/pulls/{pull_number}/reviews',
    resource: 'PullRequestReview',
    docs: DOC.reviews,
    query: z.object(page),
    handle: ({ state, repo, params, query }) => {
      const issue = state.issue(repo, Number(params.pull_number));
      if (!issue?.pull) return notFound(DOC.reviews);
      return paginate(
        state,
        `/repos/${repo.fullName}/pulls/${issue.number}/reviews`,
        state.reviews
          .filter((r) => r.repo === repo.fullName && r.pullNumber === issue.number)
          .map((r) => state.reviewJson(r)),
        query,
      );
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/collaborators/{username}/permission',
    resource: 'Collaborator',
    docs: DOC.permission,
    handle: ({ state, repo, params }) => {
      const login = params.username ?? '';
      const role: Role | 'none' =
        login.toLowerCase() === repo.owner.toLowerCase()
          ? 'admin'
          : (repo.permissions.get(login.toLowerCase()) ?? 'none');
      return {
        status: 200,
        body: {
          permission: classicPermission(role),
          role_name: role,
          user: state.userJson({ login, id: hashId(login), type: 'User' }),
        },
      };
    },
  }),
];
