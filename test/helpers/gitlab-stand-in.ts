// A local stand-in for a self-managed GitLab: one HTTP server on 127.0.0.1 that answers the REST
// API under /api/v4 for every route DAG calls, and serves real bare git repositories at
// /<namespace>/<name>.git over git's smart HTTP (through the test git server), so DAG's API calls
// and its IAC pushes go to one host, as they do on GitLab. The GitLab counterpart of
// github-stand-in.ts, for end-to-end tests that run DAG against it.
//
// It answers like GitLab where DAG can tell the difference:
// - authentication: `PRIVATE-TOKEN` (a personal, project or group access token) names a user;
//   without a known one, 401. Git over HTTP takes the same tokens as Basic auth passwords;
// - the request contract: every API request goes through contractKeeping (gitlab-contract.ts),
//   so a field or value GitLab refuses gets GitLab's 400 and fails the test at stop();
// - state: projects (gitlab-project-stand-in.ts) keep their repository in git, their merge
//   requests, notes, award emoji, approvals, members, commit statuses and deployments in memory,
//   with GitLab's rules (only a note's author edits it, an emoji once per user, ...);
// - webhooks: the stand-in builds GitLab's documented payloads (Push, Merge Request, Note Hook)
//   from its state, and delivers them with GitLab's headers.

import { randomBytes, randomUUID } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { startGitServer, type GitServer } from './git-server.ts';
import { contractKeeping, GitLabContract, type CheckedRequest } from './gitlab-contract.ts';
import { gitlabProjectStandIn, type GitLabProjectStandIn } from './gitlab-project-stand-in.ts';
import type { GitLabUser, Reply } from './gitlab-stand-in/types.ts';

export type { GitLabUser } from './gitlab-stand-in/types.ts';

export const DEFAULT_BOT_TOKEN = 'glpat-dag-bot-token';
/** DAG's token user: what `GET /user` answers to the bot token. */
export const BOT_USER: GitLabUser = { id: 900, username: 'dag-bot', name: 'DAG bot' };

export type GitLabRequestRecord = {
  kind: 'api' | 'git';
  method: string;
  /** The URL's path (`/api/v4/...`, or the git path). */
  path: string;
  query: Record<string, string>;
  status: number;
  /** The user whose token came with it; undefined when none (or an unknown one) did. */
  user?: string;
};

export type GitLabPushRecord = { project: string; user: string; status: number };

export type GitLabStandIn = {
  /** `http://127.0.0.1:<port>`: GITLAB_URL, the web and git host. */
  url: string;
  botToken: string;
  bot: GitLabUser;
  /** The web URL of a project (`<url>/<path>`). */
  webUrl(path: string): string;
  /** Its clone URL (`<url>/<path>.git`). */
  cloneUrl(path: string): string;
  /** The git server behind the stand-in, to read files and heads (repositories by path). */
  git: GitServer;
  /** GitLab's request contract, as DAG kept it; stop() fails when it was broken. */
  contract: GitLabContract;
  /** Every request, API and git, in the order answered. */
  readonly requests: GitLabRequestRecord[];
  /** Every receive-pack (push) through the stand-in, answered. */
  readonly pushes: GitLabPushRecord[];
  addUser(user: { id: number; username: string; name?: string }): GitLabUser;
  addToken(token: string, userId: number): void;
  user(id: number): GitLabUser | undefined;
  /** A project with a repository holding `files` on `defaultBranch` (`dagBranches`: see git-server.ts). */
  createProject(input: {
    id: number;
    path: string;
    defaultBranch?: string;
    files?: Record<string, string>;
    dagBranches?: boolean;
  }): Promise<GitLabProjectStandIn>;
  /** A project by its path (`org/shop`) or id. */
  project(pathOrId: string | number): GitLabProjectStandIn;
  /** POSTs a webhook to DAG (`<dagUrl>/api/gitlab/webhooks`) as GitLab delivers one. */
  deliver(
    dagUrl: string,
    secret: string,
    event: string,
    payload: unknown,
    uuid?: string,
  ): Promise<{ status: number; body: string }>;
  /** Stops the servers; throws when DAG broke GitLab's contract. */
  stop(): Promise<void>;
};

/** The user a request's `PRIVATE-TOKEN` (or `Authorization: Bearer`) names, if known. */
function tokenOf(req: IncomingMessage): string | undefined {
  const header = req.headers['private-token'];
  if (typeof header === 'string') return header;
  return /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** User name and password of HTTP Basic auth. */
function basicAuth(header: string | undefined): { user: string; password: string } | undefined {
  const encoded = /^Basic\s+(\S+)$/i.exec(header ?? '')?.[1];
  if (!encoded) return undefined;
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0
    ? undefined
    : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startGitLabStandIn(
  options: { botToken?: string } = {},
): Promise<GitLabStandIn> {
  const botToken = options.botToken ?? DEFAULT_BOT_TOKEN;
  const gitToken = randomBytes(16).toString('hex');
  const git = await startGitServer({ token: gitToken });
  const gitPort = Number(new URL(git.url('x')).port);
  const contract = new GitLabContract();
  const users = new Map<number, GitLabUser>([[BOT_USER.id, BOT_USER]]);
  const tokens = new Map<string, number>([[botToken, BOT_USER.id]]);
  const projects = new Map<string, GitLabProjectStandIn>();
  const requests: GitLabRequestRecord[] = [];
  const pushes: GitLabPushRecord[] = [];
  const counters = new Map<string, number>();
  // GitLab's ids (notes, statuses, deployments, emoji) are unique across the instance.
  const nextId = (kind: string) => {
    const id = (counters.get(kind) ?? 0) + 1;
    counters.set(kind, id);
    return id;
  };
  const hookUuid = randomUUID();

  const callerOf = (req: IncomingMessage): GitLabUser | undefined => {
    const token = tokenOf(req);
    const id = token === undefined ? undefined : tokens.get(token);
    return id === undefined ? undefined : users.get(id);
  };

  const log = (res: ServerResponse, record: Omit<GitLabRequestRecord, 'status'>) =>
    res.once('finish', () => requests.push({ ...record, status: res.statusCode }));

  const api = contractKeeping(contract, (req, res, request) => {
    const reply: Reply = (status, value, contentType = 'application/json', headers = {}) => {
      res.writeHead(status, { 'content-type': contentType, ...headers });
      res.end(typeof value === 'string' ? value : JSON.stringify(value));
    };
    answerApi(request, reply, callerOf(req) ?? BOT_USER).catch((error: unknown) =>
      reply(500, { message: String(error) }),
    );
  });

  async function answerApi(
    request: CheckedRequest,
    reply: Reply,
    caller: GitLabUser,
  ): Promise<void> {
    const path = request.path.replace(/^\/api\/v4/, '');
    if (path === '/user') return reply(200, userJson(caller));
    if (path === '/users') {
      const found = [...users.values()].filter(
        (u) => request.query.username === undefined || u.username === request.query.username,
      );
      return reply(200, found.map(userJson));
    }
    const id = /^\/projects\/([^/]+)\//.exec(path)?.[1];
    const project = id === undefined ? undefined : findProject(decodeURIComponent(id));
    if (!project) return reply(404, { message: '404 Project Not Found' });
    if (!(await project.answer(request, reply, caller))) reply(404, { message: '404 Not Found' });
  }

  const userJson = (u: GitLabUser) => ({
    id: u.id,
    username: u.username,
    name: u.name,
    state: 'active',
    avatar_url: null,
    web_url: `${url}/${u.username}`,
  });

  function findProject(pathOrId: string | number): GitLabProjectStandIn | undefined {
    return (
      projects.get(String(pathOrId)) ??
      [...projects.values()].find((p) => String(p.id) === String(pathOrId))
    );
  }

  const server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', 'http://gitlab');
    const query = Object.fromEntries(target.searchParams);
    const method = req.method ?? 'GET';
    const caller = callerOf(req);
    if (target.pathname.startsWith('/api/v4/')) {
      log(res, { kind: 'api', method, path: target.pathname, query, user: caller?.username });
      if (!caller) {
        req.resume();
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: '401 Unauthorized' }));
        return;
      }
      api(req, res);
      return;
    }
    const repo = /^\/([^/]+\/[^/]+)\.git(\/.*)?$/.exec(target.pathname);
    if (repo) {
      proxyGit(req, res, repo[1] ?? '', `${repo[2] ?? ''}${target.search}`).catch(
        (error: unknown) => {
          if (!res.headersSent) res.writeHead(502);
          res.end(String(error));
        },
      );
      return;
    }
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('Not Found\n');
  });

  /** Git smart HTTP to the git server, with a token of a known user as the Basic auth password. */
  async function proxyGit(req: IncomingMessage, res: ServerResponse, path: string, rest: string) {
    const method = req.method ?? 'GET';
    const credentials = basicAuth(req.headers.authorization);
    const userId = credentials && tokens.get(credentials.password);
    const user = userId === undefined ? undefined : users.get(userId);
    log(res, {
      kind: 'git',
      method,
      path: `/${path}.git${rest.split('?')[0] ?? ''}`,
      query: Object.fromEntries(new URLSearchParams(rest.split('?')[1] ?? '')),
      user: user?.username,
    });
    if (!user || !projects.has(path)) {
      req.resume();
      // GitLab asks for credentials first and never says whether a project exists.
      const status = user ? 404 : 401;
      res.writeHead(status, {
        'content-type': 'text/plain',
        ...(status === 401 ? { 'www-authenticate': 'Basic realm="GitLab"' } : {}),
      });
      res.end(status === 401 ? 'HTTP Basic: Access denied\n' : 'The project could not be found.\n');
      return;
    }
    const headers = {
      ...req.headers,
      authorization: `Basic ${Buffer.from(`${credentials?.user || 'oauth2'}:${gitToken}`).toString('base64')}`,
      host: `127.0.0.1:${gitPort}`,
    };
    const isPush = method === 'POST' && rest.startsWith('/git-receive-pack');
    await new Promise<void>((resolve) => {
      const upstream = httpRequest(
        { host: '127.0.0.1', port: gitPort, method, path: `/${path}.git${rest}`, headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.once('end', () => {
            if (!isPush) return resolve();
            pushes.push({ project: path, user: user.username, status: answer.statusCode ?? 502 });
            // Merge requests show their source branch's new head, as GitLab's do after a push.
            void projects
              .get(path)
              ?.refresh()
              .finally(() => resolve());
          });
        },
      );
      upstream.once('error', (error) => {
        if (!res.headersSent) res.writeHead(502);
        res.end(String(error));
        resolve();
      });
      req.pipe(upstream);
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    botToken,
    bot: BOT_USER,
    webUrl: (path) => `${url}/${path}`,
    cloneUrl: (path) => `${url}/${path}.git`,
    git,
    contract,
    requests,
    pushes,

    addUser({ id, username, name }) {
      const user = { id, username, name: name ?? username };
      users.set(id, user);
      return user;
    },
    addToken(token, userId) {
      if (!users.has(userId)) throw new Error(`no user ${userId}: addUser first`);
      tokens.set(token, userId);
    },
    user: (id) => users.get(id),

    async createProject({ id, path, defaultBranch = 'main', files, dagBranches }) {
      if (findProject(path) ?? findProject(id)) throw new Error(`project ${path} (${id}) exists`);
      await git.createRepo(path, {
        defaultBranch,
        files: files ?? { 'README.md': `# ${path}\n` },
        ...(dagBranches === undefined ? {} : { dagBranches }),
      });
      const project = gitlabProjectStandIn({
        id,
        pathWithNamespace: path,
        webUrl: `${url}/${path}`,
        httpUrl: `${url}/${path}.git`,
        apiUrl: `${url}/api/v4`,
        dir: await git.git(path, ['rev-parse', '--absolute-git-dir']),
        cicd: true,
        user: (userId) => users.get(userId),
        nextId,
      });
      projects.set(path, project);
      return project;
    },

    project(pathOrId) {
      const project = findProject(pathOrId);
      if (!project) throw new Error(`the stand-in has no project ${pathOrId}`);
      return project;
    },

    async deliver(dagUrl, secret, event, payload, uuid = randomUUID()) {
      const response = await fetch(`${dagUrl}/api/gitlab/webhooks`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'GitLab/17.11.0',
          'x-gitlab-event': event,
          'x-gitlab-token': secret,
          'x-gitlab-event-uuid': uuid,
          'x-gitlab-webhook-uuid': hookUuid,
          'x-gitlab-instance': url,
        },
        body: JSON.stringify(payload),
      });
      return { status: response.status, body: await response.text() };
    },

    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const project of projects.values()) project.git.close();
      await git.stop();
      contract.assertKept();
    },
  };
}
