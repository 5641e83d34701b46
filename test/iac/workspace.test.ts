import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, TransientError, UserError } from '../../src/errors.ts';
import { runGit } from '../../src/iac/git.ts';
import { gitOperation, observedGit } from '../../src/iac/observed-git.ts';
import { IacWorkspace, type IacChange } from '../../src/iac/workspace.ts';
import {
  BOT,
  SEED,
  captureLog,
  gitServerForSuite,
  leakForms,
  readTree,
  repoName,
  spiedWorkspace,
  tempDir,
} from './support.ts';

const TOKEN = 'dag-test-token-5f3a9c1e7b2d';

const suite = gitServerForSuite(TOKEN);

async function seededRepo(prefix: string, defaultBranch = 'main'): Promise<string> {
  const name = repoName(prefix);
  await suite.server.createRepo(name, { defaultBranch, files: SEED });
  return name;
}

/** The clone directories in a cache (git's empty HOME, `.git-home`, is not one). */
const clones = async (cacheDir: string): Promise<string[]> =>
  (await readdir(cacheDir)).filter((entry) => entry !== '.git-home');

const target = (name: string, branch: string | null = 'main') => ({
  url: suite.server.url(name),
  token: TOKEN,
  branch,
});
const change = (path: string, files: Record<string, string>, message = `deploy ${path}`) => ({
  path,
  files,
  message,
});

describe('IacWorkspace.apply', () => {
  it('clones on first use and commits the change as the bot', async () => {
    const name = await seededRepo('first');
    const { ws, cacheDir, commands } = await spiedWorkspace();
    const result = await ws.apply(
      target(name),
      [change('apps/c', { 'deployment.yaml': 'kind: Deployment # c\n' }, 'deploy c 1.0.0')],
      { author: BOT },
    );

    expect(result).toMatchObject({ branch: 'main', pushed: true, attempts: 1 });
    expect(result.commits).toEqual([{ message: 'deploy c 1.0.0', sha: result.head }]);
    expect(await suite.server.head(name, 'main')).toBe(result.head);
    expect(await suite.server.log(name, 'main')).toEqual(['deploy c 1.0.0', 'initial commit']);
    expect(commands()).toContain('clone');
    expect(commands()).not.toContain('fetch');
    expect(await clones(cacheDir)).toHaveLength(1);
    const who = await suite.server.git(name, ['log', '-1', '--format=%an|%ae|%cn|%ce', 'main']);
    expect(who).toBe(`${BOT.name}|${BOT.email}|${BOT.name}|${BOT.email}`);
    expect(suite.server.authUsers.has('x-access-token')).toBe(true);
  });

  it('fetches incrementally afterwards instead of cloning again', async () => {
    const name = await seededRepo('incremental');
    const { ws, cacheDir, calls, commands } = await spiedWorkspace();
    await ws.apply(target(name), [change('apps/c', { 'a.yaml': '1\n' })], { author: BOT });
    const [dir] = await clones(cacheDir);
    const marker = join(cacheDir, dir ?? '', '.git', 'dag-test-marker');
    await writeFile(marker, 'still the same clone');
    await suite.server.commitOutside(name, 'main', 'apps/b/extra.yaml', 'x: 1\n', 'human edit');

    calls.length = 0;
    const second = await ws.apply(target(name), [change('apps/c', { 'a.yaml': '2\n' })], {
      author: BOT,
    });

    expect(commands()).not.toContain('clone');
    // A writer replaces whole folders and stages only its own: no `clean` before it writes.
    expect(commands()).toEqual([
      'fetch',
      'checkout',
      'rev-parse',
      'add',
      'write-tree',
      'commit-tree',
      'push',
    ]);
    expect(existsSync(marker)).toBe(true);
    expect(await clones(cacheDir)).toEqual([dir]);
    expect(second.attempts).toBe(1);
    expect(await suite.server.log(name, 'main')).toEqual([
      'deploy apps/c',
      'human edit',
      'deploy apps/c',
      'initial commit',
    ]);
  });

  it("logs a job's work to the job's logger, on the same clone", async () => {
    const name = await seededRepo('job-log');
    const { ws, cacheDir, lines } = await spiedWorkspace();
    await ws.apply(target(name), [change('apps/c', { 'a.yaml': '1\n' })], { author: BOT });
    const job = captureLog();
    const forJob = ws.withLog(job.log.child({ jobId: 'job-1', deliveryId: 'delivery-1' }));
    await forJob.apply(target(name), [change('apps/c', { 'a.yaml': '2\n' })], { author: BOT });

    expect(await clones(cacheDir)).toHaveLength(1);
    expect(job.lines.length).toBeGreaterThan(0);
    for (const line of job.lines) {
      expect(JSON.parse(line)).toMatchObject({ jobId: 'job-1', deliveryId: 'delivery-1' });
    }
    expect(job.lines.some((l) => l.includes('pushed to the IAC repository'))).toBe(true);
    expect(lines.filter((l) => l.includes('job-1'))).toEqual([]);
  });

  it('reports every git command to an observer: subcommand, outcome, duration', async () => {
    const name = await seededRepo('observed');
    const seen: { operation: string; outcome: string; seconds: number }[] = [];
    const ws = await IacWorkspace.create({
      cacheDir: await tempDir('dag-iac-cache-'),
      log: captureLog().log,
      git: observedGit(runGit, (operation, outcome, seconds) =>
        seen.push({ operation, outcome, seconds }),
      ),
    });
    await ws.apply(target(name), [change('apps/c', { 'a.yaml': '1\n' })], { author: BOT });
    const wrong = { ...target(name), token: 'not-the-token' };
    await ws.read(wrong, 'apps/c').catch(() => undefined);

    const ops = seen.map((s) => `${s.operation}:${s.outcome}`);
    expect(ops).toContain('clone:success');
    expect(ops).toContain('commit-tree:success');
    expect(ops).toContain('push:success');
    expect(ops.filter((o) => o.endsWith(':auth')).length).toBeGreaterThan(0);
    expect(seen.every((s) => s.seconds >= 0 && s.seconds < 120)).toBe(true);
    // The label is a known subcommand or `other`: never an argument (a URL, a branch).
    expect(gitOperation(['fetch', '--no-tags', 'origin'])).toBe('fetch');
    expect(gitOperation(['--no-pager', 'push'])).toBe('push');
    expect(gitOperation(['https://example.com/x.git'])).toBe('other');
  });

  it('replaces the folder: stale files go, files outside stay untouched', async () => {
    const name = await seededRepo('replace');
    const { ws } = await spiedWorkspace();
    await ws.apply(
      target(name),
      [
        change('apps/a', {
          'deployment.yaml': 'kind: Deployment # v2\n',
          'sub/dir/service.yaml': 'kind: Service\n',
        }),
      ],
      { author: BOT },
    );

    expect(await suite.server.files(name, 'main')).toEqual({
      'README.md': '# infra\n',
      'apps/a/deployment.yaml': 'kind: Deployment # v2\n',
      'apps/a/sub/dir/service.yaml': 'kind: Service\n',
      'apps/b/deployment.yaml': 'kind: Deployment # b\n',
    });
  });

  it('makes no commit and no push when the folder already holds these files', async () => {
    const name = await seededRepo('noop');
    const { ws, commands } = await spiedWorkspace();
    const same = change('apps/a', {
      'deployment.yaml': SEED['apps/a/deployment.yaml'],
      'stale.yaml': SEED['apps/a/stale.yaml'],
    });
    const pushesBefore = suite.server.pushes;
    const headBefore = await suite.server.head(name, 'main');

    const result = await ws.apply(target(name), [same], { author: BOT });

    expect(result).toEqual({
      branch: 'main',
      commits: [{ message: same.message, sha: null }],
      head: headBefore,
      pushed: false,
      attempts: 1,
    });
    expect(suite.server.pushes).toBe(pushesBefore);
    expect(commands()).not.toContain('commit');
    expect(commands()).not.toContain('push');
    expect(await suite.server.log(name, 'main')).toEqual(['initial commit']);
  });

  it('makes one commit per change and pushes them once', async () => {
    const name = await seededRepo('several');
    const { ws, commands } = await spiedWorkspace();
    const pushesBefore = suite.server.pushes;

    const result = await ws.apply(
      target(name),
      [
        change('apps/a', { 'deployment.yaml': 'v2\n' }, 'deploy a 2'),
        change('apps/b', { 'deployment.yaml': SEED['apps/b/deployment.yaml'] }, 'deploy b again'),
        change('apps/c', { 'deployment.yaml': 'c\n' }, 'deploy c 1'),
      ],
      { author: BOT },
    );

    expect(result.pushed).toBe(true);
    expect(result.commits.map((c) => [c.message, c.sha === null])).toEqual([
      ['deploy a 2', false],
      ['deploy b again', true],
      ['deploy c 1', false],
    ]);
    expect(result.commits[2]?.sha).toBe(result.head);
    expect(suite.server.pushes).toBe(pushesBefore + 1);
    expect(commands().filter((c) => c === 'push')).toHaveLength(1);
    expect(await suite.server.log(name, 'main')).toEqual([
      'deploy c 1',
      'deploy a 2',
      'initial commit',
    ]);
    const parent = await suite.server.git(name, ['rev-parse', `${result.head}^`]);
    expect(parent).toBe(result.commits[0]?.sha);
  });

  it("uses the remote's default branch when the branch is null", async () => {
    const name = await seededRepo('default', 'trunk');
    const { ws } = await spiedWorkspace();
    const result = await ws.apply(target(name, null), [change('apps/c', { 'x.yaml': 'x\n' })], {
      author: BOT,
    });
    expect(result.branch).toBe('trunk');
    expect(await suite.server.log(name, 'trunk')).toEqual(['deploy apps/c', 'initial commit']);
    // and again, from the cache
    const again = await ws.apply(target(name, null), [change('apps/c', { 'x.yaml': 'y\n' })], {
      author: BOT,
    });
    expect(again).toMatchObject({ branch: 'trunk', pushed: true });
  });

  it('starts the branch in an empty repository', async () => {
    const name = repoName('empty');
    await suite.server.createRepo(name);
    const other = repoName('empty-prod');
    await suite.server.createRepo(other);
    const { ws } = await spiedWorkspace();

    const a = await ws.apply(target(name, null), [change('apps/c', { 'x.yaml': 'x\n' })], {
      author: BOT,
    });
    const b = await ws.apply(target(other, 'prod'), [change('apps/c', { 'x.yaml': 'x\n' })], {
      author: BOT,
    });

    expect(a).toMatchObject({ branch: 'main', pushed: true });
    expect(b).toMatchObject({ branch: 'prod', pushed: true });
    expect(await suite.server.files(other, 'prod')).toEqual({ 'apps/c/x.yaml': 'x\n' });
  });

  it('reports a missing branch of a non-empty repository as a configuration error', async () => {
    const name = await seededRepo('nobranch');
    const { ws } = await spiedWorkspace();
    const error = await ws
      .apply(target(name, 'staging'), [change('apps/c', { 'x.yaml': 'x\n' })], { author: BOT })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe('branch "staging" does not exist in the IAC repository');
  });

  it('integrates a commit that lands between its fetch and its push, without forcing', async () => {
    const name = await seededRepo('between');
    let landed = false;
    let retries = 0;
    const { ws, commands, lines } = await spiedWorkspace({
      onPushRetry: () => retries++,
      before: async (args) => {
        if (args[0] === 'push' && !landed) {
          landed = true;
          await suite.server.commitOutside(
            name,
            'main',
            'apps/a/hotfix.yaml',
            'h\n',
            'human hotfix',
          );
        }
      },
    });

    const result = await ws.apply(
      target(name),
      [change('apps/b', { 'deployment.yaml': 'b2\n' }), change('apps/c', { 'c.yaml': 'c\n' })],
      { author: BOT, backoffMs: 10 },
    );

    expect(result).toMatchObject({ pushed: true, attempts: 2 });
    expect(commands().filter((c) => c === 'push')).toHaveLength(2);
    expect(retries).toBe(1);
    expect(lines.filter((l) => l.includes('moved under DAG'))).toHaveLength(1);
    expect(await suite.server.log(name, 'main')).toEqual([
      'deploy apps/c',
      'deploy apps/b',
      'human hotfix',
      'initial commit',
    ]);
    expect((await suite.server.files(name, 'main'))['apps/a/hotfix.yaml']).toBe('h\n');
    expect(suite.server.forcePushes).toBe(0);
  });

  it('gives up with a TransientError after maxAttempts when the branch keeps moving', async () => {
    const name = await seededRepo('moving');
    let n = 0;
    let retries = 0;
    const { ws } = await spiedWorkspace({
      onPushRetry: () => retries++,
      before: async (args) => {
        if (args[0] === 'push') {
          n += 1;
          await suite.server.commitOutside(name, 'main', `human/${n}.txt`, `${n}\n`, `human ${n}`);
        }
      },
    });
    const error = await ws
      .apply(target(name), [change('apps/c', { 'c.yaml': 'c\n' })], {
        author: BOT,
        maxAttempts: 3,
        backoffMs: 1,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/kept moving.*gave up after 3 attempts/);
    expect(n).toBe(3);
    expect(retries).toBe(2); // tried again twice; the third refusal gave up
    expect(suite.server.forcePushes).toBe(0);
    expect(await suite.server.log(name, 'main')).not.toContain('deploy apps/c');
  });

  it('serializes concurrent applies on one clone inside the process', async () => {
    const name = await seededRepo('serial');
    const { ws } = await spiedWorkspace();
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        ws.apply(target(name), [change(`apps/s${i}`, { 'x.yaml': `${i}\n` })], { author: BOT }),
      ),
    );
    // Each apply ran on the tip the previous one pushed: no push was ever rejected.
    expect(results.map((r) => r.attempts)).toEqual([1, 1, 1, 1, 1]);
    const log = await suite.server.log(name, 'main');
    expect(log).toHaveLength(6);
    for (let i = 1; i <= 5; i++) expect(log).toContain(`deploy apps/s${i}`);
  });

  // 20 racing writers take 40–55 s on an idle 2-core machine (each lost race refetches and
  // rebuilds): the limit only bounds a hang, it asserts no speed.
  it('loses nothing when 20 replicas and a human push to one branch at once', async () => {
    const name = await seededRepo('race');
    const replicas = await Promise.all(Array.from({ length: 20 }, () => spiedWorkspace()));
    // Let every replica clone first, so all of them really race on their pushes.
    await Promise.all(replicas.map(({ ws }) => ws.read(target(name), 'apps/a')));
    const started = Date.now();
    const [results, humanSha] = await Promise.all([
      Promise.all(
        replicas.map(({ ws }, i) =>
          ws.apply(
            target(name),
            [change(`apps/app-${i}`, { 'deployment.yaml': `app: ${i}\n` }, `deploy app-${i}`)],
            { author: BOT, maxAttempts: 40, backoffMs: 25 },
          ),
        ),
      ),
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return suite.server.commitOutside(name, 'main', 'apps/a/human.yaml', 'h\n', 'human edit');
      })(),
    ]);
    const elapsed = Date.now() - started;

    expect(results.every((r) => r.pushed)).toBe(true);
    const log = await suite.server.log(name, 'main');
    expect(log).toHaveLength(22);
    expect(log).toContain('human edit');
    for (let i = 0; i < 20; i++) expect(log).toContain(`deploy app-${i}`);
    const files = await suite.server.files(name, 'main');
    for (let i = 0; i < 20; i++) expect(files[`apps/app-${i}/deployment.yaml`]).toBe(`app: ${i}\n`);
    expect(files['apps/a/human.yaml']).toBe('h\n');
    expect(await suite.server.git(name, ['rev-list', '--count', '--merges', 'main'])).toBe('0');
    expect(await suite.server.git(name, ['rev-parse', `main~21`])).toBe(
      await suite.server.git(name, ['rev-list', '--max-parents=0', 'main']),
    );
    expect(humanSha).toMatch(/^[0-9a-f]{40}$/);
    expect(suite.server.forcePushes).toBe(0);
    const attempts = results.map((r) => r.attempts);
    console.log(
      `race: ${elapsed} ms, push attempts total ${attempts.reduce((a, b) => a + b, 0)}, max ${Math.max(...attempts)}`,
    );
  }, 240_000);
});

describe('IacWorkspace.read', () => {
  it('returns the files of a folder at the remote tip', async () => {
    const name = await seededRepo('read');
    const { ws } = await spiedWorkspace();
    expect(await ws.read(target(name), 'apps/a')).toEqual({
      branch: 'main',
      head: await suite.server.head(name, 'main'),
      files: { 'deployment.yaml': 'kind: Deployment\n', 'stale.yaml': 'kind: ConfigMap\n' },
    });
    await suite.server.commitOutside(
      name,
      'main',
      'apps/a/sub/new.yaml',
      'n\n',
      'human adds a file',
    );
    const after = await ws.read(target(name), 'apps/a/');
    expect(after.head).toBe(await suite.server.head(name, 'main'));
    expect(after.files['sub/new.yaml']).toBe('n\n');
    expect((await ws.read(target(name), 'apps/none')).files).toEqual({});
  });
});

describe('IacWorkspace credentials', () => {
  it('rejects a wrong token with a ConfigError that leaks it nowhere', async () => {
    const name = await seededRepo('badtoken');
    const wrong = 'wrong-token-9d8c7b6a5f4e';
    const { ws, lines, cacheDir } = await spiedWorkspace();
    const error = await ws
      .apply({ ...target(name), token: wrong }, [change('apps/c', { 'x.yaml': 'x\n' })], {
        author: BOT,
      })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      "the IAC repository rejected DAG's token (check the token and its scopes)",
    );
    const cause = (error as Error).cause;
    const everything = [
      (error as Error).message,
      (error as Error).stack ?? '',
      String(cause),
      JSON.stringify(cause),
      ...lines,
    ].join('\n');
    for (const form of [...leakForms(wrong), ...leakForms(TOKEN)]) {
      expect(everything).not.toContain(form);
    }
    expect(lines.length).toBeGreaterThan(0);
    expect(await clones(cacheDir)).toEqual([]); // the failed clone left nothing behind
  });

  it('keeps the token out of argv, .git/config, every cached file and every log line', async () => {
    const name = await seededRepo('secret');
    const { ws, calls, lines, cacheDir } = await spiedWorkspace();
    await ws.apply(target(name), [change('apps/c', { 'x.yaml': 'x\n' })], { author: BOT });
    await suite.server.commitOutside(name, 'main', 'apps/b/h.yaml', 'h\n', 'human');
    await ws.apply(target(name), [change('apps/c', { 'x.yaml': 'y\n' })], { author: BOT });
    await ws.read(target(name), 'apps/c');

    const forms = leakForms(TOKEN);
    for (const call of calls) {
      for (const arg of call.args) for (const form of forms) expect(arg).not.toContain(form);
    }
    expect(calls.every((c) => c.options.token === TOKEN)).toBe(true);
    const [dir] = await clones(cacheDir);
    const config = await readFile(join(cacheDir, dir ?? '', '.git', 'config'), 'utf8');
    expect(config).toContain(`url = ${suite.server.url(name)}`);
    const tree = await readTree(cacheDir);
    expect(tree.size).toBeGreaterThan(10);
    for (const [, content] of tree) for (const form of forms) expect(content).not.toContain(form);
    for (const line of lines) for (const form of forms) expect(line).not.toContain(form);
    expect(await readdir(join(cacheDir, '.git-home'))).toEqual([]); // git's HOME stays empty
  });

  it('strips credentials from the URL and uses them as the token', async () => {
    const name = await seededRepo('urlcreds');
    const { ws, cacheDir, calls } = await spiedWorkspace();
    const url = suite.server.url(name).replace('http://', `http://someone:${TOKEN}@`);
    const result = await ws.apply(
      { url, token: null, branch: 'main' },
      [change('apps/c', { 'x.yaml': 'x\n' })],
      { author: BOT },
    );
    expect(result.pushed).toBe(true);
    expect(calls.every((c) => !c.args.some((a) => a.includes(TOKEN)))).toBe(true);
    expect(calls.every((c) => c.options.user === 'someone')).toBe(true);
    for (const [, content] of await readTree(cacheDir)) expect(content).not.toContain(TOKEN);
  });
});

describe('IacWorkspace failures', () => {
  let silent: Server;
  const sockets = new Set<Socket>();
  let silentPort = 0;
  let closedPort = 0;
  beforeAll(async () => {
    // Accepts connections and never answers: a hung suite.server.
    silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as AddressInfo).port;
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => silent?.close(() => resolve()));
  });

  it('reports an unreachable server as a TransientError', async () => {
    const { ws } = await spiedWorkspace();
    const error = await ws
      .apply(
        { url: `http://127.0.0.1:${closedPort}/iac.git`, token: TOKEN, branch: 'main' },
        [change('apps/c', { 'x.yaml': 'x\n' })],
        { author: BOT },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/the IAC repository is unreachable/);
  });

  it('reports a server that never answers as a TransientError after the timeout', async () => {
    const { ws } = await spiedWorkspace({ timeoutMs: 1_000 });
    const started = Date.now();
    const error = await ws
      .read({ url: `http://127.0.0.1:${silentPort}/iac.git`, token: TOKEN, branch: 'main' }, 'a')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientError);
    expect((error as Error).message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports a repository that does not exist as a ConfigError', async () => {
    const { ws } = await spiedWorkspace();
    const error = await ws.read(target('does-not-exist'), 'apps/a').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/IAC repository was not found/);
  });

  it('refuses invalid change paths before running git', async () => {
    const name = await seededRepo('paths');
    const { ws, calls } = await spiedWorkspace();
    const bad: IacChange[] = [
      change('', { 'a.yaml': 'a' }),
      change('/', { 'a.yaml': 'a' }),
      change('.', { 'a.yaml': 'a' }),
      change('./', { 'a.yaml': 'a' }),
      change('/etc', { 'a.yaml': 'a' }),
      change('../outside', { 'a.yaml': 'a' }),
      change('apps/../../outside', { 'a.yaml': 'a' }),
      change('apps//a', { 'a.yaml': 'a' }),
      change('apps/.git/hooks', { 'a.yaml': 'a' }),
      change('.GIT', { 'a.yaml': 'a' }),
      change('apps/a', { '../b/x.yaml': 'a' }),
      change('apps/a', { '/etc/passwd': 'a' }),
      change('apps/a', { 'sub/../../x': 'a' }),
      change('apps/a', { '.git/config': 'a' }),
      change('apps/a', { 'x\\y': 'a' }),
      change('apps/a', { x: 'a', 'x/y': 'b' }),
      change('apps/a', { 'x.yaml': 'a' }, '  '),
    ];
    for (const c of bad) {
      await expect(ws.apply(target(name), [c], { author: BOT })).rejects.toBeInstanceOf(UserError);
    }
    await expect(ws.read(target(name), '../x')).rejects.toBeInstanceOf(UserError);
    await expect(
      ws.apply(target(name), [change('apps/a', {})], { author: { name: '', email: 'x@y' } }),
    ).rejects.toBeInstanceOf(UserError);
    expect(calls).toEqual([]);
    expect(await suite.server.log(name, 'main')).toEqual(['initial commit']);
  });

  it('deletes a folder when a change renders no files', async () => {
    const name = await seededRepo('delete');
    const { ws } = await spiedWorkspace();
    const result = await ws.apply(target(name), [change('apps/a', {}, 'remove a')], {
      author: BOT,
    });
    expect(result.pushed).toBe(true);
    expect(Object.keys(await suite.server.files(name, 'main')).sort()).toEqual([
      'README.md',
      'apps/b/deployment.yaml',
    ]);
  });
});
