// A local stand-in for GitHub Enterprise Server: one HTTP server on 127.0.0.1 that answers the
// REST API under /api/v3 for every route DAG calls (github-stand-in-routes.ts), and serves real
// bare git repositories at /{owner}/{repo}.git over git's smart HTTP (through the test git
// server), so DAG's API calls and its IAC pushes go to one host, as they do on GHES.
//
// It answers like GitHub where DAG can tell the difference:
// - authentication: the App's JWT (RS256, signed with the App's private key, checked against its
//   public key, `iss`, `iat` and `exp`), installation tokens it mints (`ghs_...`, with an
//   expiry), and personal tokens it is told about; git over HTTP takes the same tokens;
// - validation: every request body and query is checked against the route's documented fields
//   and values; a miss is a 422 in GitHub's shape ({message, errors: [{resource, code, field}],
//   documentation_url}); an unknown route is a 404 and recorded as unexpected;
// - rate limits: x-ratelimit-* headers on every API answer, a primary limit per identity, an
//   optional secondary limit on content-creating requests (403 + retry-after + GitHub's
//   message), and optional seeded fault injection (502s, secondary 403s, lost answers).
//
// Repository contents, trees and compares are read from the real git repositories; everything
// else (deployments and their statuses, comments, pull requests, checks) is kept in memory and
// exposed, with a log of every request, for tests to assert on.

import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { startGitServer, type GitServer } from './git-server.ts';
import { branchPush, githubExample, githubSignature } from './github-examples.ts';
import { Credentials, identityName } from './github-stand-in/auth.ts';
import { RepoGit } from './github-stand-in/git.ts';
import {
  Limits,
  badGateway,
  primaryAnswer,
  secondaryAnswer,
  type FaultKind,
  type RateLimitOptions,
} from './github-stand-in/limits.ts';
import { ROUTES, covers } from './github-stand-in/routes.ts';
import {
  fieldErrors,
  notFound,
  unprocessable,
  type Answer,
  type Identity,
  type Route,
  type Services,
} from './github-stand-in/route.ts';
import {
  StandInState,
  hashId,
  type CommentRecord,
  type DeploymentRecord,
  type IssueRecord,
  type RepoRecord,
  type ReviewRecord,
  type Role,
  type User,
} from './github-stand-in/state.ts';

export { BODY_LIMIT, CHECK_OUTPUT_LIMIT, DEPLOYMENT_STATES } from './github-stand-in/routes.ts';
export type * from './github-stand-in/state.ts';

export type { FaultKind, RateLimitOptions } from './github-stand-in/limits.ts';

export type StandInOptions = RateLimitOptions & {
  appId: number;
  /** The App's private key (PEM); the stand-in verifies JWTs with its public half. */
  privateKey: string;
  appSlug?: string;
  /** Installation tokens' lifetime (GitHub: one hour). */
  tokenTtlMs?: number;
};

export type RequestRecord = {
  seq: number;
  kind: 'api' | 'git';
  method: string;
  /** The path as requested (API paths without /api/v3), without the query. */
  path: string;
  query: string;
  /** The route template (`POST /repos/{owner}/{repo}/deployments`); null when none matched. */
  route: string | null;
  status: number;
  /** `app`, `installation:<id>`, `token:<login>`, or null (anonymous or refused). */
  identity: string | null;
  /** A content-creating request (POST, PATCH, PUT, DELETE other than token minting). */
  write: boolean;
  /** No route matched: the client called something the stand-in (and DAG's list) lacks. */
  unexpected: boolean;
  fault?: FaultKind;
  limited?: 'primary' | 'secondary';
  /** The Retry-After (seconds) of the answer, when it had one. */
  retryAfter?: number;
  /** Body fields GitHub would ignore (not in the route's documented fields). */
  ignoredFields?: string[];
  body?: unknown;
  /** Date.now() when the request arrived and when its answer was sent. */
  startedAt: number;
  finishedAt: number;
  ms: number;
};

export type GitHubStandIn = {
  /** `http://127.0.0.1:<port>`: the web and git host. */
  url: string;
  /** `http://127.0.0.1:<port>/api/v3`: what Octokit's baseUrl and GHE_HOST lead to. */
  apiUrl: string;
  /** `127.0.0.1:<port>`, for GHE_HOST (with GHE_PROTOCOL=http). */
  host: string;
  appId: number;
  state: StandInState;
  /** Every request, in arrival order of their answers. */
  readonly requests: RequestRecord[];
  /** Requests no route matched. A test asserts this stays empty. */
  unexpected(): RequestRecord[];
  /**
   * Events: `request` (RequestRecord), `deployment` (DeploymentRecord), `deployment_status`
   * ({deployment, status}), `comment`, `check_run`, `pull_request`, `git-push` ({repo, status})
   * once a receive-pack answer is complete.
   */
  events: EventEmitter;
  git: GitServer;
  /** The web URL of a repository (`<url>/<owner>/<repo>`). */
  repoUrl(fullName: string): string;
  /** Its clone URL (`<url>/<owner>/<repo>.git`). */
  cloneUrl(fullName: string): string;
  createRepo(
    fullName: string,
    options?: {
      files?: Record<string, string>;
      defaultBranch?: string;
      private?: boolean;
      /** Let DAG rewrite and delete its own `dag/` branches (an IAC repository's promotions). */
      dagBranches?: boolean;
    },
  ): Promise<RepoRecord>;
  /** A new branch at the tip of another (or at a commit). */
  createBranch(fullName: string, branch: string, from: string): Promise<string>;
  /** Commits files (null deletes) on a branch of a repository, as a person pushing would. */
  commit(
    fullName: string,
    branch: string,
    files: Record<string, string | null>,
    message?: string,
  ): Promise<string>;
  /**
   * Merges an open pull request of a branch of the same repository, as a person pressing the
   * button does: a merge commit (git's merge of head into base) on the base branch; the pull
   * request closed and merged. Its merge commit.
   */
  mergePull(fullName: string, number: number, user?: string): Promise<string>;
  /**
   * A pull_request webhook payload as this host sends it: @octokit/webhooks-examples' with the
   * pull request as the API shows it now, its repository, sender and installation.
   */
  pullRequestPayload(
    fullName: string,
    number: number,
    action: string,
    sender?: string,
  ): Promise<Record<string, unknown>>;
  /** Installs the App on an account: all its repositories, or the named ones. */
  install(id: number, account: string, repositories?: string[] | 'all'): void;
  /** A personal access token, for the API and git: all repositories or the named ones. */
  addToken(token: string, options: { login: string; repositories?: string[] | 'all' }): void;
  setPermission(fullName: string, login: string, role: Role): void;
  openIssue(fullName: string, input: { title: string; body?: string; user?: string }): number;
  /** A person opens a pull request from `head` into `base` of the same repository; its number. */
  openPull(
    fullName: string,
    input: { head: string; base: string; title: string; user?: string },
  ): Promise<number>;
  /**
   * The issue_comment (created) payload this host sends for comment `commentId`: the example of
   * @octokit/webhooks-examples with the comment, its issue or pull request, the repository, the
   * sender and the installation as they are now.
   */
  commentPayload(fullName: string, commentId: number): Promise<Record<string, unknown>>;
  /** A person's comment on an issue or pull request (what a webhook would then announce). */
  addComment(fullName: string, number: number, body: string, user?: string): CommentRecord;
  addReview(
    fullName: string,
    pullNumber: number,
    user: string,
    state: ReviewRecord['state'],
  ): ReviewRecord;
  deployments(fullName?: string): DeploymentRecord[];
  comments(fullName?: string, number?: number): CommentRecord[];
  pulls(fullName?: string): IssueRecord[];
  /** Changes the rate limits and faults from now on (counters are kept). */
  configure(options: RateLimitOptions): void;
  /**
   * A push webhook payload as this host sends it: @octokit/webhooks-examples' branch push with
   * this host's URLs, the repository, the commit and the installation.
   */
  pushPayload(
    fullName: string,
    input: { after: string; before?: string; branch?: string; installationId?: number },
  ): Record<string, unknown>;
  /** Delivers a webhook to `url` the way GitHub does (signed, with GitHub's headers). */
  deliver(
    url: string,
    secret: string,
    event: string,
    payload: unknown,
    deliveryId?: string,
  ): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
};

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

export async function startGitHubStandIn(options: StandInOptions): Promise<GitHubStandIn> {
  const gitToken = randomBytes(16).toString('hex');
  const git = await startGitServer({ token: gitToken });
  const gitPort = Number(new URL(git.url('x/y')).port);
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const requests: RequestRecord[] = [];
  const limits = new Limits(options);
  let seq = 0;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `stand-in error: ${String(error)}` }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  const state = new StandInState(url, {
    id: options.appId,
    slug: options.appSlug ?? 'dag',
    name: options.appSlug ?? 'DAG',
  });

  const credentials = new Credentials({
    privateKey: options.privateKey,
    appId: options.appId,
    tokenTtlMs: options.tokenTtlMs ?? 3600_000,
    installations: state.installations,
  });
  const services: Services = {
    mintToken: (installation, repositories) => credentials.mint(installation, repositories),
    emit: (event, payload) => events.emit(event, payload),
  };

  function record(entry: Omit<RequestRecord, 'seq' | 'finishedAt' | 'ms'>, started: number) {
    const full: RequestRecord = {
      ...entry,
      seq: ++seq,
      finishedAt: Date.now(),
      ms: performance.now() - started,
    };
    requests.push(full);
    events.emit('request', full);
    return full;
  }

  function userOf(identity: Identity): User {
    if (identity.kind === 'token') {
      return { login: identity.login, id: hashId(identity.login), type: 'User' };
    }
    return state.botUser();
  }

  function send(res: ServerResponse, answer: Answer, headers: Record<string, string>) {
    const common = {
      date: new Date().toUTCString(),
      'x-github-request-id': randomUUID().toUpperCase(),
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      ...headers,
      ...answer.headers,
    };
    if (answer.raw) {
      res.writeHead(answer.status, {
        ...common,
        'content-type': answer.contentType ?? 'application/octet-stream',
      });
      res.end(answer.raw);
      return;
    }
    if (answer.status === 204 || answer.body === undefined) {
      res.writeHead(answer.status, common);
      res.end();
      return;
    }
    res.writeHead(answer.status, { ...common, 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(answer.body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const startedAt = Date.now();
    const target = new URL(req.url ?? '/', url);
    const method = (req.method ?? 'GET').toUpperCase();
    if (target.pathname.startsWith('/api/v3/') || target.pathname === '/api/v3') {
      await handleApi(req, res, method, target, started, startedAt);
      return;
    }
    const gitPath = /^\/([^/]+)\/([^/]+?)\.git(\/.*)$/.exec(target.pathname);
    if (gitPath) {
      await proxyGit(req, res, method, target, gitPath, started, startedAt);
      return;
    }
    req.resume();
    send(res, notFound(), {});
    record(
      {
        kind: 'api',
        method,
        path: target.pathname,
        query: target.search,
        route: null,
        status: 404,
        identity: null,
        write: false,
        unexpected: true,
        startedAt,
      },
      started,
    );
  }

  async function handleApi(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: URL,
    started: number,
    startedAt: number,
  ): Promise<void> {
    const path = target.pathname.slice('/api/v3'.length) || '/';
    const raw = await readBody(req);
    let matched: { route: Route; params: Record<string, string> } | undefined;
    for (const route of ROUTES) {
      if (route.method !== method) continue;
      const m = route.pattern.exec(path);
      if (!m) continue;
      const params: Record<string, string> = {};
      route.names.forEach((name, i) => {
        params[name] = decodeURIComponent(m[i + 1] ?? '');
      });
      matched = { route, params };
      break;
    }
    const routeName = matched ? `${method} ${matched.route.template}` : null;
    const isTokenRoute =
      matched?.route.template === '/app/installations/{installation_id}/access_tokens';
    const write = method !== 'GET' && method !== 'HEAD' && !isTokenRoute;
    let identity: Identity | undefined;
    let body: unknown;
    let ignoredFields: string[] | undefined;
    let fault: FaultKind | undefined;
    let limited: 'primary' | 'secondary' | undefined;
    let unparsable = false;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        unparsable = true;
      }
    }

    const answer = await (async (): Promise<{
      answer: Answer;
      headers: Record<string, string>;
    }> => {
      const auth = credentials.authenticate(
        req.headers.authorization,
        matched?.route.auth === 'app',
      );
      const budgetKey =
        'identity' in auth ? (identityName(auth.identity) ?? 'anonymous') : 'anonymous';
      const rate = limits.primary(budgetKey);
      if ('error' in auth) return { answer: auth.error, headers: rate.headers };
      identity = auth.identity;
      if (rate.exceeded) {
        limited = 'primary';
        const who =
          identity.kind === 'installation'
            ? `installation ID ${identity.installation.id}`
            : identity.kind === 'app'
              ? `app ID ${options.appId}`
              : `user ${identity.login}`;
        return { answer: primaryAnswer(who), headers: rate.headers };
      }
      if (!matched) return { answer: notFound(), headers: rate.headers };
      const { route, params } = matched;
      let repo: RepoRecord | undefined;
      if (route.auth === 'repo') {
        repo = state.repo(`${params.owner}/${params.repo}`);
        if (!repo || !credentials.canSee(identity, repo))
          return { answer: notFound(route.docs), headers: rate.headers };
      }
      if (write) {
        const wait = limits.secondary(budgetKey);
        if (wait > 0) {
          limited = 'secondary';
          return {
            answer: secondaryAnswer(wait),
            headers: { ...rate.headers, 'retry-after': String(wait) },
          };
        }
      }
      const drawn = limits.fault({ method, route: routeName ?? '', write });
      fault = drawn.kind;
      if (fault === 'bad-gateway') return { answer: badGateway(), headers: rate.headers };
      if (fault === 'secondary') {
        return {
          answer: secondaryAnswer(drawn.retryAfter),
          headers: { ...rate.headers, 'retry-after': String(drawn.retryAfter) },
        };
      }

      if (unparsable) {
        return {
          answer: {
            status: 400,
            body: {
              message: 'Problems parsing JSON',
              documentation_url: route.docs,
              status: '400',
            },
          },
          headers: rate.headers,
        };
      }
      let parsedBody: unknown = body;
      if (route.body) {
        const result = route.body.safeParse(body ?? {});
        if (!result.success) {
          return {
            answer: unprocessable(
              route.docs,
              fieldErrors(route.resource, result.error.issues, body ?? {}),
            ),
            headers: rate.headers,
          };
        }
        parsedBody = result.data;
        ignoredFields = ignored(route, body);
      }
      let parsedQuery: unknown = Object.fromEntries(target.searchParams);
      if (route.query) {
        const result = route.query.safeParse(parsedQuery);
        if (!result.success) {
          return {
            answer: unprocessable(
              route.docs,
              fieldErrors(route.resource, result.error.issues, parsedQuery),
            ),
            headers: rate.headers,
          };
        }
        parsedQuery = result.data;
      }
      const answer = await route.handle({
        state,
        services,
        params,
        query: parsedQuery,
        body: parsedBody,
        identity,
        user: userOf(identity),
        accept: req.headers.accept ?? '',
        ...(repo ? { repo } : {}),
      });
      if (fault === 'lost-bad-gateway') return { answer: badGateway(), headers: rate.headers };
      return { answer, headers: rate.headers };
    })();

    send(res, answer.answer, answer.headers);
    const retryAfter = answer.headers['retry-after'] ?? answer.answer.headers?.['retry-after'];
    record(
      {
        kind: 'api',
        method,
        path,
        query: target.search,
        route: routeName,
        status: answer.answer.status,
        identity: identityName(identity),
        write,
        unexpected: !matched,
        ...(fault ? { fault } : {}),
        ...(limited ? { limited } : {}),
        ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}),
        ...(ignoredFields?.length ? { ignoredFields } : {}),
        ...(body !== undefined ? { body } : {}),
        startedAt,
      },
      started,
    );
  }

  /** Top-level body fields the route does not document (GitHub ignores them). */
  function ignored(route: Route, body: unknown): string[] | undefined {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    const schema = route.body as { shape?: Record<string, unknown> } | undefined;
    const shape = schema?.shape;
    if (!shape) return undefined;
    return Object.keys(body).filter((k) => !(k in shape));
  }

  /** Git's smart HTTP for /{owner}/{repo}.git, with GitHub's tokens, through the git server. */
  async function proxyGit(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    target: URL,
    match: RegExpExecArray,
    started: number,
    startedAt: number,
  ): Promise<void> {
    const repo = state.repo(`${match[1]}/${match[2]}`);
    const rest = match[3] ?? '';
    const routeName = `${method} /{owner}/{repo}.git${rest}`;
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const decoded = basic?.[1] ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
    const user = decoded.slice(0, Math.max(0, decoded.indexOf(':')));
    const password = decoded.slice(decoded.indexOf(':') + 1);
    const auth = password ? credentials.authenticate(`token ${password}`, false) : undefined;
    const identity = auth && 'identity' in auth ? auth.identity : undefined;
    const base = {
      kind: 'git' as const,
      method,
      path: target.pathname,
      query: target.search,
      route: routeName,
      write: false,
      unexpected: false,
      startedAt,
    };
    if (!repo || !identity || !credentials.canSee(identity, repo)) {
      req.resume();
      // GitHub asks for credentials first and never says whether a repository exists.
      const status = identity ? 404 : 401;
      res.writeHead(status, {
        'content-type': 'text/plain',
        ...(status === 401 ? { 'www-authenticate': 'Basic realm="GitHub"' } : {}),
      });
      res.end(status === 401 ? 'Authentication required\n' : 'Repository not found.\n');
      record({ ...base, status, identity: identityName(identity) }, started);
      return;
    }
    const headers = { ...req.headers };
    headers.authorization = `Basic ${Buffer.from(`${user || 'x-access-token'}:${gitToken}`).toString('base64')}`;
    headers.host = `127.0.0.1:${gitPort}`;
    await new Promise<void>((resolve) => {
      const upstream = httpRequest(
        {
          host: '127.0.0.1',
          port: gitPort,
          method,
          path: `/${repo.fullName}.git${rest}${target.search}`,
          headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.once('end', () => {
            const status = answer.statusCode ?? 502;
            record({ ...base, status, identity: identityName(identity) }, started);
            if (method === 'POST' && rest === '/git-receive-pack') {
              events.emit('git-push', { repo: repo.fullName, status });
            }
            resolve();
          });
        },
      );
      upstream.once('error', (error) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(error));
        record({ ...base, status: 502, identity: identityName(identity) }, started);
        resolve();
      });
      req.pipe(upstream);
    });
  }

  function findRepo(fullName: string): RepoRecord {
    const repo = state.repo(fullName);
    if (!repo) throw new Error(`the stand-in has no repository ${fullName}`);
    return repo;
  }

  function person(login: string): User {
    return { login, id: hashId(login), type: 'User' };
  }

  return {
    url,
    apiUrl: state.apiUrl,
    host: `127.0.0.1:${port}`,
    appId: options.appId,
    state,
    requests,
    unexpected: () => requests.filter((r) => r.unexpected),
    events,
    git,
    repoUrl: (fullName) => `${url}/${fullName}`,
    cloneUrl: (fullName) => `${url}/${fullName}.git`,

    async createRepo(
      fullName,
      { files, defaultBranch = 'main', private: isPrivate = true, dagBranches = false } = {},
    ) {
      const [owner, name, extra] = fullName.split('/');
      if (!owner || !name || extra !== undefined) throw new Error(`not owner/repo: ${fullName}`);
      if (state.repo(fullName)) throw new Error(`${fullName} exists`);
      await git.createRepo(fullName, { defaultBranch, dagBranches, ...(files ? { files } : {}) });
      const dir = await git.git(fullName, ['rev-parse', '--absolute-git-dir']);
      const repo: RepoRecord = {
        id: state.nextId(),
        owner,
        name,
        fullName,
        private: isPrivate,
        git: new RepoGit(dir),
        labels: new Map(),
        permissions: new Map(),
      };
      state.repos.set(fullName.toLowerCase(), repo);
      return repo;
    },

    async createBranch(fullName, branch, from) {
      const repo = findRepo(fullName);
      const sha = await repo.git.resolveCommit(from);
      if (!sha) throw new Error(`nothing named ${from} in ${fullName}`);
      await repo.git.run(['update-ref', `refs/heads/${branch}`, sha, '0'.repeat(40)]);
      return sha;
    },

    commit: (fullName, branch, files, message = 'a commit') =>
      findRepo(fullName).git.commit(branch, files, message),

    async mergePull(fullName, number, user = 'a-human') {
      const repo = findRepo(fullName);
      const issue = state.issue(repo, number);
      const pull = issue?.pull;
      if (!issue || !pull || issue.state !== 'open') {
        throw new Error(`no open pull request #${number} in ${fullName}`);
      }
      if (pull.headRepo.toLowerCase() !== repo.fullName.toLowerCase()) {
        throw new Error('the stand-in merges pull requests of its own branches only');
      }
      const base = await repo.git.resolveCommit(`refs/heads/${pull.base}`);
      const head = await repo.git.resolveCommit(`refs/heads/${pull.head}`);
      if (!base || !head) throw new Error(`pull request #${number}: a branch is gone`);
      // git merge-tree exits 1 on conflicts: GitHub would not offer the button either.
      const tree = (await repo.git.text(['merge-tree', '--write-tree', base, head])).split('\n')[0];
      const who = person(user);
      const message = `Merge pull request #${number} from ${repo.owner}/${pull.head}\n\n${issue.title}\n`;
      const merge = (
        await repo.git.run(['commit-tree', tree ?? '', '-p', base, '-p', head, '-F', '-'], {
          input: message,
          env: {
            GIT_AUTHOR_NAME: who.login,
            GIT_AUTHOR_EMAIL: `${who.id}+${who.login}@users.noreply.github.com`,
            GIT_COMMITTER_NAME: 'GitHub',
            GIT_COMMITTER_EMAIL: 'noreply@github.com',
          },
        })
      )
        .toString('utf8')
        .trim();
      await repo.git.run(['update-ref', `refs/heads/${pull.base}`, merge, base]);
      const at = new Date().toISOString();
      Object.assign(pull, { merged: true, mergedAt: at, mergeCommitSha: merge, headSha: head });
      Object.assign(issue, { state: 'closed', closedAt: at, updatedAt: at });
      events.emit('pull_request', issue);
      return merge;
    },

    async pullRequestPayload(fullName, number, action, sender = 'a-human') {
      const repo = findRepo(fullName);
      const issue = state.issue(repo, number);
      const pull = issue?.pull;
      if (!issue || !pull) throw new Error(`no pull request #${number} in ${fullName}`);
      const example = githubExample('pull_request', (p) => p.action === action);
      const defaultBranch = await repo.git.defaultBranch();
      const headSha =
        issue.state === 'open'
          ? ((await repo.git.resolveCommit(`refs/heads/${pull.head}`)) ?? pull.headSha)
          : pull.headSha;
      const baseSha = (await repo.git.resolveCommit(`refs/heads/${pull.base}`)) ?? '';
      const installation = [...state.installations.values()].find((i) => covers(i, repo))?.id;
      return {
        ...example,
        action,
        number,
        pull_request: state.pullJson(repo, issue, headSha, baseSha, defaultBranch),
        repository: state.repoJson(repo, defaultBranch),
        sender: state.userJson(person(sender)),
        ...(installation !== undefined
          ? {
              installation: {
                id: installation,
                node_id: Buffer.from(`0:Installation${installation}`).toString('base64'),
              },
            }
          : {}),
      };
    },

    install(id, account, repositories = 'all') {
      state.installations.set(id, {
        id,
        account,
        repositories:
          repositories === 'all'
            ? 'all'
            : new Set(
                repositories.map((r) => (r.includes('/') ? r : `${account}/${r}`).toLowerCase()),
              ),
      });
    },

    addToken(token, { login, repositories = 'all' }) {
      credentials.addToken(token, login, repositories);
    },

    setPermission(fullName, login, role) {
      findRepo(fullName).permissions.set(login.toLowerCase(), role);
    },

    openIssue(fullName, { title, body, user = 'a-human' }) {
      const repo = findRepo(fullName);
      const at = new Date().toISOString();
      const number = state.nextNumber(repo);
      state.addIssue({
        number,
        repo: repo.fullName,
        title,
        body: body ?? null,
        state: 'open',
        user: person(user),
        labels: [],
        createdAt: at,
        updatedAt: at,
        closedAt: null,
      });
      return number;
    },

    async openPull(fullName, { head, base, title, user = 'a-human' }) {
      const repo = findRepo(fullName);
      const headSha = await repo.git.resolveCommit(`refs/heads/${head}`);
      if (!headSha) throw new Error(`no branch ${head} in ${fullName}`);
      const at = new Date().toISOString();
      const number = state.nextNumber(repo);
      state.addIssue({
        number,
        repo: repo.fullName,
        title,
        body: null,
        state: 'open',
        user: person(user),
        labels: [],
        createdAt: at,
        updatedAt: at,
        closedAt: null,
        pull: {
          head,
          headRepo: repo.fullName,
          headSha,
          base,
          merged: false,
          mergedAt: null,
          mergeCommitSha: null,
          maintainerCanModify: true,
          draft: false,
        },
      });
      return number;
    },

    async commentPayload(fullName, commentId) {
      const repo = findRepo(fullName);
      const comment = state.comments.get(commentId);
      const issue = comment && state.issue(repo, comment.issueNumber);
      if (!comment || !issue) throw new Error(`no comment ${commentId} in ${fullName}`);
      const example = githubExample('issue_comment', (p) => p.action === 'created');
      const defaultBranch = await repo.git.defaultBranch();
      const web = `${url}/${repo.fullName}`;
      const installation = [...state.installations.values()].find((i) => covers(i, repo))?.id;
      // The example's issue is a pull request's; an issue's payload has no pull_request.
      const exampleIssue = { ...(example.issue as Record<string, unknown>) };
      delete exampleIssue.pull_request;
      return {
        ...example,
        action: 'created',
        issue: {
          ...exampleIssue,
          number: issue.number,
          title: issue.title,
          state: issue.state,
          user: state.userJson(issue.user),
          html_url: `${web}/${issue.pull ? 'pull' : 'issues'}/${issue.number}`,
          ...(issue.pull
            ? {
                pull_request: {
                  url: `${state.apiUrl}/repos/${repo.fullName}/pulls/${issue.number}`,
                },
              }
            : {}),
        },
        comment: {
          ...(example.comment as object),
          id: comment.id,
          body: comment.body,
          user: state.userJson(comment.user),
          html_url: `${web}/issues/${issue.number}#issuecomment-${comment.id}`,
          created_at: comment.createdAt,
          updated_at: comment.updatedAt,
        },
        repository: state.repoJson(repo, defaultBranch),
        sender: state.userJson(comment.user),
        ...(installation !== undefined
          ? {
              installation: {
                id: installation,
                node_id: Buffer.from(`0:Installation${installation}`).toString('base64'),
              },
            }
          : {}),
      };
    },

    addComment(fullName, number, body, user = 'a-human') {
      const repo = findRepo(fullName);
      if (!state.issue(repo, number)) throw new Error(`no issue #${number} in ${fullName}`);
      const at = new Date().toISOString();
      const comment: CommentRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        issueNumber: number,
        body,
        user: person(user),
        createdAt: at,
        updatedAt: at,
        reactions: [],
      };
      state.comments.set(comment.id, comment);
      return comment;
    },

    addReview(fullName, pullNumber, user, reviewState) {
      const repo = findRepo(fullName);
      const pull = state.issue(repo, pullNumber)?.pull;
      if (!pull) throw new Error(`no pull request #${pullNumber} in ${fullName}`);
      const review: ReviewRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        pullNumber,
        user: person(user),
        state: reviewState,
        body: '',
        commitId: pull.headSha,
        submittedAt: new Date().toISOString(),
      };
      state.reviews.push(review);
      return review;
    },

    deployments: (fullName) =>
      state.deployments.filter((d) => !fullName || d.repo.toLowerCase() === fullName.toLowerCase()),

    comments: (fullName, number) =>
      [...state.comments.values()].filter(
        (c) =>
          (!fullName || c.repo.toLowerCase() === fullName.toLowerCase()) &&
          (number === undefined || c.issueNumber === number),
      ),

    pulls: (fullName) =>
      [...state.issues.values()].filter(
        (i) => i.pull && (!fullName || i.repo.toLowerCase() === fullName.toLowerCase()),
      ),

    configure: (next) => limits.configure(next),

    pushPayload(fullName, { after, before = '0'.repeat(39) + '1', branch, installationId }) {
      const repo = findRepo(fullName);
      const example = githubExample('push', branchPush) as Record<string, unknown> & {
        repository: Record<string, unknown>;
        head_commit: Record<string, unknown>;
      };
      const ref = branch ?? 'main';
      const installation =
        installationId ?? [...state.installations.values()].find((i) => covers(i, repo))?.id;
      const web = `${url}/${repo.fullName}`;
      return {
        ...example,
        ref: `refs/heads/${ref}`,
        before,
        after,
        created: false,
        deleted: false,
        forced: false,
        compare: `${web}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`,
        repository: {
          ...example.repository,
          id: repo.id,
          name: repo.name,
          full_name: repo.fullName,
          private: repo.private,
          owner: {
            ...(example.repository.owner as object),
            login: repo.owner,
            name: repo.owner,
          },
          html_url: web,
          url: web,
          clone_url: `${web}.git`,
          git_url: `git://${new URL(url).host}/${repo.fullName}.git`,
          ssh_url: `git@${new URL(url).hostname}:${repo.fullName}.git`,
          default_branch: ref,
          master_branch: ref,
        },
        head_commit: {
          ...example.head_commit,
          id: after,
          tree_id: after,
          url: `${web}/commit/${after}`,
        },
        commits: [
          { ...example.head_commit, id: after, tree_id: after, url: `${web}/commit/${after}` },
        ],
        ...(installation !== undefined
          ? {
              installation: {
                id: installation,
                node_id: Buffer.from(`0:Installation${installation}`).toString('base64'),
              },
            }
          : {}),
      };
    },

    async deliver(target, secret, event, payload, deliveryId = randomUUID()) {
      const body = JSON.stringify(payload);
      const response = await fetch(target, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitHub-Hookshot/stand-in',
          'x-github-event': event,
          'x-github-delivery': deliveryId,
          'x-github-hook-id': '1',
          'x-github-hook-installation-target-id': String(options.appId),
          'x-github-hook-installation-target-type': 'integration',
          'x-github-enterprise-host': new URL(url).host,
          'x-github-enterprise-version': '3.14.0',
          'x-hub-signature-256': githubSignature(body, secret),
        },
        body,
      });
      return { status: response.status, body: await response.text() };
    },

    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const repo of state.repos.values()) repo.git.close();
      await git.stop();
    },
  };
}

export type { Answer, Identity } from './github-stand-in/route.ts';
