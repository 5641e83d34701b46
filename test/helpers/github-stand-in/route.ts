// How the GitHub stand-in's routes are written: a route is a method, a path template in
// Octokit's form, GitHub's resource name and documentation link, zod schemas of the body and
// query GitHub documents for it, and a handler. A body that misses a required field or carries a
// value GitHub does not allow is answered 422 in GitHub's shape before the handler runs; the
// handler then applies GitHub's own rules (a ref that must exist, one open pull request per head
// and base, ...). Also here: GitHub's error answers, pagination, and the documentation links.

import { z } from 'zod';
import type { Installation, RepoRecord, StandInState, User } from './state.ts';

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

export const DOCS = 'https://docs.github.com/rest';

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

export function repoRoute<
  B extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
>(def: {
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

export function appRoute<B extends z.ZodType = z.ZodUnknown>(def: {
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

export function unprocessableMessage(docs: string, message: string): Answer {
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

// ---- shared schemas and helpers -----------------------------------------------------------------

/** A string of at most `max` characters, counted as GitHub counts them (code points). */
export function limited(max: number) {
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

export const page = {
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

export const now = () => new Date().toISOString();

export function paginate<T>(
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
export function splitHead(value: string, defaultOwner: string): { owner: string; branch: string } {
  const colon = value.indexOf(':');
  return colon < 0
    ? { owner: defaultOwner, branch: value }
    : { owner: value.slice(0, colon), branch: value.slice(colon + 1) };
}

export const DOC = {
  app: `${DOCS}/apps/apps#get-the-authenticated-app`,
  installation: `${DOCS}/apps/apps#get-a-repository-installation-for-the-authenticated-app`,
  accessToken: `${DOCS}/apps/apps#create-an-installation-access-token-for-an-app`,
  repo: `${DOCS}/repos/repos#get-a-repository`,
  contents: `${DOCS}/repos/contents#get-repository-content`,
  tree: `${DOCS}/git/trees#get-a-tree`,
  createTree: `${DOCS}/git/trees#create-a-tree`,
  getCommit: `${DOCS}/git/commits#get-a-commit-object`,
  createCommit: `${DOCS}/git/commits#create-a-commit`,
  getRef: `${DOCS}/git/refs#get-a-reference`,
  createRef: `${DOCS}/git/refs#create-a-reference`,
  updateRef: `${DOCS}/git/refs#update-a-reference`,
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
  commitPulls: `${DOCS}/commits/commits#list-pull-requests-associated-with-a-commit`,
  getPull: `${DOCS}/pulls/pulls#get-a-pull-request`,
  createPull: `${DOCS}/pulls/pulls#create-a-pull-request`,
  updatePull: `${DOCS}/pulls/pulls#update-a-pull-request`,
  reviews: `${DOCS}/pulls/reviews#list-reviews-for-a-pull-request`,
  permission: `${DOCS}/collaborators/collaborators#get-repository-permissions-for-a-user`,
} as const;
