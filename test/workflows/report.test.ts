// The report job (reportDeploy): the provider shows a deploy's recorded state. It creates the
// deployment once, posts only the latest recorded state and only when it is further along than
// what was posted, and tells a /deploy's pull request how it ended.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TransientError, UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import type { DeploymentState } from '../../src/platform/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployPatch, DeployRecord } from '../../src/store/types.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import { reportDeploy, type ReportDeps } from '../../src/workflows/deploy.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { APP_REPO, FakeReviewPlatform, watchClaims, seedOneEnvironment } from './fakes.ts';

const SHA = 'a'.repeat(40);
const IAC_SHA = `c0ffee${'1'.repeat(34)}`;
const TIP = 'e'.repeat(40);
const WHERE = 'iac main:clusters/staging/my-app';

/**
 * A FakeReviewPlatform that keeps every comment write, whose createDeployment can be held
 * (gate) or made to fail, and that counts the creations.
 */
class ReportPlatform extends FakeReviewPlatform {
  creations = 0;
  commentWrites: { topic: string; body: string }[] = [];
  failCreate: Error | undefined;
  #gate: Promise<void> | undefined;
  #open: (() => void) | undefined;

  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }

  release(): void {
    this.#open?.();
  }

  override async createDeployment(
    repo: RepoRef,
    input: { sha: string; ref: string; environment: string; description: string; attempt: number },
  ) {
    this.creations++;
    await this.#gate;
    if (this.failCreate) throw this.failCreate;
    return super.createDeployment(repo, input);
  }

  /** Holds the post of `state` until the returned function is called. */
  holdState(state: DeploymentState): () => void {
    let open = () => {};
    this.#heldState = { state, gate: new Promise<void>((resolve) => (open = resolve)) };
    return open;
  }
  #heldState: { state: DeploymentState; gate: Promise<void> } | undefined;
  statePosts = 0;

  override async setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: { state: DeploymentState; description: string; logUrl?: string | undefined },
  ) {
    this.statePosts++;
    if (this.#heldState?.state === update.state) await this.#heldState.gate;
    await super.setDeploymentState(repo, deployment, update);
  }

  override async upsertComments(repo: RepoRef, number: number, topic: string, bodies: string[]) {
    for (const body of bodies) this.commentWrites.push({ topic, body });
    await super.upsertComments(repo, number, topic, bodies);
  }
}

let lane: LaneDb;
let store: SqlConfigStore;
let platform: ReportPlatform;

const push: DeployRequest = {
  environmentId: 1,
  target: { iacId: 1, iacBranch: null },
  sha: SHA,
  branch: 'main',
  pusher: 'octocat',
  repo: APP_REPO,
  commitUrl: `https://github.com/org/my-app/commit/${SHA}`,
};
/** A `/deploy` of pull request 7. */
const command: DeployRequest = { ...push, pullRequest: 7, requestKey: 'comment:1', attempt: 1 };

const deps = (over: Partial<ReportDeps> = {}): ReportDeps => ({
  store,
  platform,
  log: quiet,
  ...over,
});

async function deploy(patch: DeployPatch = {}): Promise<DeployRecord> {
  const record = await store.beginDeploy({ environmentId: 1, sha: SHA, ref: 'main', pusher: null });
  return Object.keys(patch).length ? store.updateDeploy(record.id, patch) : record;
}

const succeeded: DeployPatch = {
  state: 'success',
  iacCommit: IAC_SHA,
  iacChanged: true,
  iacBranch: 'main',
};

const report = (record: DeployRecord, request = push, over: Partial<ReportDeps> = {}) =>
  reportDeploy({ deployId: record.id, request }, deps(over));

const posted = () => platform.states.map((s) => s.state);
const reportedState = async (record: DeployRecord) =>
  (await store.getDeploy(record.id))?.reportedState;

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await seedOneEnvironment(lane.db);
  platform = new ReportPlatform();
});
afterEach(() => lane.drop());

describe('reportDeploy', () => {
  it('creates the deployment and posts a queued deploy once, however often it is reported', async () => {
    const record = await deploy();
    await report(record);
    await report(record);
    expect(platform.deployments).toEqual([{ id: '1000', environment: 'staging', sha: SHA }]);
    expect(platform.states).toEqual([
      { id: '1000', state: 'queued', description: 'Queued: DAG deploys aaaaaaa to staging' },
    ]);
    expect(await reportedState(record)).toBe('queued');
  });

  it('posts each further state once, in order, on the one deployment', async () => {
    const record = await deploy();
    await report(record);
    await store.updateDeploy(record.id, { state: 'in_progress' });
    await report(record);
    await report(record);
    await store.updateDeploy(record.id, succeeded);
    await report(record);
    await report(record);
    expect(platform.creations).toBe(1);
    expect(platform.states).toEqual([
      { id: '1000', state: 'queued', description: 'Queued: DAG deploys aaaaaaa to staging' },
      { id: '1000', state: 'in_progress', description: 'Committing the release to iac' },
      {
        id: '1000',
        state: 'success',
        description: `Committed c0ffee1 to ${WHERE}`,
        logUrl: `https://github.com/org/iac/commit/${IAC_SHA}`,
      },
    ]);
    expect(await reportedState(record)).toBe('success');
    // A push has no pull request to tell.
    expect(platform.commentWrites).toEqual([]);
  });

  it('coalesces: a deploy already at success with nothing reported posts only success', async () => {
    const record = await deploy(succeeded);
    await report(record);
    expect(platform.deployments).toHaveLength(1);
    expect(posted()).toEqual(['success']);
    expect(await reportedState(record)).toBe('success');
  });

  it('skips in_progress when the deploy ended after queued was posted', async () => {
    const record = await deploy();
    await report(record);
    await store.updateDeploy(record.id, { state: 'failure', error: 'bad YAML' });
    await report(record);
    expect(platform.states.map((s) => [s.state, s.description])).toEqual([
      ['queued', 'Queued: DAG deploys aaaaaaa to staging'],
      ['failure', 'bad YAML'],
    ]);
  });

  it('says so when the folder already held the release, linking the tip', async () => {
    const record = await deploy({ ...succeeded, iacCommit: TIP, iacChanged: false });
    await report(record);
    expect(platform.states).toEqual([
      {
        id: '1000',
        state: 'success',
        description: `${WHERE} already had this release`,
        logUrl: `https://github.com/org/iac/commit/${TIP}`,
      },
    ]);
  });

  it('never posts backwards: nothing when what was posted is as far along as the record', async () => {
    const record = await deploy({ state: 'in_progress' });
    expect(await store.markReported(record.id, 'success')).toBe(true);
    await report(record);
    expect(platform.creations).toBe(0);
    expect(platform.states).toEqual([]);
    // And the record of what was posted only moves forward.
    expect(await store.markReported(record.id, 'queued')).toBe(false);
    expect(await store.markReported(record.id, 'in_progress')).toBe(false);
    expect(await store.markReported(record.id, 'failure')).toBe(false);
    expect(await reportedState(record)).toBe('success');
  });

  it('finishes quietly when the deploy record is gone', async () => {
    await expect(reportDeploy({ deployId: 4242, request: push }, deps())).resolves.toBeUndefined();
    expect(platform.creations).toBe(0);
  });

  it('fails (to be retried) on a transient error creating the deployment, releasing the claim at once', async () => {
    const record = await deploy(succeeded);
    platform.failCreate = new TransientError('GitHub API: HTTP 502');
    await expect(report(record)).rejects.toThrow('HTTP 502');
    expect(await reportedState(record)).toBeNull();
    expect(platform.states).toEqual([]);
    // The retry claims at once (a held claim would make it wait two minutes) and delivers.
    platform.failCreate = undefined;
    await report(record);
    expect(platform.creations).toBe(2);
    expect(posted()).toEqual(['success']);
  });

  describe('for a /deploy of a pull request', () => {
    const comment = () => platform.commentWrites.map((c) => `${c.topic}: ${c.body}`);

    it('comments once on its success, with the IAC commit linked', async () => {
      const record = await deploy(succeeded);
      await report(record, command);
      await report(record, command);
      expect(posted()).toEqual(['success']);
      expect(comment()).toEqual([
        'deploy-staging: **DAG** deployed `aaaaaaa` of #7 to **staging**: IAC commit ' +
          `[\`c0ffee1\`](https://github.com/org/iac/commit/${IAC_SHA}) in iac ` +
          "`main:clusters/staging/my-app`.\n\nstaging now runs this pull request's code until the next deploy to it.",
      ]);
    });

    it('says the release was already there when the folder held it', async () => {
      const record = await deploy({ ...succeeded, iacCommit: TIP, iacChanged: false });
      await report(record, command);
      expect(platform.commentWrites[0]?.body).toContain(
        '`main:clusters/staging/my-app` (already there).',
      );
    });

    it('comments its failure, and nothing while it runs', async () => {
      const record = await deploy({ state: 'in_progress' });
      await report(record, command);
      expect(platform.commentWrites).toEqual([]);
      await store.updateDeploy(record.id, { state: 'failure', error: 'values_*x*.yaml: bad YAML' });
      await report(record, command);
      expect(posted()).toEqual(['in_progress', 'failure']);
      expect(comment()).toEqual([
        // The error in a code block: nothing in it is Markdown, nothing needs escaping.
        'deploy-staging: **DAG** could not deploy `aaaaaaa` of #7 to **staging**:\n\n```text\nvalues_*x*.yaml: bad YAML\n```',
      ]);
    });

    it.each([
      ['user', new UserError('GitHub API: No ref found for: aaaaaaa (HTTP 422)')],
      ['config', new ConfigError('the GitHub App may not create deployments')],
    ])(
      'reports an ended deploy in the pull request when the provider refuses the deployment (%s error)',
      async (_kind, error) => {
        const record = await deploy({ state: 'in_progress' });
        platform.failCreate = error;
        // Not ended: nothing to say, and nothing to retry (the refusal is not transient).
        await expect(report(record, command)).resolves.toBeUndefined();
        expect(platform.commentWrites).toEqual([]);
        expect(await reportedState(record)).toBe('in_progress');

        await store.updateDeploy(record.id, { state: 'failure', error: 'bad YAML' });
        await expect(report(record, command)).resolves.toBeUndefined();
        expect(platform.deployments).toEqual([]);
        expect(platform.states).toEqual([]);
        expect(comment()).toEqual([
          'deploy-staging: **DAG** could not deploy `aaaaaaa` of #7 to **staging**:\n\n```text\nbad YAML\n```',
        ]);
        expect(await reportedState(record)).toBe('failure');
        // The end is reported: a later report job asks nothing more of the provider.
        const creations = platform.creations;
        await report(record, command);
        expect(platform.creations).toBe(creations);
        expect(platform.commentWrites).toHaveLength(1);
      },
    );

    it('reports a success in the pull request when the provider refuses the deployment', async () => {
      const record = await deploy(succeeded);
      platform.failCreate = new UserError('GitHub API: No ref found (HTTP 422)');
      await report(record, command);
      expect(platform.deployments).toEqual([]);
      expect(platform.commentWrites[0]?.body).toContain('**DAG** deployed `aaaaaaa` of #7');
      expect(await reportedState(record)).toBe('success');
    });
  });

  describe('concurrently', () => {
    // Guaranteed: one deployment, and reported_state ends at the final state. Not guaranteed by
    // reportDeploy itself: a single post. A report waiting for the other's deployment checks
    // again once it has it, but both may have read "nothing posted" before either marked it;
    // the report queue (pg-boss `stately`, one per deploy) keeps two reports of one deploy from
    // running at once.
    it('two reports of an ended deploy at once: one deployment, `success` posted once or twice, never anything else', async () => {
      const record = await deploy(succeeded);
      platform.hold();
      let lost = 0;
      const watched = watchClaims(store, () => lost++);
      const first = report(record, command, { store: watched });
      await expect.poll(() => platform.creations).toBe(1);
      const second = report(record, command, { store: watched });
      await expect.poll(() => lost).toBeGreaterThan(0);
      platform.release();
      await Promise.all([first, second]);

      expect(platform.creations).toBe(1);
      expect(platform.deployments).toHaveLength(1);
      const posts = platform.states.map((s) => [s.id, s.state]);
      expect(posts.length).toBeGreaterThanOrEqual(1);
      expect(posts.length).toBeLessThanOrEqual(2);
      for (const post of posts) expect(post).toEqual(['1000', 'success']);
      expect(platform.commentWrites).toHaveLength(posts.length); // the same sticky comment
      expect(await reportedState(record)).toBe('success');
      // Once one has marked it, no later report posts again.
      await report(record, command);
      expect(platform.states).toHaveLength(posts.length);
    });

    // Guaranteed: reported_state never moves back. Not guaranteed by reportDeploy itself: the
    // order of posts when two reports of one deploy run at once. One that read `in_progress` and
    // posts late lands after `success` on the provider; only the report queue (one report per
    // deploy at a time) prevents it.
    it('two reports at once can post out of order on the provider; reported_state stays at the newer state', async () => {
      const record = await deploy({ state: 'in_progress', providerDeploymentId: '1000' });
      const open = platform.holdState('in_progress');
      const older = report(record);
      await expect.poll(() => platform.statePosts).toBe(1);
      await store.updateDeploy(record.id, succeeded);
      await report(record);
      open();
      await older;
      expect(posted()).toEqual(['success', 'in_progress']);
      expect(await reportedState(record)).toBe('success');
      // The next report of the deploy sees success posted: it does not repair the order either.
      await report(record);
      expect(posted()).toEqual(['success', 'in_progress']);
    });

    // The record may move on while its deployment is created (or waited for): what is posted,
    // marked and commented on is the record as it is after that.
    it('a deploy that moves on while its deployment is created: what is posted is what is marked', async () => {
      const record = await deploy();
      platform.hold();
      const first = report(record, command);
      await expect.poll(() => platform.creations).toBe(1);
      await store.updateDeploy(record.id, succeeded);
      platform.release();
      await first;
      await report(record, command); // the report the success asked for
      // Either fix will do: post the state read (queued, then success), or mark the state
      // posted (success once). Not: success twice.
      expect(posted().at(-1)).toBe('success');
      expect(posted().filter((s) => s === 'success')).toHaveLength(1);
      expect(platform.commentWrites).toHaveLength(1);
      expect(await reportedState(record)).toBe('success');
    });
  });
});
