// GitLab's request contract, as its REST API documents it, for every route DAG calls: the fields
// each request must carry, the values GitLab allows, and the state changes GitLab refuses. Tests
// check every intercepted request against it (GitLabContract.nock), and the benchmarks' GitLab
// stand-ins answer a request that breaks it the way GitLab does (400), so a mock can no longer
// accept what GitLab refuses.
//
// Sources: GitLab's REST API documentation (deployments, commit statuses, merge requests, notes,
// repositories, repository files) and, for what it leaves unsaid, its API code: Grape answers a
// missing required field `400 {"error": "<field> is missing"}` and a value outside `values:`
// `<field> does not have a valid value`; fields it does not declare are dropped without a word,
// so DAG sending one is a bug too (it believes GitLab got something it never reads).

import type { IncomingMessage, ServerResponse } from 'node:http';
import nock from 'nock';
import { z } from 'zod';

const BOOLEAN = z.union([z.boolean(), z.enum(['true', 'false'])]);
const INTEGER = z.union([z.number().int(), z.string().regex(/^\d+$/)]);
const PER_PAGE = z.union([
  z.number().int().min(1).max(100),
  z.string().regex(/^(?:[1-9]\d?|100)$/, 'is at most 100'),
]);
/** A commit id: SHA-1, or SHA-256 for repositories in that format. */
const SHA = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/, 'is not a commit SHA');
/** GitLab's environment names: letters, digits, spaces, `-_/${}.`; not starting or ending with `/`. */
const ENVIRONMENT_NAME = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\w\-/${}. ]+$/, 'has characters GitLab does not allow in environment names')
  .refine((s) => !s.startsWith('/') && !s.endsWith('/'), 'cannot start or end with /');
const BRANCH = z.string().min(1);
/** A datetime filter: ISO 8601, as GitLab's documentation asks (`2019-03-15T08:00:00Z`). */
const DATETIME = z.iso.datetime({ offset: true });

/** What GitLab allows a deployment's `status` to be set to through its API. */
export const DEPLOYMENT_STATUSES = ['running', 'success', 'failed', 'canceled'] as const;
/** What GitLab lets a deployment list be filtered by (`status`): every deployment status. */
export const DEPLOYMENT_LIST_STATUSES = [
  'created',
  'running',
  'success',
  'failed',
  'canceled',
  'blocked',
] as const;
/** What GitLab lets a deployment list be ordered by (DeploymentsFinder::ALLOWED_SORT_VALUES). */
export const DEPLOYMENT_ORDER_BY = [
  'id',
  'iid',
  'created_at',
  'updated_at',
  'finished_at',
  'ref',
] as const;
/** What GitLab allows a commit status's `state` to be. */
export const COMMIT_STATES = [
  'pending',
  'running',
  'success',
  'failed',
  'canceled',
  'skipped',
] as const;

export type GitLabRoute = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** GitLab's path under /api/v4, with its `:params`. */
  template: string;
  /** GitLab's documentation page of the route. */
  docs: string;
  body?: z.ZodType;
  query?: z.ZodType;
};

/** Every GitLab route DAG calls, with the fields GitLab documents for it. */
export const GITLAB_ROUTES: GitLabRoute[] = [
  {
    method: 'GET',
    template: 'projects/:id/repository/files/:file_path/raw',
    docs: 'api/repository_files.md#get-raw-file-from-repository',
    query: z.strictObject({ ref: z.string().min(1), lfs: BOOLEAN.optional() }),
  },
  {
    method: 'GET',
    template: 'projects/:id/repository/tree',
    docs: 'api/repositories.md#list-repository-tree',
    query: z.strictObject({
      path: z.string().optional(),
      ref: z.string().min(1).optional(),
      recursive: BOOLEAN.optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
      pagination: z.enum(['keyset']).optional(),
      page_token: z.string().optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/repository/compare',
    docs: 'api/repositories.md#compare-branches-tags-or-commits',
    query: z.strictObject({
      from: z.string().min(1),
      to: z.string().min(1),
      from_project_id: INTEGER.optional(),
      straight: BOOLEAN.optional(),
      unidiff: BOOLEAN.optional(),
    }),
  },
  {
    method: 'POST',
    template: 'projects/:id/deployments',
    docs: 'api/deployments.md#create-a-deployment',
    body: z.strictObject({
      environment: ENVIRONMENT_NAME,
      sha: SHA,
      ref: BRANCH,
      tag: BOOLEAN,
      status: z.enum(DEPLOYMENT_STATUSES),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/deployments',
    docs: 'api/deployments.md#list-project-deployments',
    // No `sha` (nor `ref`) filter: GitLab lists a project's deployments by environment and status
    // only (Grape drops any other field). DeploymentsFinder answers 400 to `finished_*` without
    // `order_by=finished_at` and `status=success`, and to both date filters at once; an
    // `updated_*` filter gets its list ordered by `updated_at` whatever `order_by` says (raised
    // in development, silently in production), so asking for another order is refused too.
    query: z
      .strictObject({
        order_by: z.enum(DEPLOYMENT_ORDER_BY).optional(),
        sort: z.enum(['asc', 'desc']).optional(),
        updated_after: DATETIME.optional(),
        updated_before: DATETIME.optional(),
        finished_after: DATETIME.optional(),
        finished_before: DATETIME.optional(),
        environment: ENVIRONMENT_NAME.optional(),
        status: z.enum(DEPLOYMENT_LIST_STATUSES).optional(),
        per_page: PER_PAGE.optional(),
        page: INTEGER.optional(),
      })
      .refine(
        (q) => !(q.updated_after ?? q.updated_before) || !(q.finished_after ?? q.finished_before),
        '`updated_at` filter and `finished_at` filter can not both be specified',
      )
      .refine(
        (q) => !(q.updated_after ?? q.updated_before) || q.order_by === 'updated_at',
        '`updated_at` filter and `updated_at` sorting must be paired',
      )
      .refine(
        (q) => Boolean(q.finished_after ?? q.finished_before) === (q.order_by === 'finished_at'),
        '`finished_at` filter and `finished_at` sorting must be paired',
      )
      .refine(
        (q) => !(q.finished_after ?? q.finished_before) || q.status === 'success',
        '`finished_at` filter must be combined with `success` status filter',
      ),
  },
  {
    method: 'PUT',
    template: 'projects/:id/deployments/:deployment_id',
    docs: 'api/deployments.md#update-a-deployment',
    body: z.strictObject({ status: z.enum(DEPLOYMENT_STATUSES) }),
  },
  {
    method: 'POST',
    template: 'projects/:id/statuses/:sha',
    docs: 'api/commits.md#set-the-pipeline-status-of-a-commit',
    body: z.strictObject({
      state: z.enum(COMMIT_STATES),
      ref: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
      context: z.string().min(1).optional(),
      // GenericCommitStatus: an http(s) address of at most 255 characters.
      target_url: z
        .url({ protocol: /^https?$/ })
        .max(255)
        .optional(),
      description: z.string().max(255).optional(),
      coverage: z.number().optional(),
      pipeline_id: INTEGER.optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/repository/commits/:sha/merge_requests',
    docs: 'api/commits.md#list-merge-requests-associated-with-a-commit',
    query: z.strictObject({ per_page: PER_PAGE.optional(), page: INTEGER.optional() }),
  },
  {
    method: 'GET',
    template: 'projects/:id/repository/commits/:sha/statuses',
    docs: 'api/commits.md#list-the-statuses-of-a-commit',
    query: z.strictObject({
      ref: z.string().min(1).optional(),
      stage: z.string().min(1).optional(),
      name: z.string().min(1).optional(),
      pipeline_id: INTEGER.optional(),
      order_by: z.enum(['id', 'pipeline_id']).optional(),
      sort: z.enum(['asc', 'desc']).optional(),
      all: BOOLEAN.optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/deployments/:deployment_id',
    docs: 'api/deployments.md#get-a-specific-deployment',
  },
  {
    method: 'GET',
    template: 'projects/:id/merge_requests',
    docs: 'api/merge_requests.md#list-project-merge-requests',
    query: z.strictObject({
      state: z.enum(['opened', 'closed', 'locked', 'merged', 'all']).optional(),
      source_branch: z.string().min(1).optional(),
      target_branch: z.string().min(1).optional(),
      labels: z.string().optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/merge_requests/:merge_request_iid',
    docs: 'api/merge_requests.md#get-single-mr',
    query: z.strictObject({}),
  },
  {
    method: 'POST',
    template: 'projects/:id/merge_requests',
    docs: 'api/merge_requests.md#create-mr',
    body: z.strictObject({
      source_branch: BRANCH,
      target_branch: BRANCH,
      title: z.string().min(1).max(255),
      description: z.string().max(1_048_576).optional(),
      labels: z.string().optional(),
      assignee_id: INTEGER.optional(),
      remove_source_branch: BOOLEAN.optional(),
      squash: BOOLEAN.optional(),
      target_project_id: INTEGER.optional(),
    }),
  },
  {
    method: 'PUT',
    template: 'projects/:id/merge_requests/:merge_request_iid',
    docs: 'api/merge_requests.md#update-mr',
    body: z
      .strictObject({
        title: z.string().min(1).max(255).optional(),
        description: z.string().max(1_048_576).optional(),
        state_event: z.enum(['close', 'reopen']).optional(),
        labels: z.string().optional(),
        add_labels: z.string().optional(),
        remove_labels: z.string().optional(),
        target_branch: BRANCH.optional(),
      })
      .refine((b) => Object.keys(b).length > 0, 'at least one field is required'),
  },
  {
    method: 'GET',
    template: 'projects/:id/repository/branches/:branch',
    docs: 'api/branches.md#get-single-repository-branch',
  },
  {
    method: 'POST',
    template: 'projects/:id/repository/commits',
    docs: 'api/commits.md#create-a-commit-with-multiple-files-and-actions',
    body: z
      .strictObject({
        branch: BRANCH,
        commit_message: z.string().min(1),
        start_branch: BRANCH.optional(),
        start_sha: SHA.optional(),
        start_project: z.union([INTEGER, z.string().min(1)]).optional(),
        actions: z
          .array(
            z
              .strictObject({
                action: z.enum(['create', 'delete', 'move', 'update', 'chmod']),
                file_path: z.string().min(1),
                previous_path: z.string().min(1).optional(),
                content: z.string().optional(),
                encoding: z.enum(['text', 'base64']).optional(),
                last_commit_id: SHA.optional(),
                execute_filemode: BOOLEAN.optional(),
              })
              .refine(
                (a) =>
                  a.action === 'delete' ||
                  a.action === 'chmod' ||
                  a.action === 'move' ||
                  a.content !== undefined,
                'content is required for create and update',
              ),
          )
          .min(1),
        author_email: z.string().min(1).optional(),
        author_name: z.string().min(1).optional(),
        stats: BOOLEAN.optional(),
        force: BOOLEAN.optional(),
      })
      .refine(
        (b) => !(b.start_branch && b.start_sha),
        'start_branch, start_sha are mutually exclusive',
      ),
  },
  {
    method: 'POST',
    template: 'projects/:id/merge_requests/:merge_request_iid/notes',
    docs: 'api/notes.md#create-new-merge-request-note',
    body: z.strictObject({
      body: z.string().min(1).max(1_000_000),
      internal: BOOLEAN.optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/merge_requests/:merge_request_iid/notes',
    docs: 'api/notes.md#list-all-merge-request-notes',
    query: z.strictObject({
      sort: z.enum(['asc', 'desc']).optional(),
      order_by: z.enum(['created_at', 'updated_at']).optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
    }),
  },
  {
    method: 'PUT',
    template: 'projects/:id/merge_requests/:merge_request_iid/notes/:note_id',
    docs: 'api/notes.md#modify-existing-merge-request-note',
    body: z.strictObject({
      body: z.string().min(1).max(1_000_000),
      confidential: BOOLEAN.optional(),
    }),
  },
  {
    method: 'DELETE',
    template: 'projects/:id/merge_requests/:merge_request_iid/notes/:note_id',
    docs: 'api/notes.md#delete-a-merge-request-note',
  },
  {
    method: 'POST',
    template: 'projects/:id/merge_requests/:merge_request_iid/notes/:note_id/award_emoji',
    docs: 'api/emoji_reactions.md#add-a-new-emoji-reaction-to-a-comment',
    // The emoji's name without colons (`thumbsup`).
    body: z.strictObject({ name: z.string().regex(/^[a-z0-9_+-]+$/, 'is not an emoji name') }),
  },
  {
    method: 'POST',
    template: 'projects/:id/issues/:issue_iid/notes',
    docs: 'api/notes.md#create-new-issue-note',
    body: z.strictObject({
      body: z.string().min(1).max(1_000_000),
      internal: BOOLEAN.optional(),
      confidential: BOOLEAN.optional(),
      created_at: DATETIME.optional(),
    }),
  },
  {
    method: 'GET',
    template: 'projects/:id/issues/:issue_iid/notes',
    docs: 'api/notes.md#list-project-issue-notes',
    query: z.strictObject({
      sort: z.enum(['asc', 'desc']).optional(),
      order_by: z.enum(['created_at', 'updated_at']).optional(),
      activity_filter: z.enum(['all_notes', 'only_comments', 'only_activity']).optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
    }),
  },
  {
    method: 'PUT',
    template: 'projects/:id/issues/:issue_iid/notes/:note_id',
    docs: 'api/notes.md#modify-existing-issue-note',
    body: z.strictObject({
      body: z.string().min(1).max(1_000_000),
      confidential: BOOLEAN.optional(),
    }),
  },
  {
    method: 'DELETE',
    template: 'projects/:id/issues/:issue_iid/notes/:note_id',
    docs: 'api/notes.md#delete-an-issue-note',
  },
  {
    method: 'POST',
    template: 'projects/:id/issues/:issue_iid/notes/:note_id/award_emoji',
    docs: 'api/emoji_reactions.md#add-a-new-emoji-reaction-to-a-comment',
    body: z.strictObject({ name: z.string().regex(/^[a-z0-9_+-]+$/, 'is not an emoji name') }),
  },
  {
    method: 'GET',
    template: 'projects/:id/merge_requests/:merge_request_iid/approvals',
    docs: 'api/merge_request_approvals.md#get-configuration-for-a-single-merge-request',
  },
  {
    method: 'GET',
    template: 'projects/:id/members/all/:user_id',
    docs: 'api/members.md#get-a-member-of-a-group-or-project-including-inherited-and-invited-members',
  },
  {
    method: 'GET',
    template: 'user',
    docs: 'api/users.md#get-the-current-user',
  },
  {
    method: 'GET',
    template: 'users',
    docs: 'api/users.md#list-users',
    query: z.strictObject({
      username: z.string().min(1).optional(),
      per_page: PER_PAGE.optional(),
      page: INTEGER.optional(),
    }),
  },
];

/** A route's path pattern: each `:param` is one URL-encoded segment (a project path too). */
function pattern(template: string): RegExp {
  const source = template
    .split('/')
    .map((part) => (part.startsWith(':') ? '([^/]+)' : part))
    .join('/');
  return new RegExp(`^/api/v4/${source}$`);
}
const MATCHERS = GITLAB_ROUTES.map((route) => ({ route, pattern: pattern(route.template) }));

/** Grape's words for what is wrong with a field, as GitLab answers them. */
function grapeErrors(error: z.ZodError, input: Record<string, unknown>): string[] {
  return error.issues.map((issue) => {
    const field = issue.path.join('.');
    if (issue.code === 'unrecognized_keys') {
      return `${issue.keys.join(', ')} is not a parameter GitLab documents (it would be ignored)`;
    }
    if (field && input[field] === undefined) return `${field} is missing`;
    if (issue.code === 'invalid_value') return `${field} does not have a valid value`;
    return `${field || 'the request'} is invalid (${issue.message})`;
  });
}

function parseBody(text: string, contentType: string | null): Record<string, unknown> {
  if (!text) return {};
  if ((contentType ?? '').includes('application/x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(text));
  }
  const parsed: unknown = JSON.parse(text);
  return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
}

/** GitLab's answer, short of its data: its refusal (400, or 404 for an unknown route), if any. */
type Verdict = { route?: GitLabRoute; refusal?: string; apply?: () => void };

export type CheckedRequest = {
  method: string;
  /** The URL's path, `/api/v4/...` (a prefix before /api/v4, as a self-managed GitLab may have, is dropped). */
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown>;
};

/**
 * GitLab's contract, with the state GitLab keeps between requests: commit statuses (GitLab moves
 * a `pending` or `running` status only forward, and starts a new one after a finished one) and
 * deployments (an API-created deployment never runs again, and a finished one does not finish
 * the same way twice).
 */
export class GitLabContract {
  /** What a mock accepted that GitLab refuses, and requests to routes the contract lacks. */
  readonly violations: string[] = [];
  /** Each request checked, in order, with GitLab's refusal if it refuses it. */
  readonly seen: (CheckedRequest & { route?: string; refusal?: string })[] = [];
  #statuses = new Map<string, string>();
  #deployments = new Map<string, string>();

  /**
   * GitLab's answer to a request: its refusal's message when it refuses it, else how the
   * request changes GitLab's state (`apply`, left to the caller: only an accepted one does).
   */
  check(request: CheckedRequest): Verdict {
    const path = request.path.replace(/^.*?(?=\/api\/v4\/)/, '');
    const match = MATCHERS.find((m) => m.route.method === request.method && m.pattern.test(path));
    if (!match) {
      return { refusal: `${request.method} ${path} is not a route in DAG's GitLab contract` };
    }
    const { route } = match;
    const params = (match.pattern.exec(path) ?? []).slice(1);
    const errors: string[] = [];
    if (request.method === 'GET' || route.query) {
      const result = (route.query ?? z.strictObject({})).safeParse(request.query);
      if (!result.success) errors.push(...grapeErrors(result.error, request.query));
    }
    if (request.method !== 'GET') {
      const result = (route.body ?? z.strictObject({})).safeParse(request.body);
      if (!result.success) errors.push(...grapeErrors(result.error, request.body));
    }
    if (errors.length > 0) return { route, refusal: errors.join(', ') };
    return { route, ...this.#transition(route, params, request.body) };
  }

  /** The state change a valid request asks for, refused where GitLab's state machines refuse it. */
  #transition(
    route: GitLabRoute,
    params: string[],
    body: Record<string, unknown>,
  ): { refusal?: string; apply?: () => void } {
    const [project = '', second = ''] = params;
    if (route.template === 'projects/:id/statuses/:sha') {
      const name = String(body.name ?? body.context ?? 'default');
      const key = `${project} ${second} ${String(body.ref ?? '')} ${name}`;
      const current = this.#statuses.get(key);
      const state = String(body.state);
      if (current === 'pending' || current === 'running') {
        if (state === 'pending') {
          return { refusal: `Cannot transition status via :enqueue from :${current}` };
        }
        if (state === 'running' && current === 'running') {
          return { refusal: 'Cannot transition status via :run from :running' };
        }
      }
      return { apply: () => this.#statuses.set(key, state) };
    }
    // Its GET shares the template: reading a deployment changes nothing.
    if (route.method === 'PUT' && route.template === 'projects/:id/deployments/:deployment_id') {
      const key = `${project} ${second}`;
      const status = String(body.status);
      if (status === 'running') {
        return {
          refusal:
            'Cannot transition status via :run from :running (a deployment runs only from created, which an API-created deployment never is)',
        };
      }
      if (this.#deployments.get(key) === status) {
        return { refusal: `Cannot transition status from :${status} to :${status}` };
      }
      return { apply: () => this.#deployments.set(key, status) };
    }
    return {};
  }

  /**
   * Checks a request GitLab would get, as answered with `status`: a refused request answered
   * 2xx is a violation; an accepted one changes GitLab's state. Returns GitLab's refusal.
   */
  observe(request: CheckedRequest, status: number): string | undefined {
    const { route, refusal, apply } = this.check(request);
    this.seen.push({
      ...request,
      ...(route ? { route: `${route.method} ${route.template}` } : {}),
      ...(refusal ? { refusal } : {}),
    });
    if (refusal) {
      if (status < 400 || !route) {
        this.violations.push(
          `${request.method} ${request.path}: GitLab refuses it (${refusal}), the mock answered ${status}`,
        );
      }
    } else if (status < 300) {
      apply?.();
    }
    return refusal;
  }

  /**
   * `nock(base, options)` whose every intercepted request is checked against the contract, as
   * the mock answers it (an interceptor's reply status; 200 when it is computed).
   */
  nock(base: string, options?: nock.Options): nock.Scope {
    const scope = nock(base, options);
    scope.on('request', (request: Request, interceptor: { statusCode?: number }, body: string) => {
      const url = new URL(request.url);
      this.observe(
        {
          method: request.method,
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          body: parseBody(body, request.headers.get('content-type')),
        },
        interceptor.statusCode ?? 200,
      );
    });
    return scope;
  }

  /** Removes the one recorded violation matching `pattern` (fails if there is none). */
  expectViolation(pattern: RegExp): void {
    const at = this.violations.findIndex((v) => pattern.test(v));
    if (at < 0) {
      throw new Error(`no GitLab contract violation matches ${String(pattern)}`);
    }
    this.violations.splice(at, 1);
  }

  /** Throws with every violation recorded; forgets them and GitLab's state (for the next test). */
  assertKept(): void {
    const found = this.violations.splice(0);
    this.#statuses.clear();
    this.#deployments.clear();
    this.seen.length = 0;
    if (found.length > 0) {
      throw new Error(`GitLab's API contract was broken:\n- ${found.join('\n- ')}`);
    }
  }
}

/**
 * An HTTP handler for a local GitLab stand-in that keeps GitLab's contract: each request is
 * checked first, and one GitLab refuses is answered as GitLab answers it (400 and its message;
 * 404 for a route outside the contract) and recorded in `contract.violations`, so a benchmark or
 * test whose DAG sends it fails. Accepted requests go to `handle`, with the body parsed.
 */
export function contractKeeping(
  contract: GitLabContract,
  handle: (
    req: IncomingMessage,
    res: ServerResponse,
    request: CheckedRequest & { text: string },
  ) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://gitlab');
      const request: CheckedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        body: parseBody(text, req.headers['content-type'] ?? null),
      };
      const { route, refusal, apply } = contract.check(request);
      if (refusal) {
        contract.violations.push(
          `${request.method} ${request.path}: GitLab refuses it (${refusal})`,
        );
        res.writeHead(route ? 400 : 404, { 'content-type': 'application/json' });
        res.end(JSON.stringify(route ? { error: refusal } : { message: '404 Not Found' }));
        return;
      }
      apply?.();
      handle(req, res, { ...request, text });
    });
  };
}
