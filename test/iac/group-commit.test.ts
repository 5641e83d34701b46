// GroupCommitter on a real IacWorkspace (the test git server) and real BranchLeases (a test
// database): deploys of one branch go out together, one commit each, in few pushes, and two DAG
// processes never write one branch at the same time.

import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { BranchLeases } from '../../src/store/branch-lease.ts';
import { runGit, type GitRunner } from '../../src/iac/git.ts';
import { GroupCommitter, type GroupedCommit } from '../../src/iac/group-commit.ts';
import { IacWorkspace, type IacChange } from '../../src/iac/workspace.ts';
import { openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { waitFor } from '../helpers/wait.ts';
import { BOT, SEED, gitServerForSuite, repoName, tempDir } from './support.ts';

const TOKEN = 'dag-test-token-group-7e1d';
const suite = gitServerForSuite(TOKEN);

let lane: LaneDb;
beforeAll(async () => {
  lane = await openLane('embedded');
});
afterAll(() => lane.drop());

/** A push as the pushing process saw it: from the git command's start to its end. */
type PushSpan = { process: string; start: number; end: number; ok: boolean };

/**
 * One DAG process's IAC writer: its own workspace (cache, clones) and leases on the shared
 * database. Its git runner records each push; `beforePush` may hold one.
 */
async function dagProcess(
  name: string,
  spans: PushSpan[],
  options: { beforePush?: () => Promise<void> } = {},
) {
  const state = { groups: [] as number[], leaseWaits: 0, pushRetries: 0 };
  const git: GitRunner = async (args, runOptions) => {
    if (args[0] !== 'push') return runGit(args, runOptions);
    await options.beforePush?.();
    const start = performance.now();
    try {
      const result = await runGit(args, runOptions);
      spans.push({ process: name, start, end: performance.now(), ok: true });
      return result;
    } catch (error) {
      spans.push({ process: name, start, end: performance.now(), ok: false });
      throw error;
    }
  };
  const workspace = await IacWorkspace.create({
    cacheDir: await tempDir(`dag-group-${name}-`),
    log: quiet,
    git,
    onPushRetry: () => state.pushRetries++,
  });
  const leases = new BranchLeases(lane.db, quiet, {
    sleep: async (ms) => {
      state.leaseWaits++;
      await delay(Math.min(ms, 20));
    },
  });
  const committer = new GroupCommitter(workspace, leases, {
    author: BOT,
    backoffMs: 10,
    log: quiet,
    onGroup: (size) => state.groups.push(size),
  });
  return { committer, state };
}

async function seededRepo(prefix: string): Promise<string> {
  const name = repoName(prefix);
  await suite.server.createRepo(name, { files: SEED });
  return name;
}

const target = (name: string) => ({ url: suite.server.url(name), token: TOKEN, branch: 'main' });
const keyOf = (name: string) => `iac:${name}:main`;
const change = (app: string, content = `app: ${app}\n`): IacChange => ({
  path: `apps/${app}`,
  files: { 'deployment.yaml': content },
  message: `deploy ${app}`,
});

/** The subject of a commit in the test server's repository. */
const subjectOf = (name: string, sha: string) =>
  suite.server.git(name, ['log', '-1', '--format=%s', sha]);

/** Every caller got its own commit on the branch, with its own message. */
async function expectOwnCommits(name: string, apps: string[], results: GroupedCommit[]) {
  const shas = results.map((r) => r.sha);
  expect(shas.every((sha) => sha !== null && /^[0-9a-f]{40}$/.test(sha))).toBe(true);
  expect(new Set(shas).size).toBe(apps.length);
  for (const [i, app] of apps.entries()) {
    expect(await subjectOf(name, shas[i] as string)).toBe(`deploy ${app}`);
    // On the branch, not only in some clone.
    await suite.server.git(name, ['merge-base', '--is-ancestor', shas[i] as string, 'main']);
  }
}

const noOverlap = (spans: PushSpan[]) => {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  return sorted.every((span, i) => i === 0 || span.start >= (sorted[i - 1] as PushSpan).end);
};

describe('GroupCommitter', () => {
  it('writes concurrent commits to one branch in one push, one commit and sha per caller', async () => {
    const name = await seededRepo('group');
    const spans: PushSpan[] = [];
    const { committer, state } = await dagProcess('p', spans);
    const apps = Array.from({ length: 8 }, (_, i) => `app-${i}`);
    const pushesBefore = suite.server.pushes;

    const results = await Promise.all(
      apps.map((app) => committer.commit(keyOf(name), target(name), change(app))),
    );

    await expectOwnCommits(name, apps, results);
    const log = await suite.server.log(name, 'main');
    expect(log).toHaveLength(9);
    for (const app of apps) expect(log).toContain(`deploy ${app}`);
    // All eight arrived while the lease was being taken: one group, one push.
    expect(state.groups).toEqual([8]);
    expect(spans).toHaveLength(1);
    expect(suite.server.pushes - pushesBefore).toBe(1);
    const tip = await suite.server.head(name, 'main');
    for (const result of results) {
      expect(result).toMatchObject({ branch: 'main', head: tip, groupSize: 8 });
    }
    expect(results.at(-1)?.sha).toBe(tip);
  });

  it('puts commits that arrive during a push into the next group', async () => {
    const name = await seededRepo('next-group');
    const spans: PushSpan[] = [];
    let pushing!: () => void;
    const firstPush = new Promise<void>((resolve) => (pushing = resolve));
    let go!: () => void;
    const gate = new Promise<void>((resolve) => (go = resolve));
    let pushes = 0;
    const { committer, state } = await dagProcess('p', spans, {
      beforePush: async () => {
        if (++pushes > 1) return;
        pushing();
        await gate;
      },
    });
    const commit = (app: string) => committer.commit(keyOf(name), target(name), change(app));

    const early = ['a1', 'a2'].map(commit);
    await firstPush;
    const late = ['b1', 'b2', 'b3', 'b4'].map(commit);
    go();
    const results = await Promise.all([...early, ...late]);

    await expectOwnCommits(name, ['a1', 'a2', 'b1', 'b2', 'b3', 'b4'], results);
    expect(state.groups).toEqual([2, 4]);
    expect(results.map((r) => r.groupSize)).toEqual([2, 2, 4, 4, 4, 4]);
    expect(spans.map((s) => s.ok)).toEqual([true, true]);
    expect(state.pushRetries).toBe(0);
    expect(await suite.server.log(name, 'main')).toEqual([
      'deploy b4',
      'deploy b3',
      'deploy b2',
      'deploy b1',
      'deploy a2',
      'deploy a1',
      'initial commit',
    ]);
  });

  it('gives a change the folder already holds sha null, and pushes nothing for it alone', async () => {
    const name = await seededRepo('noop');
    const spans: PushSpan[] = [];
    const { committer } = await dagProcess('p', spans);
    const same: IacChange = {
      path: 'apps/a',
      files: {
        'deployment.yaml': SEED['apps/a/deployment.yaml'],
        'stale.yaml': SEED['apps/a/stale.yaml'],
      },
      message: 'deploy a again',
    };
    const seeded = await suite.server.head(name, 'main');

    const alone = await committer.commit(keyOf(name), target(name), same);
    expect(alone).toEqual({ branch: 'main', sha: null, head: seeded, groupSize: 1 });
    expect(spans).toEqual([]);

    const [noop, real] = await Promise.all([
      committer.commit(keyOf(name), target(name), same),
      committer.commit(keyOf(name), target(name), change('c')),
    ]);
    const tip = await suite.server.head(name, 'main');
    expect(noop).toEqual({ branch: 'main', sha: null, head: tip, groupSize: 2 });
    expect(real).toEqual({ branch: 'main', sha: tip, head: tip, groupSize: 2 });
    expect(spans).toHaveLength(1);
    expect(await suite.server.log(name, 'main')).toEqual(['deploy c', 'initial commit']);
  });

  it('fails only the caller whose change has an invalid path; the others are written', async () => {
    const name = await seededRepo('bad-path');
    const spans: PushSpan[] = [];
    const { committer, state } = await dagProcess('p', spans);
    const bad: IacChange = { path: '../outside', files: { 'x.yaml': 'x\n' }, message: 'escape' };

    const [first, escape, last] = await Promise.allSettled([
      committer.commit(keyOf(name), target(name), change('good-1')),
      committer.commit(keyOf(name), target(name), bad),
      committer.commit(keyOf(name), target(name), change('good-2')),
    ]);

    expect(escape.status).toBe('rejected');
    expect((escape as PromiseRejectedResult).reason).toBeInstanceOf(UserError);
    expect(first.status).toBe('fulfilled');
    expect(last.status).toBe('fulfilled');
    const ok = [first, last].map((r) => (r as PromiseFulfilledResult<GroupedCommit>).value);
    await expectOwnCommits(name, ['good-1', 'good-2'], ok);
    // The group failed on the bad change, then each was written alone.
    expect(state.groups).toEqual([3, 1, 1, 1]);
    expect(ok.map((r) => r.groupSize)).toEqual([1, 1]);
    expect(await suite.server.log(name, 'main')).toEqual([
      'deploy good-2',
      'deploy good-1',
      'initial commit',
    ]);
    expect(await suite.server.files(name, 'main')).not.toHaveProperty('outside/x.yaml');
  });

  it('lets two processes sharing one database push one branch only one at a time, losing no commit', async () => {
    const name = await seededRepo('two-processes');
    const spans: PushSpan[] = [];
    const processes: Awaited<ReturnType<typeof dagProcess>>[] = [];
    let held = false;
    // The first push (whichever process makes it) waits until the other process has found the
    // branch's lease taken: the two really contend for it.
    const beforePush = (me: number) => async () => {
      if (held) return;
      held = true;
      const other = processes[1 - me] as (typeof processes)[number];
      await waitFor(() => other.state.leaseWaits > 0, { what: 'the other process to wait' });
    };
    processes.push(await dagProcess('p0', spans, { beforePush: beforePush(0) }));
    processes.push(await dagProcess('p1', spans, { beforePush: beforePush(1) }));
    const pushesBefore = suite.server.pushes;

    const apps = (p: number, wave: string) => [1, 2, 3].map((i) => `p${p}-${wave}${i}`);
    const commitAll = (p: number, list: string[]) =>
      list.map((app) =>
        (processes[p] as (typeof processes)[number]).committer.commit(
          keyOf(name),
          target(name),
          change(app),
        ),
      );
    const first = [...commitAll(0, apps(0, 'a')), ...commitAll(1, apps(1, 'a'))];
    await waitFor(() => held, { what: 'the first push' });
    // More deploys reach both processes while the branch is being written.
    const second = [...commitAll(0, apps(0, 'b')), ...commitAll(1, apps(1, 'b'))];
    const results = await Promise.all([...first, ...second]);

    const all = [...apps(0, 'a'), ...apps(1, 'a'), ...apps(0, 'b'), ...apps(1, 'b')];
    await expectOwnCommits(name, all, results);
    expect(await suite.server.log(name, 'main')).toHaveLength(all.length + 1);
    expect(new Set(spans.map((s) => s.process))).toEqual(new Set(['p0', 'p1']));
    expect(spans.length).toBeLessThan(all.length);
    expect(suite.server.pushes - pushesBefore).toBe(spans.length);
    // Never two pushes at once, and never one refused for a branch that moved under it: each
    // group fetched, committed and pushed under the lease.
    expect(noOverlap(spans)).toBe(true);
    expect(spans.every((s) => s.ok)).toBe(true);
    expect(processes.map((p) => p.state.pushRetries)).toEqual([0, 0]);
    expect(processes.some((p) => p.state.leaseWaits > 0)).toBe(true);
    expect(suite.server.forcePushes).toBe(0);
    const leases = await lane.db.query('SELECT key FROM iac_branch_leases WHERE key = $1', [
      keyOf(name),
    ]);
    expect(leases.rows).toEqual([]);
  });
});
