// A real git server for tests: git's smart HTTP protocol served by `git http-backend` (CGI)
// behind a node:http server on 127.0.0.1 that demands HTTP Basic auth with a fixed token.
//
// Bare repositories live in a temporary directory. Each one refuses non-fast-forward updates and
// branch deletions (`receive.denyNonFastForwards`, `receive.denyDeletes`), and a pre-receive hook
// records every non-fast-forward update that reaches the server, so a force push by the code under
// test fails loudly and shows up in `forcePushes`.
//
// This helper deliberately runs git on its own (not through src/iac) so it stays an independent
// oracle for what actually landed in the repository.

import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export type GitServer = {
  /** Root directory holding the bare repositories (`<name>.git`; a name may be `owner/repo`). */
  dir: string;
  /** `http://127.0.0.1:<port>/<name>.git`, without credentials. */
  url(repoName: string): string;
  createRepo(
    name: string,
    options?: {
      defaultBranch?: string;
      files?: Record<string, string>;
      /** Allow rewriting and deleting `dag/` branches (DAG's promotion branches) only. */
      dagBranches?: boolean;
    },
  ): Promise<void>;
  /** receive-pack (push) requests the backend answered with 200, accepted or not. */
  readonly pushes: number;
  /**
   * When each receive-pack request (a push) started and ended on the server (ms, one clock),
   * with its repository: two writers pushing at once show as overlapping spans.
   */
  readonly pushSpans: readonly { repo: string; start: number; end: number }[];
  /** Non-fast-forward ref updates that reached the server (a force push). Must stay 0. */
  readonly forcePushes: number;
  /** HTTP requests refused for missing or wrong credentials. */
  readonly unauthorized: number;
  /** User names presented with the right token. */
  readonly authUsers: ReadonlySet<string>;
  /** Commits `content` to `path` on `branch` as "A Human", through a separate clone, and pushes. */
  commitOutside(
    repoName: string,
    branch: string,
    path: string,
    content: string,
    message: string,
  ): Promise<string>;
  /** Commit subjects on `branch`, newest first. */
  log(repoName: string, branch: string): Promise<string[]>;
  /** Every file on `branch` with its content. */
  files(repoName: string, branch: string): Promise<Record<string, string>>;
  /** The commit `branch` points at. */
  head(repoName: string, branch: string): Promise<string>;
  /** Runs git against a bare repository (for assertions such as author names). */
  git(repoName: string, args: string[]): Promise<string>;
  /**
   * Parks every request from now on, unanswered, as a stuck host would, until `release()`
   * (which lets them all through). `parked` counts the requests that waited.
   */
  hold(): { readonly parked: number; release(): void };
  stop(): Promise<void>;
};

const HUMAN = { name: 'A Human', email: 'human@example.com' };

// Refuses and records any update that is not a fast-forward. The client's git never sends such an
// update unless it is forced, so a line in force-pushes.log means someone forced. A repository
// created with `dagBranches` lets DAG rewrite and delete its own `dag/` branches, as a host's
// branch protection would, and nothing else.
const PRE_RECEIVE = `#!/bin/sh
zero=0000000000000000000000000000000000000000
status=0
own=$(git config --bool dagtest.dagbranches || echo false)
while read old new ref; do
  case "$ref" in refs/heads/dag/*) [ "$own" = true ] && continue ;; esac
  if [ "$new" = "$zero" ] && [ "$own" = true ]; then
    echo "deleting $ref is refused by the test server" >&2
    status=1
  elif [ "$old" != "$zero" ] && [ "$new" != "$zero" ]; then
    if ! git merge-base --is-ancestor "$old" "$new"; then
      echo "$ref $old $new" >> "$DAG_TEST_FORCE_LOG"
      echo "force push refused by the test server" >&2
      status=1
    fi
  fi
done
exit $status
`;

export async function startGitServer({
  token,
  tls,
}: {
  token: string;
  /** Serve over HTTPS with this certificate (a private CA's, for self-managed forges). */
  tls?: { cert: string; key: string };
}): Promise<GitServer> {
  const dir = await mkdtemp(join(tmpdir(), 'dag-git-server-'));
  const repos = join(dir, 'repos');
  const work = join(dir, 'work');
  const forceLog = join(dir, 'force-pushes.log');
  await mkdir(repos);
  await mkdir(work);
  const backend = join(await git(dir, ['--exec-path']), 'git-http-backend');

  let pushes = 0;
  const pushSpans: { repo: string; start: number; end: number }[] = [];
  let unauthorized = 0;
  const authUsers = new Set<string>();
  let holding: { parked: number; released: Promise<void> } | undefined;

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  };
  const server = tls ? createHttpsServer(tls, listener) : createServer(listener);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (holding) {
      holding.parked += 1;
      await holding.released;
    }
    const credentials = basicAuth(req.headers.authorization);
    if (!credentials || credentials.password !== token) {
      unauthorized += 1;
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' });
      res.end('authentication required\n');
      return;
    }
    authUsers.add(credentials.user);
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (!/^\/([A-Za-z0-9._-]+\/)?[A-Za-z0-9._-]+\.git\//.test(url.pathname)) {
      req.resume();
      res.writeHead(404);
      res.end('not found\n');
      return;
    }
    const isPush = req.method === 'POST' && url.pathname.endsWith('/git-receive-pack');
    const pushStart = performance.now();
    const env: Record<string, string> = {
      ...gitEnv(),
      GIT_PROJECT_ROOT: repos,
      GIT_HTTP_EXPORT_ALL: '1',
      DAG_TEST_FORCE_LOG: forceLog,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      REQUEST_METHOD: req.method ?? 'GET',
      REMOTE_USER: credentials.user,
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
    };
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    const encoding = req.headers['content-encoding'];
    if (encoding) env.HTTP_CONTENT_ENCODING = encoding;
    const protocol = req.headers['git-protocol'];
    if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;

    const child = spawn(backend, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    req.pipe(child.stdin);
    child.stdin.on('error', () => {});
    child.stderr.resume();
    let head = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) return;
      headersDone = true;
      const { status, headers } = parseCgiHeaders(head.subarray(0, end.start).toString('latin1'));
      if (isPush && status === 200) pushes += 1;
      res.writeHead(status, headers);
      res.write(head.subarray(end.bodyStart));
    });
    await new Promise<void>((resolve) => {
      child.on('close', () => {
        if (!headersDone) res.writeHead(502);
        res.end();
        if (isPush) {
          const repo = url.pathname.replace(/\.git\/git-receive-pack$/, '').replace(/^\//, '');
          pushSpans.push({ repo, start: pushStart, end: performance.now() });
        }
        resolve();
      });
      child.on('error', () => resolve());
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const bare = (name: string): string => join(repos, `${name}.git`);
  let workCount = 0;

  return {
    dir,
    url: (name) => `${tls ? 'https' : 'http'}://127.0.0.1:${port}/${name}.git`,
    get pushes() {
      return pushes;
    },
    get pushSpans() {
      return pushSpans;
    },
    get forcePushes() {
      let text = '';
      try {
        text = readFileSync(forceLog, 'utf8');
      } catch {
        // no force push yet: the hook creates the file on the first one
      }
      return text.split('\n').filter(Boolean).length;
    },
    get unauthorized() {
      return unauthorized;
    },
    authUsers,

    async createRepo(name, { defaultBranch = 'main', files, dagBranches = false } = {}) {
      const path = bare(name);
      await git(repos, ['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, path]);
      // With dagBranches the hook alone guards everything but `dag/` branches.
      for (const [key, value] of [
        ['http.receivepack', 'true'],
        ['receive.denyNonFastForwards', String(!dagBranches)],
        ['receive.denyDeletes', String(!dagBranches)],
        ['dagtest.dagbranches', String(dagBranches)],
      ] as const) {
        await git(path, ['config', key, value]);
      }
      const hook = join(path, 'hooks', 'pre-receive');
      await writeFile(hook, PRE_RECEIVE);
      await chmod(hook, 0o755);
      if (!files) return;
      // Build the first commit without a work tree: blobs into a private index, then a tree.
      const index = join(dir, `index-${name.replace('/', '_')}`);
      for (const [file, content] of Object.entries(files)) {
        const blob = await git(path, ['hash-object', '-w', '--stdin'], { input: content });
        await git(path, ['update-index', '--add', '--cacheinfo', `100644,${blob},${file}`], {
          env: { GIT_INDEX_FILE: index },
        });
      }
      const tree = await git(path, ['write-tree'], { env: { GIT_INDEX_FILE: index } });
      const commit = await git(path, ['commit-tree', tree, '-m', 'initial commit'], {
        env: humanEnv(),
      });
      await git(path, ['update-ref', `refs/heads/${defaultBranch}`, commit]);
      await rm(index, { force: true });
    },

    async commitOutside(name, branch, path, content, message) {
      workCount += 1;
      const clone = join(work, `${name.replace('/', '_')}-${workCount}`);
      await git(work, [
        'clone',
        '--quiet',
        '--single-branch',
        `--branch=${branch}`,
        bare(name),
        clone,
      ]);
      const file = join(clone, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, content);
      await git(clone, ['add', '--', path]);
      await git(clone, ['commit', '--quiet', '-m', message], { env: humanEnv() });
      // Another writer may land in between: integrate it like a person would, never force.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await git(clone, ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
          break;
        } catch (error) {
          if (attempt >= 20) throw error;
          await git(clone, ['pull', '--quiet', '--rebase', 'origin', branch], {
            env: humanEnv(),
          });
        }
      }
      const sha = await git(clone, ['rev-parse', 'HEAD']);
      await rm(clone, { recursive: true, force: true });
      return sha;
    },

    async log(name, branch) {
      const out = await git(bare(name), ['log', '--format=%s', branch, '--']);
      return out === '' ? [] : out.split('\n');
    },

    async files(name, branch) {
      const list = await git(bare(name), ['ls-tree', '-r', '-z', '--name-only', branch]);
      const files: Record<string, string> = {};
      for (const file of list.split('\0').filter(Boolean)) {
        files[file] = await git(bare(name), ['show', `${branch}:${file}`], { raw: true });
      }
      return files;
    },

    head: (name, branch) => git(bare(name), ['rev-parse', `refs/heads/${branch}`]),

    git: (name, args) => git(bare(name), args),

    hold() {
      let release = () => {};
      const state = { parked: 0, released: new Promise<void>((r) => (release = r)) };
      holding = state;
      return {
        get parked() {
          return state.parked;
        },
        release() {
          if (holding === state) holding = undefined;
          release();
        },
      };
    },

    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Environment for every git process the helper runs: no user or system configuration. */
function gitEnv(): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: tmpdir(),
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };
}

function humanEnv(): Record<string, string> {
  return {
    GIT_AUTHOR_NAME: HUMAN.name,
    GIT_AUTHOR_EMAIL: HUMAN.email,
    GIT_COMMITTER_NAME: HUMAN.name,
    GIT_COMMITTER_EMAIL: HUMAN.email,
  };
}

function git(
  cwd: string,
  args: string[],
  options: { env?: Record<string, string>; input?: string; raw?: boolean } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd, env: { ...gitEnv(), ...options.env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`git ${args.join(' ')} failed: ${stderr || error.message}`));
          return;
        }
        resolve(options.raw ? stdout : stdout.trim());
      },
    );
    child.stdin?.on('error', () => {}); // git may exit without reading its input
    child.stdin?.end(options.input ?? '');
  });
}

function basicAuth(header: string | undefined): { user: string; password: string } | null {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match?.[1]) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function headerEnd(buffer: Buffer): { start: number; bodyStart: number } | null {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { start: crlf, bodyStart: crlf + 4 };
  if (lf >= 0) return { start: lf, bodyStart: lf + 2 };
  return null;
}

function parseCgiHeaders(text: string): { status: number; headers: Record<string, string> } {
  let status = 200;
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 200;
    else headers[name] = value;
  }
  return { status, headers };
}
