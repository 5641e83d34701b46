// The GitHub stand-in's REST routes: one entry per route DAG calls (and a few neighbours tests
// need), each with the request body and query GitHub documents for it as a zod schema. A body
// that misses a required field or carries a value GitHub does not allow is answered 422 in
// GitHub's shape before the handler runs; the handler then applies GitHub's own rules (a ref
// that must exist, one open pull request per head and base, ...).

import { z } from 'zod';
import type { FileChange } from './github-stand-in-git.ts';
import {
  hashId,
  nodeId,
  type CheckRunRecord,
  type DeploymentRecord,
  type Installation,
  type IssueRecord,
  type RepoRecord,
  type Role,
  type StandInState,
  type User,
} from './github-stand-in-state.ts';

// ---- what a route sees and answers ------------------------------------------------------------

export type Identity =
  | { kind: 'app' }
  | { kind: 'installation'; installation: Installation; token: string; repositories?: Set<string> }
  | { kind: 'token'; login: string; repositories: Set<string> | 'all' };

export type Answer = {
  status: number;
  body?: unknown;
  /** Bytes sent as they are (raw file contents), instead of JSON. */
  raw?: Buffer;
  contentType?: string;
  headers?: Record<string, string>;
};

export type Services = {
  mintToken(
    installation: Installation,
    repositories: Set<string> | undefined,
  ): { token: string; expiresAt: string };
  emit(event: string, payload: unknown): void;
};

type Context<B, Q> = {
  state: StandInState;
  services: Services;
  params: Record<string, string>;
  query: Q;
  body: B;
  identity: Identity;
  /** Who a write is recorded as: the App's bot, or the token's user. */
  user: User;
  accept: string;
};

export type Route = {
  method: string;
  template: string;
  /** GitHub's resource name in validation errors (`Deployment`, `IssueComment`, ...). */
  resource: string;
  docs: string;
  /** `app`: the App's JWT; `repo`: a token that can see `{owner}/{repo}`. */
  auth: 'app' | 'repo';
  body?: z.ZodType;
  query?: z.ZodType;
  pattern: RegExp;
  names: string[];
  handle(ctx: Context<unknown, unknown> & { repo?: RepoRecord }): Answer | Promise<Answer>;
};

const DOCS = 'https://docs.github.com/rest';

function compile(template: string): { pattern: RegExp; names: string[] } {
  const names: string[] = [];
  const source = template
    .split('/')
    .map((segment) =>
      segment.replace(/\{(\w+)\}|[^{}]+/g, (part, name?: string) => {
        if (!name) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(name);
        // A file path spans folders (Octokit sends it with its slashes encoded or not).
        return name === 'path' ? '(.*)' : '([^/]+)';
      }),
    )
    .join('/');
  return { pattern: new RegExp(`^${source}$`), names };
}

function repoRoute<B extends z.ZodType = z.ZodUnknown, Q extends z.ZodType = z.ZodUnknown>(def: {
  method: string;
  template: string;
  resource: string;
  docs: string;
  body?: B;
  query?: Q;
  handle(ctx: Context<z.output<B>, z.output<Q>> & { repo: RepoRecord }): Answer | Promise<Answer>;
}): Route {
  return {
    ...def,
    auth: 'repo',
    ...compile(def.template),
    handle: (ctx) =>
      def.handle({
        ...(ctx as Context<z.output<B>, z.output<Q>>),
        repo: ctx.repo as RepoRecord,
      }),
  };
}

function appRoute<B extends z.ZodType = z.ZodUnknown>(def: {
  method: string;
  template: string;
  resource: string;
  docs: string;
  body?: B;
  handle(ctx: Context<z.output<B>, unknown>): Answer | Promise<Answer>;
}): Route {
  return {
    ...def,
    auth: 'app',
    ...compile(def.template),
    handle: (ctx) => def.handle(ctx as Context<z.output<B>, unknown>),
  };
}

// ---- GitHub's error answers ---------------------------------------------------------------------

export type GitHubFieldError = {
  resource: string;
  code: 'missing_field' | 'invalid' | 'custom' | 'already_exists' | 'unprocessable';
  field?: string;
  message?: string;
};

export function notFound(docs = DOCS, message = 'Not Found'): Answer {
  return { status: 404, body: { message, documentation_url: docs, status: '404' } };
}

export function unprocessable(docs: string, errors: GitHubFieldError[]): Answer {
  return {
    status: 422,
    body: { message: 'Validation Failed', errors, documentation_url: docs, status: '422' },
  };
}

function unprocessableMessage(docs: string, message: string): Answer {
  return { status: 422, body: { message, documentation_url: docs, status: '422' } };
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** zod's issues as GitHub's `errors`: missing_field when absent, invalid or custom otherwise. */
export function fieldErrors(resource: string, issues: z.core.$ZodIssue[], input: unknown) {
  return issues.map((issue): GitHubFieldError => {
    const field = issue.path.map(String).join('.');
    if (issue.path.length > 0 && valueAt(input, issue.path) === undefined) {
      return { resource, code: 'missing_field', field };
    }
    if (issue.code === 'too_big') {
      const what = issue.origin === 'array' ? 'has too many items' : 'is too long';
      const unit = issue.origin === 'array' ? '' : ' characters';
      return {
        resource,
        code: 'custom',
        field,
        message: `${field} ${what} (maximum is ${String(issue.maximum)}${unit})`,
      };
    }
    if (issue.code === 'invalid_value') {
      return { resource, code: 'invalid', field, message: `${field} is not included in the list` };
    }
    return { resource, code: 'invalid', field, message: issue.message };
  });
}

// ---- schemas ------------------------------------------------------------------------------------

/** A string of at most `max` characters, counted as GitHub counts them (code points). */
function limited(max: number) {
  return z.string().superRefine((value, ctx) => {
    if (value.length <= max) return;
    if ([...value].length <= max) return;
    ctx.addIssue({
      code: 'too_big',
      origin: 'string',
      maximum: max,
      inclusive: true,
      input: value,
    });
  });
}

const page = {
  per_page: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .transform((v) => Math.min(v ?? 30, 100)),
  page: z.coerce
    .number()
    .int()
    .min(1)
    .optional()
    .transform((v) => v ?? 1),
};

export const DEPLOYMENT_STATES = [
  'error',
  'failure',
  'inactive',
  'in_progress',
  'queued',
  'pending',
  'success',
] as const;
const REACTIONS = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'] as const;
const CHECK_STATUSES = [
  'queued',
  'in_progress',
  'completed',
  'waiting',
  'requested',
  'pending',
] as const;
const CHECK_CONCLUSIONS = [
  'action_required',
  'cancelled',
  'failure',
  'neutral',
  'success',
  'skipped',
  'stale',
  'timed_out',
] as const;
/** GitHub's limit on a comment, issue or pull request body. */
export const BODY_LIMIT = 65536;
/** GitHub's limit on a check run's output summary and text. */
export const CHECK_OUTPUT_LIMIT = 65535;

const checkOutput = z.object({
  title: z.string(),
  summary: limited(CHECK_OUTPUT_LIMIT),
  text: limited(CHECK_OUTPUT_LIMIT).optional(),
  annotations: z.array(z.unknown()).max(50).optional(),
  images: z.array(z.unknown()).optional(),
});

const checkFields = {
  details_url: z.string().optional(),
  external_id: z.string().optional(),
  started_at: z.string().optional(),
  status: z.enum(CHECK_STATUSES).optional(),
  conclusion: z.enum(CHECK_CONCLUSIONS).optional(),
  completed_at: z.string().optional(),
  output: checkOutput.optional(),
  actions: z.array(z.unknown()).max(3).optional(),
};

// ---- helpers ----------------------------------------------------------------------------------

const now = () => new Date().toISOString();

function paginate<T>(
  state: StandInState,
  path: string,
  items: T[],
  query: { per_page: number; page: number },
): Answer {
  const last = Math.max(1, Math.ceil(items.length / query.per_page));
  const start = (query.page - 1) * query.per_page;
  const links: string[] = [];
  const link = (p: number, rel: string) =>
    `<${state.apiUrl}${path}?per_page=${query.per_page}&page=${p}>; rel="${rel}"`;
  if (query.page < last) links.push(link(query.page + 1, 'next'), link(last, 'last'));
  if (query.page > 1) links.push(link(1, 'first'), link(query.page - 1, 'prev'));
  return {
    status: 200,
    body: items.slice(start, start + query.per_page),
    ...(links.length ? { headers: { link: links.join(', ') } } : {}),
  };
}

/** `owner:branch` or `branch`, as pull request heads and compares name them. */
function splitHead(value: string, defaultOwner: string): { owner: string; branch: string } {
  const colon = value.indexOf(':');
  return colon < 0
    ? { owner: defaultOwner, branch: value }
    : { owner: value.slice(0, colon), branch: value.slice(colon + 1) };
}

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

function commitJson(
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

/** The classic permission GitHub reports next to a fine-grained role. */
function classicPermission(role: Role | 'none'): string {
  if (role === 'maintain') return 'write';
  if (role === 'triage') return 'read';
  return role;
}

function completedRule(docs: string, status?: string, conclusion?: string): Answer | undefined {
  if (status === 'completed' && !conclusion) {
    return unprocessable(docs, [
      { resource: 'CheckRun', code: 'missing_field', field: 'conclusion' },
    ]);
  }
  return undefined;
}

function applyCheck(
  run: CheckRunRecord,
  input: {
    status?: string | undefined;
    conclusion?: string | undefined;
    output?: { title: string; summary: string; text?: string | undefined } | undefined;
    details_url?: string | undefined;
    external_id?: string | undefined;
    started_at?: string | undefined;
    completed_at?: string | undefined;
  },
): void {
  if (input.status) run.status = input.status;
  if (input.conclusion) {
    // GitHub: providing a conclusion completes the run.
    run.conclusion = input.conclusion;
    run.status = 'completed';
  }
  if (run.status === 'completed') run.completedAt = input.completed_at ?? run.completedAt ?? now();
  if (input.output) {
    run.output = {
      title: input.output.title,
      summary: input.output.summary,
      text: input.output.text ?? null,
    };
  }
  if (input.details_url !== undefined) run.detailsUrl = input.details_url;
  if (input.external_id !== undefined) run.externalId = input.external_id;
  if (input.started_at) run.startedAt = input.started_at;
}

const DOC = {
  app: `${DOCS}/apps/apps#get-the-authenticated-app`,
  installation: `${DOCS}/apps/apps#get-a-repository-installation-for-the-authenticated-app`,
  accessToken: `${DOCS}/apps/apps#create-an-installation-access-token-for-an-app`,
  repo: `${DOCS}/repos/repos#get-a-repository`,
  contents: `${DOCS}/repos/contents#get-repository-content`,
  tree: `${DOCS}/git/trees#get-a-tree`,
  compare: `${DOCS}/commits/commits#compare-two-commits`,
  deployments: `${DOCS}/deployments/deployments#list-deployments`,
  createDeployment: `${DOCS}/deployments/deployments#create-a-deployment`,
  deploymentStatuses: `${DOCS}/deployments/statuses#list-deployment-statuses`,
  createDeploymentStatus: `${DOCS}/deployments/statuses#create-a-deployment-status`,
  listComments: `${DOCS}/issues/comments#list-issue-comments`,
  getComment: `${DOCS}/issues/comments#get-an-issue-comment`,
  createComment: `${DOCS}/issues/comments#create-an-issue-comment`,
  updateComment: `${DOCS}/issues/comments#update-an-issue-comment`,
  deleteComment: `${DOCS}/issues/comments#delete-an-issue-comment`,
  reaction: `${DOCS}/reactions/reactions#create-reaction-for-an-issue-comment`,
  labels: `${DOCS}/issues/labels#add-labels-to-an-issue`,
  listChecks: `${DOCS}/checks/runs#list-check-runs-for-a-git-reference`,
  createCheck: `${DOCS}/checks/runs#create-a-check-run`,
  updateCheck: `${DOCS}/checks/runs#update-a-check-run`,
  combinedStatus: `${DOCS}/commits/statuses#get-the-combined-status-for-a-specific-reference`,
  createStatus: `${DOCS}/commits/statuses#create-a-commit-status`,
  listPulls: `${DOCS}/pulls/pulls#list-pull-requests`,
  getPull: `${DOCS}/pulls/pulls#get-a-pull-request`,
  createPull: `${DOCS}/pulls/pulls#create-a-pull-request`,
  updatePull: `${DOCS}/pulls/pulls#update-a-pull-request`,
  reviews: `${DOCS}/pulls/reviews#list-reviews-for-a-pull-request`,
  permission: `${DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user`,
} as const;

// ---- the routes ---------------------------------------------------------------------------------

export const ROUTES: Route[] = [
  // -- the App -------------------------------------------------------------------------------
  appRoute({
    method: 'GET',
    template: '/app',
    resource: 'Integration',
    docs: DOC.app,
    handle: ({ state }) => ({
      status: 200,
      body: {
        id: state.app.id,
        slug: state.app.slug,
        name: state.app.name,
        node_id: nodeId('Integration', state.app.id),
        owner: null,
        permissions: {},
        events: [],
      },
    }),
  }),

  appRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/installation',
    resource: 'Installation',
    docs: DOC.installation,
    handle: ({ state, params }) => {
      const repo = state.repo(`${params.owner}/${params.repo}`);
      if (!repo) return notFound(DOC.installation);
      const installation = [...state.installations.values()].find((i) => covers(i, repo));
      if (!installation) return notFound(DOC.installation);
      return { status: 200, body: installationJson(state, installation) };
    },
  }),

  appRoute({
    method: 'POST',
    template: '/app/installations/{installation_id}/access_tokens',
    resource: 'Installation',
    docs: DOC.accessToken,
    body: z.object({
      repositories: z.array(z.string()).max(500).optional(),
      repository_ids: z.array(z.number().int()).max(500).optional(),
      permissions: z.record(z.string(), z.string()).optional(),
    }),
    handle: ({ state, services, params, body }) => {
      const installation = state.installations.get(Number(params.installation_id));
      if (!installation) return notFound(DOC.accessToken);
      let scoped: Set<string> | undefined;
      const named = [
        ...(body.repositories ?? []).map((n) => `${installation.account}/${n}`.toLowerCase()),
        ...(body.repository_ids ?? []).map(
          (id) => [...state.repos.values()].find((r) => r.id === id)?.fullName.toLowerCase() ?? '',
        ),
      ];
      if (named.length > 0) {
        const all = named.every((n) => {
          const repo = state.repo(n);
          return repo !== undefined && covers(installation, repo);
        });
        if (!all) {
          return unprocessableMessage(
            DOC.accessToken,
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
          );
        }
        scoped = new Set(named);
      }
      const { token, expiresAt } = services.mintToken(installation, scoped);
      return {
        status: 201,
        body: {
          token,
          expires_at: expiresAt,
          permissions: body.permissions ?? {
            contents: 'read',
            deployments: 'write',
            issues: 'write',
            pull_requests: 'write',
            checks: 'write',
            statuses: 'read',
            metadata: 'read',
          },
          repository_selection: scoped || installation.repositories !== 'all' ? 'selected' : 'all',
          ...(scoped
            ? {
                repositories: [...scoped].map((n) => {
                  const repo = state.repo(n) as RepoRecord;
                  return { id: repo.id, name: repo.name, full_name: repo.fullName };
                }),
              }
            : {}),
        },
      };
    },
  }),

  // -- repository and contents ---------------------------------------------------------------
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

  // -- deployments -----------------------------------------------------------------------------
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/deployments',
    resource: 'Deployment',
    docs: DOC.deployments,
    query: z.object({
      sha: z.string().optional(),
      ref: z.string().optional(),
      task: z.string().optional(),
      environment: z.string().optional(),
      ...page,
    }),
    handle: ({ state, repo, query }) =>
      paginate(
        state,
        `/repos/${repo.fullName}/deployments`,
        state.deployments
          .filter(
            (d) =>
              d.repo === repo.fullName &&
              (!query.sha || d.sha === query.sha) &&
              (!query.ref || d.ref === query.ref) &&
              (!query.task || d.task === query.task) &&
              (!query.environment || d.environment === query.environment),
          )
          .reverse()
          .map((d) => state.deploymentJson(d)),
        query,
      ),
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/deployments',
    resource: 'Deployment',
    docs: DOC.createDeployment,
    body: z.object({
      ref: z.string().min(1),
      task: z.string().optional(),
      auto_merge: z.boolean().optional(),
      required_contexts: z.array(z.string()).optional(),
      payload: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
      environment: z.string().optional(),
      description: z.string().nullable().optional(),
      transient_environment: z.boolean().optional(),
      production_environment: z.boolean().optional(),
    }),
    handle: async ({ state, services, repo, body, user }) => {
      const docs = DOC.createDeployment;
      const sha = await repo.git.resolveCommit(body.ref);
      if (!sha) return unprocessableMessage(docs, `No ref found for: ${body.ref}`);
      let payload: unknown = body.payload ?? {};
      if (typeof payload === 'string') {
        try {
          payload = JSON.parse(payload);
        } catch {
          return unprocessable(docs, [
            { resource: 'Deployment', code: 'invalid', field: 'payload' },
          ]);
        }
      }
      // auto_merge (default true): GitHub merges the default branch into a branch that is
      // behind it before deploying. The stand-in does not merge; it answers as GitHub does when
      // that merge conflicts, so a client that forgets `auto_merge: false` notices.
      const defaultBranch = await repo.git.defaultBranch();
      if (body.auto_merge !== false && (await repo.git.branchExists(body.ref))) {
        const tip = await repo.git.resolveCommit(`refs/heads/${defaultBranch}`);
        if (tip && (await repo.git.mergeBase(tip, sha)) !== tip) {
          return {
            status: 409,
            body: {
              message: `Conflict merging ${defaultBranch} into ${body.ref}.`,
              documentation_url: docs,
              status: '409',
            },
          };
        }
      }
      // required_contexts (default: every context): each must have succeeded on the commit.
      const contexts = new Map<string, string>();
      for (const s of state.commitStatuses) {
        if (s.repo === repo.fullName && s.sha === sha) contexts.set(s.context, s.state);
      }
      for (const run of state.checkRuns) {
        if (run.repo === repo.fullName && run.headSha === sha) {
          const ok =
            run.status === 'completed' &&
            ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '');
          contexts.set(run.name, ok ? 'success' : (run.conclusion ?? run.status));
        }
      }
      const required = body.required_contexts ?? [...contexts.keys()];
      const failing = required
        .map((context) => ({ context, state: contexts.get(context) ?? 'missing' }))
        .filter((c) => c.state !== 'success');
      if (failing.length > 0) {
        return {
          status: 409,
          body: {
            message: `Conflict: Commit status checks failed for ${body.ref}.`,
            errors: [
              {
                contexts: failing,
                resource: 'Deployment',
                field: 'required_contexts',
                code: 'invalid',
              },
            ],
            documentation_url: docs,
            status: '409',
          },
        };
      }
      const environment = body.environment ?? 'production';
      const deployment: DeploymentRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        sha,
        ref: body.ref,
        task: body.task ?? 'deploy',
        environment,
        originalEnvironment: environment,
        description: body.description ?? null,
        payload,
        autoMerge: body.auto_merge ?? true,
        requiredContexts: body.required_contexts ?? null,
        transientEnvironment: body.transient_environment ?? false,
        productionEnvironment: body.production_environment ?? environment === 'production',
        creator: user,
        createdAt: now(),
        at: Date.now(),
        statuses: [],
      };
      state.deployments.push(deployment);
      services.emit('deployment', deployment);
      return { status: 201, body: state.deploymentJson(deployment) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
    resource: 'DeploymentStatus',
    docs: DOC.deploymentStatuses,
    query: z.object(page),
    handle: ({ state, repo, params, query }) => {
      const d = state.deployments.find(
        (x) => x.repo === repo.fullName && String(x.id) === params.deployment_id,
      );
      if (!d) return notFound(DOC.deploymentStatuses);
      return paginate(
        state,
        `/repos/${repo.fullName}/deployments/${d.id}/statuses`,
        [...d.statuses].reverse().map((s) => state.deploymentStatusJson(d, s)),
        query,
      );
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
    resource: 'DeploymentStatus',
    docs: DOC.createDeploymentStatus,
    body: z.object({
      state: z.enum(DEPLOYMENT_STATES),
      target_url: z.string().optional(),
      log_url: z.string().optional(),
      description: limited(140).optional(),
      environment: z.string().optional(),
      environment_url: z.string().optional(),
      auto_inactive: z.boolean().optional(),
    }),
    handle: ({ state, services, repo, params, body, user }) => {
      const d = state.deployments.find(
        (x) => x.repo === repo.fullName && String(x.id) === params.deployment_id,
      );
      if (!d) return notFound(DOC.createDeploymentStatus);
      if (body.environment) d.environment = body.environment;
      const status = {
        id: state.nextId(),
        state: body.state,
        description: body.description ?? '',
        environment: d.environment,
        environmentUrl: body.environment_url ?? '',
        logUrl: body.log_url ?? '',
        targetUrl: body.target_url ?? '',
        creator: user,
        createdAt: now(),
        at: Date.now(),
      };
      d.statuses.push(status);
      services.emit('deployment_status', { deployment: d, status });
      // auto_inactive (default true): earlier successful deployments of the same environment
      // (not transient, not production) become inactive.
      if (body.state === 'success' && body.auto_inactive !== false) {
        for (const other of state.deployments) {
          if (
            other === d ||
            other.repo !== d.repo ||
            other.environment !== d.environment ||
            other.transientEnvironment ||
            other.productionEnvironment ||
            other.statuses.at(-1)?.state !== 'success'
          ) {
            continue;
          }
          other.statuses.push({
            ...status,
            id: state.nextId(),
            state: 'inactive',
            description: '',
            logUrl: '',
            targetUrl: '',
            environmentUrl: '',
          });
        }
      }
      return { status: 201, body: state.deploymentStatusJson(d, status) };
    },
  }),

  // -- issue comments and reactions ---------------------------------------------------------------
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    resource: 'IssueComment',
    docs: DOC.listComments,
    query: z.object({ since: z.string().optional(), ...page }),
    handle: ({ state, repo, params, query }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.listComments);
      const comments = [...state.comments.values()]
        .filter(
          (c) =>
            c.repo === repo.fullName &&
            c.issueNumber === issue.number &&
            (!query.since || c.updatedAt >= query.since),
        )
        .sort((a, b) => a.id - b.id)
        .map((c) => state.commentJson(c));
      return paginate(
        state,
        `/repos/${repo.fullName}/issues/${issue.number}/comments`,
        comments,
        query,
      );
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.getComment,
    handle: ({ state, repo, params }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.getComment);
      return { status: 200, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/comments',
    resource: 'IssueComment',
    docs: DOC.createComment,
    body: z.object({ body: limited(BODY_LIMIT) }),
    handle: ({ state, services, repo, params, body, user }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.createComment);
      const at = now();
      const comment = {
        id: state.nextId(),
        repo: repo.fullName,
        issueNumber: issue.number,
        body: body.body,
        user,
        createdAt: at,
        updatedAt: at,
        reactions: [],
      };
      state.comments.set(comment.id, comment);
      services.emit('comment', comment);
      return { status: 201, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.updateComment,
    body: z.object({ body: limited(BODY_LIMIT) }),
    handle: ({ state, services, repo, params, body }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.updateComment);
      comment.body = body.body;
      comment.updatedAt = now();
      services.emit('comment', comment);
      return { status: 200, body: state.commentJson(comment) };
    },
  }),

  repoRoute({
    method: 'DELETE',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}',
    resource: 'IssueComment',
    docs: DOC.deleteComment,
    handle: ({ state, repo, params }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.deleteComment);
      state.comments.delete(comment.id);
      return { status: 204 };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions',
    resource: 'Reaction',
    docs: DOC.reaction,
    body: z.object({ content: z.enum(REACTIONS) }),
    handle: ({ state, repo, params, body, user }) => {
      const comment = state.comments.get(Number(params.comment_id));
      if (!comment || comment.repo !== repo.fullName) return notFound(DOC.reaction);
      const existing = comment.reactions.find(
        (r) => r.content === body.content && r.user.login === user.login,
      );
      if (existing) return { status: 200, body: state.reactionJson(existing) };
      const reaction = { id: state.nextId(), content: body.content, user, createdAt: now() };
      comment.reactions.push(reaction);
      return { status: 201, body: state.reactionJson(reaction) };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/issues/{issue_number}/labels',
    resource: 'Label',
    docs: DOC.labels,
    body: z.preprocess(
      (v) => (Array.isArray(v) ? { labels: v } : v),
      z.object({
        labels: z
          .array(
            z
              .union([z.string(), z.object({ name: z.string() })])
              .transform((l) => (typeof l === 'string' ? l : l.name))
              .pipe(z.string().min(1).max(50)),
          )
          .min(1),
      }),
    ),
    handle: ({ state, repo, params, body }) => {
      const issue = state.issue(repo, Number(params.issue_number));
      if (!issue) return notFound(DOC.labels);
      for (const name of body.labels) {
        if (!repo.labels.has(name.toLowerCase())) {
          repo.labels.set(name.toLowerCase(), {
            id: state.nextId(),
            name,
            color: 'ededed',
            description: null,
          });
        }
        if (!issue.labels.some((l) => l.toLowerCase() === name.toLowerCase())) {
          issue.labels.push(name);
        }
      }
      issue.updatedAt = now();
      return {
        status: 200,
        body: issue.labels.flatMap((name) => {
          const label = repo.labels.get(name.toLowerCase());
          return label ? [state.labelJson(repo, label)] : [];
        }),
      };
    },
  }),

  // -- checks and statuses -----------------------------------------------------------------------
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/commits/{ref}/check-runs',
    resource: 'CheckRun',
    docs: DOC.listChecks,
    query: z.object({
      check_name: z.string().optional(),
      status: z.enum(['queued', 'in_progress', 'completed']).optional(),
      filter: z.enum(['latest', 'all']).optional(),
      app_id: z.coerce.number().int().optional(),
      ...page,
    }),
    handle: async ({ state, repo, params, query }) => {
      const sha = await repo.git.resolveCommit(params.ref ?? '');
      if (!sha)
        return unprocessableMessage(DOC.listChecks, `No commit found for SHA: ${params.ref}`);
      let runs = state.checkRuns.filter(
        (r) =>
          r.repo === repo.fullName &&
          r.headSha === sha &&
          (!query.check_name || r.name === query.check_name) &&
          (!query.status || r.status === query.status),
      );
      if ((query.filter ?? 'latest') === 'latest') {
        const latest = new Map<string, CheckRunRecord>();
        for (const run of runs) latest.set(run.name, run);
        runs = [...latest.values()];
      }
      runs.sort((a, b) => b.id - a.id);
      const start = (query.page - 1) * query.per_page;
      return {
        status: 200,
        body: {
          total_count: runs.length,
          check_runs: runs.slice(start, start + query.per_page).map((r) => state.checkRunJson(r)),
        },
      };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/check-runs',
    resource: 'CheckRun',
    docs: DOC.createCheck,
    body: z.object({ name: z.string().min(1), head_sha: z.string().min(1), ...checkFields }),
    handle: async ({ state, services, repo, body, identity }) => {
      if (identity.kind !== 'installation') {
        return {
          status: 403,
          body: {
            message: 'You must authenticate via a GitHub App.',
            documentation_url: DOC.createCheck,
            status: '403',
          },
        };
      }
      const rule = completedRule(DOC.createCheck, body.status, body.conclusion);
      if (rule) return rule;
      const sha = await repo.git.resolveCommit(body.head_sha);
      if (!sha)
        return unprocessableMessage(DOC.createCheck, `No commit found for SHA: ${body.head_sha}`);
      const run: CheckRunRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        name: body.name,
        headSha: sha,
        status: 'queued',
        conclusion: null,
        output: { title: null, summary: null, text: null },
        detailsUrl: null,
        externalId: null,
        startedAt: now(),
        completedAt: null,
      };
      applyCheck(run, body);
      state.checkRuns.push(run);
      services.emit('check_run', run);
      return { status: 201, body: state.checkRunJson(run) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/check-runs/{check_run_id}',
    resource: 'CheckRun',
    docs: DOC.updateCheck,
    body: z.object({ name: z.string().min(1).optional(), ...checkFields }),
    handle: ({ state, services, repo, params, body, identity }) => {
      if (identity.kind !== 'installation') {
        return {
          status: 403,
          body: {
            message: 'You must authenticate via a GitHub App.',
            documentation_url: DOC.updateCheck,
            status: '403',
          },
        };
      }
      const run = state.checkRuns.find(
        (r) => r.repo === repo.fullName && String(r.id) === params.check_run_id,
      );
      if (!run) return notFound(DOC.updateCheck);
      const rule = completedRule(
        DOC.updateCheck,
        body.status,
        body.conclusion ?? run.conclusion ?? undefined,
      );
      if (rule) return rule;
      if (body.name) run.name = body.name;
      applyCheck(run, body);
      services.emit('check_run', run);
      return { status: 200, body: state.checkRunJson(run) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/commits/{ref}/status',
    resource: 'Status',
    docs: DOC.combinedStatus,
    query: z.object(page),
    handle: async ({ state, repo, params }) => {
      const sha = await repo.git.resolveCommit(params.ref ?? '');
      if (!sha) return notFound(DOC.combinedStatus, `No commit found for SHA: ${params.ref}`);
      const latest = new Map<string, (typeof state.commitStatuses)[number]>();
      for (const s of state.commitStatuses) {
        if (s.repo === repo.fullName && s.sha === sha) latest.set(s.context, s);
      }
      const statuses = [...latest.values()];
      const states = statuses.map((s) => s.state);
      const combined =
        states.includes('error') || states.includes('failure')
          ? 'failure'
          : states.length === 0 || states.includes('pending')
            ? 'pending'
            : 'success';
      return {
        status: 200,
        body: {
          state: combined,
          statuses: statuses.map((s) => state.commitStatusJson(s)),
          sha,
          total_count: statuses.length,
          repository: state.repoJson(repo, await repo.git.defaultBranch()),
          commit_url: `${state.apiUrl}/repos/${repo.fullName}/commits/${sha}`,
          url: `${state.apiUrl}/repos/${repo.fullName}/commits/${sha}/status`,
        },
      };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/statuses/{sha}',
    resource: 'Status',
    docs: DOC.createStatus,
    body: z.object({
      state: z.enum(['error', 'failure', 'pending', 'success']),
      target_url: z.string().nullable().optional(),
      description: z.string().nullable().optional(),
      context: z.string().optional(),
    }),
    handle: async ({ state, repo, params, body, user }) => {
      const sha = await repo.git.resolveCommit(params.sha ?? '');
      if (!sha)
        return unprocessableMessage(DOC.createStatus, `No commit found for SHA: ${params.sha}`);
      const status = {
        id: state.nextId(),
        repo: repo.fullName,
        sha,
        state: body.state,
        context: body.context ?? 'default',
        description: body.description ?? null,
        targetUrl: body.target_url ?? null,
        creator: user,
        createdAt: now(),
      };
      state.commitStatuses.push(status);
      return { status: 201, body: state.commitStatusJson(status) };
    },
  }),

  // -- pull requests -----------------------------------------------------------------------------
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

export function covers(installation: Installation, repo: RepoRecord): boolean {
  if (installation.account.toLowerCase() !== repo.owner.toLowerCase()) return false;
  return (
    installation.repositories === 'all' ||
    installation.repositories.has(repo.fullName.toLowerCase())
  );
}

function installationJson(state: StandInState, installation: Installation) {
  return {
    id: installation.id,
    account: state.userJson({
      login: installation.account,
      id: hashId(installation.account),
      type: 'User',
    }),
    app_id: state.app.id,
    app_slug: state.app.slug,
    target_type: 'Organization',
    repository_selection: installation.repositories === 'all' ? 'all' : 'selected',
    access_tokens_url: `${state.apiUrl}/app/installations/${installation.id}/access_tokens`,
    repositories_url: `${state.apiUrl}/installation/repositories`,
    html_url: `${state.baseUrl}/organizations/${installation.account}/settings/installations/${installation.id}`,
    permissions: {
      contents: 'read',
      deployments: 'write',
      issues: 'write',
      pull_requests: 'write',
      checks: 'write',
      statuses: 'read',
      metadata: 'read',
    },
    events: ['push', 'pull_request', 'issue_comment'],
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    suspended_at: null,
  };
}
