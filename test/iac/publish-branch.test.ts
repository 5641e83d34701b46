import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/errors.ts';
import { runGit } from '../../src/iac/git.ts';
import type { IacWorkspace } from '../../src/iac/workspace.ts';
import {
  BOT,
  SEED,
  gitServerForSuite,
  leakForms,
  repoName,
  spiedWorkspace,
  type GitCall,
} from './support.ts';

const TOKEN = 'dag-test-token-0b1c2d3e4f5a';
const HEAD = 'dag/promote/my-app/staging-to-production';

const suite = gitServerForSuite(TOKEN);

async function seededRepo(prefix: string): Promise<string> {
  const name = repoName(prefix);
  // DAG may rewrite and delete its own `dag/` branches only; the base branch still refuses (and
  // records, in suite.server.forcePushes) any force push.
  await suite.server.createRepo(name, { files: SEED, dagBranches: true });
  return name;
}

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
const CHANGES = [
  change('apps/a', { 'deployment.yaml': 'kind: Deployment # v2\n' }),
  change('apps/c', { 'x.yaml': 'x\n' }),
];
const FILES = [
  { path: 'apps/a/deployment.yaml', change: 'modified' },
  { path: 'apps/a/stale.yaml', change: 'deleted' },
  { path: 'apps/c/x.yaml', change: 'added' },
];

/** DAG's first publish of CHANGES as a new branch; the test stops unless it pushed. */
async function publishFirst(ws: IacWorkspace, name: string) {
  const first = await ws.publishBranch(target(name), HEAD, CHANGES, {
    author: BOT,
    expectedHead: null,
  });
  if (first.status !== 'pushed') throw new Error(`unexpected ${first.status}`);
  return first;
}

/** The remote branch's commit, or null when it does not exist. */
async function remoteHead(name: string, branch = HEAD): Promise<string | null> {
  const out = await suite.server.git(name, [
    'for-each-ref',
    '--format=%(objectname)',
    `refs/heads/${branch}`,
  ]);
  return out === '' ? null : out;
}

const pushes = (calls: GitCall[]): string[][] =>
  calls.filter((c) => c.args[0] === 'push').map((c) => c.args);

/** The only clone in a cache (git's empty HOME, `.git-home`, is not one). */
async function onlyClone(cacheDir: string): Promise<string> {
  const dirs = (await readdir(cacheDir)).filter((entry) => entry !== '.git-home');
  expect(dirs).toHaveLength(1);
  return join(cacheDir, dirs[0] ?? '');
}

const gitIn = async (dir: string, args: string[]): Promise<string> =>
  (await runGit(args, { cwd: dir, timeoutMs: 10_000 })).stdout.trim();

describe('IacWorkspace.publishBranch', () => {
  it('creates the branch as one commit by the bot on the base tip, leaving the base alone', async () => {
    const name = await seededRepo('first');
    const base = await suite.server.head(name, 'main');
    const { ws, calls } = await spiedWorkspace();

    const result = await ws.publishBranch(target(name), HEAD, CHANGES, {
      author: BOT,
      expectedHead: null,
    });

    const head = await remoteHead(name);
    expect(result).toEqual({ status: 'pushed', base, head, files: FILES });
    expect(await suite.server.git(name, ['rev-parse', `${head}^@`])).toBe(base);
    expect(await suite.server.git(name, ['log', '-1', '--format=%an|%ae|%cn|%ce%n%B', HEAD])).toBe(
      `${BOT.name}|${BOT.email}|${BOT.name}|${BOT.email}\ndeploy apps/a\n\ndeploy apps/c`,
    );
    expect(await suite.server.files(name, HEAD)).toEqual({
      'README.md': '# infra\n',
      'apps/a/deployment.yaml': 'kind: Deployment # v2\n',
      'apps/b/deployment.yaml': 'kind: Deployment # b\n',
      'apps/c/x.yaml': 'x\n',
    });
    expect(await suite.server.head(name, 'main')).toBe(base);
    expect(await suite.server.log(name, 'main')).toEqual(['initial commit']);
    expect(pushes(calls)).toEqual([
      [
        'push',
        '--porcelain',
        `--force-with-lease=refs/heads/${HEAD}:`,
        'origin',
        `${head}:refs/heads/${HEAD}`,
      ],
    ]);
    expect(suite.server.forcePushes).toBe(0);
  });

  it('pushes nothing when the branch already is exactly that commit', async () => {
    const name = await seededRepo('again');
    const { ws, calls, commands } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    const pushesBefore = suite.server.pushes;
    calls.length = 0;

    const again = await ws.publishBranch(target(name), HEAD, CHANGES, {
      author: BOT,
      expectedHead: first.head,
    });

    expect(again).toEqual({ ...first, status: 'up-to-date' });
    expect(commands()).not.toContain('push');
    expect(suite.server.pushes).toBe(pushesBefore);
    expect(await remoteHead(name)).toBe(first.head);
  });

  it('rebuilds the branch on a moved base tip, leased on its previous commit', async () => {
    const name = await seededRepo('rebuild');
    const { ws, calls } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    const tip = await suite.server.commitOutside(
      name,
      'main',
      'apps/b/hotfix.yaml',
      'h\n',
      'hotfix',
    );
    calls.length = 0;

    const second = await ws.publishBranch(target(name), HEAD, CHANGES, {
      author: BOT,
      expectedHead: first.head,
    });

    const head = await remoteHead(name);
    expect(second).toEqual({ status: 'pushed', base: tip, head, files: FILES });
    expect(head).not.toBe(first.head);
    expect(await suite.server.git(name, ['rev-parse', `${head}^@`])).toBe(tip);
    expect(await suite.server.git(name, ['rev-list', '--count', `main..${HEAD}`])).toBe('1');
    expect((await suite.server.git(name, ['rev-list', HEAD])).split('\n')).not.toContain(
      first.head,
    );
    expect((await suite.server.files(name, HEAD))['apps/b/hotfix.yaml']).toBe('h\n');
    expect(pushes(calls)).toEqual([
      [
        'push',
        '--porcelain',
        `--force-with-lease=refs/heads/${HEAD}:${first.head}`,
        'origin',
        `${head}:refs/heads/${HEAD}`,
      ],
    ]);
    expect(await suite.server.head(name, 'main')).toBe(tip);
    expect(suite.server.forcePushes).toBe(0);
  });

  it('leaves a branch alone that a person pushed a commit to', async () => {
    const name = await seededRepo('foreign');
    const { ws, calls } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    const human = await suite.server.commitOutside(name, HEAD, 'apps/a/extra.yaml', 'e\n', 'tweak');
    calls.length = 0;

    const result = await ws.publishBranch(
      target(name),
      HEAD,
      [change('apps/a', { 'deployment.yaml': 'kind: Deployment # v3\n' })],
      { author: BOT, expectedHead: first.head },
    );

    expect(result).toEqual({ status: 'foreign', base: first.base, remoteHead: human });
    expect(pushes(calls)).toEqual([]);
    expect(await remoteHead(name)).toBe(human);
    expect(await suite.server.log(name, HEAD)).toEqual([
      'tweak',
      'deploy apps/a',
      'initial commit',
    ]);
  });

  it('treats an existing branch as foreign when DAG expects none or another commit', async () => {
    const name = await seededRepo('stale');
    const { ws, calls } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    calls.length = 0;

    for (const expectedHead of [null, first.base]) {
      const result = await ws.publishBranch(target(name), HEAD, CHANGES, {
        author: BOT,
        expectedHead,
      });
      expect(result).toEqual({ status: 'foreign', base: first.base, remoteHead: first.head });
    }
    expect(pushes(calls)).toEqual([]);
    expect(await remoteHead(name)).toBe(first.head);
  });

  it('returns foreign when a person pushes between its look and its push', async () => {
    const name = await seededRepo('race');
    let human: string | null = null;
    let land: (() => Promise<string>) | null = null;
    const { ws, commands } = await spiedWorkspace({
      before: async (args) => {
        if (args[0] === 'push' && land) {
          human = await land();
          land = null;
        }
      },
    });
    const first = await publishFirst(ws, name);

    land = () => suite.server.commitOutside(name, HEAD, 'apps/a/extra.yaml', 'e\n', 'tweak');
    const result = await ws.publishBranch(
      target(name),
      HEAD,
      [change('apps/a', { 'deployment.yaml': 'kind: Deployment # v3\n' })],
      { author: BOT, expectedHead: first.head },
    );

    expect(human).toMatch(/^[0-9a-f]{40}$/);
    expect(result).toEqual({ status: 'foreign', base: first.base, remoteHead: human });
    expect(await remoteHead(name)).toBe(human);
    expect(await suite.server.log(name, HEAD)).toEqual([
      'tweak',
      'deploy apps/a',
      'initial commit',
    ]);
    expect(commands().filter((c) => c === 'push')).toHaveLength(2);
  });

  it('returns foreign when a person creates the branch between its look and its push', async () => {
    const name = await seededRepo('race-create');
    const base = await suite.server.head(name, 'main');
    const { ws } = await spiedWorkspace({
      before: async (args) => {
        if (args[0] === 'push')
          await suite.server.git(name, ['update-ref', `refs/heads/${HEAD}`, base]);
      },
    });

    const result = await ws.publishBranch(target(name), HEAD, CHANGES, {
      author: BOT,
      expectedHead: null,
    });

    expect(result).toEqual({ status: 'foreign', base, remoteHead: base });
    expect(await remoteHead(name)).toBe(base);
  });

  it('recreates the branch when a person deleted it', async () => {
    const name = await seededRepo('recreate');
    const { ws } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    await suite.server.git(name, ['update-ref', '-d', `refs/heads/${HEAD}`]);

    const again = await ws.publishBranch(target(name), HEAD, CHANGES, {
      author: BOT,
      expectedHead: first.head,
    });

    expect(again).toMatchObject({ status: 'pushed', base: first.base, files: FILES });
    expect(await remoteHead(name)).toBe(again.status === 'pushed' ? again.head : '');
  });

  it('proposes nothing, and creates no branch, when the base already holds the folders', async () => {
    const name = await seededRepo('nothing');
    const base = await suite.server.head(name, 'main');
    const { ws, commands } = await spiedWorkspace();
    const pushesBefore = suite.server.pushes;

    const result = await ws.publishBranch(
      target(name),
      HEAD,
      [
        change('apps/a', {
          'deployment.yaml': SEED['apps/a/deployment.yaml'],
          'stale.yaml': SEED['apps/a/stale.yaml'],
        }),
        change('apps/none', {}),
      ],
      { author: BOT, expectedHead: null },
    );

    expect(result).toEqual({ status: 'nothing', base });
    expect(commands()).not.toContain('push');
    expect(suite.server.pushes).toBe(pushesBefore);
    expect(await remoteHead(name)).toBeNull();
  });

  it('lists added, modified and deleted files, folder deletions included', async () => {
    const name = await seededRepo('files');
    const { ws } = await spiedWorkspace();
    const result = await ws.publishBranch(
      target(name),
      HEAD,
      [
        change('apps/a', {}),
        change('apps/b', { 'deployment.yaml': 'kind: Deployment # b2\n' }),
        change('apps/new', { 'z.yaml': 'z\n', 'sub/a.yaml': 'a\n' }),
      ],
      { author: BOT, expectedHead: null },
    );

    expect(result).toMatchObject({
      status: 'pushed',
      files: [
        { path: 'apps/a/deployment.yaml', change: 'deleted' },
        { path: 'apps/a/stale.yaml', change: 'deleted' },
        { path: 'apps/b/deployment.yaml', change: 'modified' },
        { path: 'apps/new/sub/a.yaml', change: 'added' },
        { path: 'apps/new/z.yaml', change: 'added' },
      ],
    });
    expect(Object.keys(await suite.server.files(name, HEAD)).sort()).toEqual([
      'README.md',
      'apps/b/deployment.yaml',
      'apps/new/sub/a.yaml',
      'apps/new/z.yaml',
    ]);
  });

  it('leaves the clone of the base branch clean and at its tip for apply() and read()', async () => {
    const name = await seededRepo('clean');
    const { ws, cacheDir } = await spiedWorkspace();
    const base = await suite.server.head(name, 'main');
    const expectClean = async (): Promise<void> => {
      const dir = await onlyClone(cacheDir);
      expect(await gitIn(dir, ['status', '--porcelain', '--ignored'])).toBe('');
      expect(await gitIn(dir, ['symbolic-ref', 'HEAD'])).toBe('refs/heads/main');
      expect(await gitIn(dir, ['rev-parse', 'HEAD'])).toBe(await suite.server.head(name, 'main'));
      const refs = await gitIn(dir, ['for-each-ref', '--format=%(refname)']);
      expect(refs.split('\n')).toContain('refs/remotes/origin/main');
      expect(refs).not.toContain('dag/'); // nothing of DAG's branch is left behind
    };

    const first = await publishFirst(ws, name);
    await expectClean();
    await ws.publishBranch(target(name), HEAD, CHANGES, { author: BOT, expectedHead: first.head });
    await expectClean();
    await ws.publishBranch(target(name), HEAD, [change('apps/b', { 'deployment.yaml': 'x\n' })], {
      author: BOT,
      expectedHead: null,
    });
    await expectClean();

    const applied = await ws.apply(target(name), [change('apps/d', { 'd.yaml': 'd\n' })], {
      author: BOT,
    });
    expect(applied).toMatchObject({ branch: 'main', pushed: true, attempts: 1 });
    expect(await suite.server.log(name, 'main')).toEqual(['deploy apps/d', 'initial commit']);
    expect(await suite.server.git(name, ['rev-parse', 'main^'])).toBe(base);
    expect(await ws.read(target(name), 'apps/a')).toEqual({
      branch: 'main',
      head: applied.head,
      files: { 'deployment.yaml': 'kind: Deployment\n', 'stale.yaml': 'kind: ConfigMap\n' },
    });
    await expectClean();
  });

  it("uses the repository's default branch as the base when the target branch is null", async () => {
    const name = await seededRepo('default');
    const { ws } = await spiedWorkspace();
    const result = await ws.publishBranch(target(name, null), HEAD, CHANGES, {
      author: BOT,
      expectedHead: null,
    });
    expect(result).toMatchObject({ status: 'pushed', base: await suite.server.head(name, 'main') });
    await expect(
      ws.publishBranch(target(name, null), 'main', CHANGES, { author: BOT, expectedHead: null }),
    ).rejects.toThrow(`DAG's IAC branch "main" must differ from its base branch`);
  });

  it('refuses invalid input before running git', async () => {
    const name = await seededRepo('invalid');
    const { ws, calls } = await spiedWorkspace();
    const publish = (head: string, expectedHead: string | null, changes = CHANGES) =>
      ws.publishBranch(target(name), head, changes, { author: BOT, expectedHead });

    await expect(publish('main', null)).rejects.toBeInstanceOf(ConfigError);
    await expect(publish('-f', null)).rejects.toBeInstanceOf(ConfigError);
    await expect(publish('dag/a:refs/heads/main', null)).rejects.toBeInstanceOf(ConfigError);
    await expect(publish(HEAD, 'HEAD~1')).rejects.toBeInstanceOf(UserError);
    await expect(publish(HEAD, null, [change('../x', { 'a.yaml': 'a' })])).rejects.toBeInstanceOf(
      UserError,
    );
    await expect(
      ws.publishBranch(target(name), HEAD, CHANGES, {
        author: { name: '', email: 'x@y' },
        expectedHead: null,
      }),
    ).rejects.toBeInstanceOf(UserError);
    await expect(ws.deleteBranch(target(name), 'main', null)).rejects.toBeInstanceOf(ConfigError);
    await expect(ws.deleteBranch(target(name), HEAD, '-d')).rejects.toBeInstanceOf(UserError);
    expect(calls).toEqual([]);
  });

  it('refuses a base branch without commits with a ConfigError', async () => {
    const name = repoName('empty');
    await suite.server.createRepo(name);
    const { ws, commands } = await spiedWorkspace();
    const error = await ws
      .publishBranch(target(name), HEAD, CHANGES, { author: BOT, expectedHead: null })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'branch "main" of the IAC repository has no commit yet: DAG cannot propose changes on top of it',
    );
    expect(commands()).not.toContain('push');
  });
});

describe('IacWorkspace.deleteBranch', () => {
  it('deletes the branch while it is at the expected commit, and then finds it absent', async () => {
    const name = await seededRepo('delete');
    const { ws, calls } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    calls.length = 0;

    expect(await ws.deleteBranch(target(name), HEAD, first.head)).toBe('deleted');
    expect(await remoteHead(name)).toBeNull();
    expect(pushes(calls)).toEqual([
      [
        'push',
        '--porcelain',
        `--force-with-lease=refs/heads/${HEAD}:${first.head}`,
        'origin',
        `:refs/heads/${HEAD}`,
      ],
    ]);
    expect(await ws.deleteBranch(target(name), HEAD, first.head)).toBe('absent');
    expect(await ws.deleteBranch(target(name), HEAD, null)).toBe('absent');
    expect(pushes(calls)).toHaveLength(1);
    expect(await suite.server.head(name, 'main')).toBe(first.base);
  });

  it('keeps a branch that holds a commit DAG did not push', async () => {
    const name = await seededRepo('delete-foreign');
    const { ws, calls } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    calls.length = 0;

    expect(await ws.deleteBranch(target(name), HEAD, null)).toBe('foreign');
    const human = await suite.server.commitOutside(name, HEAD, 'apps/a/extra.yaml', 'e\n', 'tweak');
    expect(await ws.deleteBranch(target(name), HEAD, first.head)).toBe('foreign');
    expect(pushes(calls)).toEqual([]);
    expect(await remoteHead(name)).toBe(human);
  });

  it('keeps a branch a person pushed to between its look and its push', async () => {
    const name = await seededRepo('delete-race');
    let human: string | null = null;
    let armed = false;
    const { ws } = await spiedWorkspace({
      before: async (args) => {
        if (args[0] === 'push' && armed) {
          armed = false;
          human = await suite.server.commitOutside(name, HEAD, 'apps/a/extra.yaml', 'e\n', 'tweak');
        }
      },
    });
    const first = await publishFirst(ws, name);

    armed = true;
    expect(await ws.deleteBranch(target(name), HEAD, first.head)).toBe('foreign');
    expect(human).toMatch(/^[0-9a-f]{40}$/);
    expect(await remoteHead(name)).toBe(human);
  });
});

describe("DAG's branches and credentials", () => {
  it('keeps the token out of argv and every log line', async () => {
    const name = await seededRepo('secret');
    const { ws, calls, lines } = await spiedWorkspace();
    const first = await publishFirst(ws, name);
    await ws.publishBranch(target(name), HEAD, CHANGES, { author: BOT, expectedHead: first.head });
    await ws.deleteBranch(target(name), HEAD, first.head);

    expect(calls.every((c) => c.options.token === TOKEN)).toBe(true);
    const forms = leakForms(TOKEN);
    for (const call of calls) {
      for (const arg of call.args) for (const form of forms) expect(arg).not.toContain(form);
    }
    for (const line of lines) for (const form of forms) expect(line).not.toContain(form);
    expect(lines.some((line) => line.includes('"status":"pushed"'))).toBe(true);
    expect(lines.some((line) => line.includes('"status":"deleted"'))).toBe(true);
  });

  it('reports a refused push and a wrong token without leaking either token', async () => {
    // The test server's own configuration: no deletions at all, like a protected branch.
    const name = repoName('refused');
    await suite.server.createRepo(name, { files: SEED });
    const wrong = 'wrong-token-1a2b3c4d5e6f';
    const { ws, lines } = await spiedWorkspace();
    const first = await publishFirst(ws, name);

    const refused = await ws.deleteBranch(target(name), HEAD, first.head).catch((e: unknown) => e);
    const denied = await ws
      .deleteBranch({ ...target(name), token: wrong }, HEAD, first.head)
      .catch((e: unknown) => e);

    expect(refused).toBeInstanceOf(ConfigError);
    expect((refused as Error).message).toMatch(/^the IAC repository refused DAG's push/);
    expect(denied).toBeInstanceOf(ConfigError);
    expect((denied as Error).message).toBe(
      "the IAC repository rejected DAG's token (check the token and its scopes)",
    );
    expect(await remoteHead(name)).toBe(first.head);
    const everything = [refused, denied]
      .flatMap((error) => {
        const e = error as Error;
        return [e.message, e.stack ?? '', String(e.cause), JSON.stringify(e.cause)];
      })
      .concat(lines)
      .join('\n');
    for (const form of [...leakForms(TOKEN), ...leakForms(wrong)]) {
      expect(everything).not.toContain(form);
    }
  });
});
