// Exactly one provider deployment per deploy attempt, enforced by the database (a claim taken
// before the provider call), when report jobs race; and redeploys as new attempts.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import {
  CLAIM_STALE_SECONDS,
  askDeploy,
  reportDeploy,
  runDeploy,
  type DeployDeps,
  type DeployReport,
} from '../../src/workflows/deploy.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { APP_REPO, FakeIac, FakeReviewPlatform, watchClaims, seedOneEnvironment } from './fakes.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** A FakeReviewPlatform whose deployments take a while to create, and that counts the creations. */
class SlowPlatform extends FakeReviewPlatform {
  creations = 0;
  #release: (() => void) | undefined;
  readonly #gate: Promise<void> | undefined;
  listed: { sha: string; environment: string; attempt: number }[] = [];
  /** What findDeployment answers (only when `canFind`). */
  existing: string | undefined;
  canFind = false;

  constructor(gated = false) {
    super();
    this.#gate = gated ? new Promise((resolve) => (this.#release = resolve)) : undefined;
  }

  release(): void {
    this.#release?.();
  }

  override async createDeployment(repo: RepoRef, input: { sha: string; environment: string }) {
    this.creations++;
    await this.#gate;
    return super.createDeployment(repo, input);
  }
}

function findable(platform: SlowPlatform): SlowPlatform & {
  findDeployment(
    repo: RepoRef,
    input: { sha: string; environment: string; attempt: number },
  ): Promise<string | undefined>;
} {
  return Object.assign(platform, {
    findDeployment: async (
      _repo: RepoRef,
      input: { sha: string; environment: string; attempt: number },
    ) => {
      platform.listed.push(input);
      return platform.existing;
    },
  });
}

function request(sha: string, over: Partial<DeployRequest> = {}): DeployRequest {
  return {
    environmentId: 1,
    target: { iacId: 1, iacBranch: null },
    sha,
    branch: 'main',
    pusher: 'octocat',
    repo: APP_REPO,
    commitUrl: `https://github.com/org/my-app/commit/${sha}`,
    ...over,
  };
}

describe.each(LANES)('one provider deployment per deploy attempt (%s)', (laneName) => {
  let lane: LaneDb;
  let store: SqlConfigStore;
  let iac: FakeIac;

  /** The report job, as the queue runs it (here: at once, in the deploy's run). */
  const reporter = (platform: FakeReviewPlatform, jobId?: string) => (report: DeployReport) =>
    reportDeploy(report, { store, platform, log: quiet, jobId });
  const deps = (platform: FakeReviewPlatform): DeployDeps => ({
    store,
    platform,
    iac,
    // The bundle names the commit, as DAG's does (image tag, provenance).
    render: (input) => ({ files: { 'release.yaml': `commit: ${input.source.sha}\n` } }),
    parseValues: () => ({}),
    log: quiet,
    mask: (t) => t,
    lastAttempt: false,
    report: reporter(platform),
  });
  const begin = (r: DeployRequest) =>
    store.beginDeploy({
      environmentId: r.environmentId,
      sha: r.sha,
      ref: r.branch,
      pusher: r.pusher,
      attempt: r.attempt,
    });

  beforeEach(async () => {
    lane = await openLane(laneName);
    store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await seedOneEnvironment(lane.db);
    iac = new FakeIac();
  });
  afterEach(() => lane.drop());

  it('creates one deployment when reports of one deploy and its run go at the same moment', async () => {
    const platform = new SlowPlatform();
    const r = request(A);
    const { id } = await begin(r);
    const report = reporter(platform);
    await Promise.all([
      report({ deployId: id, request: r }),
      report({ deployId: id, request: { ...r, deliveryId: 'second' } }),
      report({ deployId: id, request: { ...r, deliveryId: 'third' } }),
      runDeploy(r, deps(platform)),
    ]);
    expect(platform.creations).toBe(1);
    expect(platform.deployments).toHaveLength(1);
    expect(new Set(platform.states.map((s) => s.id))).toEqual(new Set(['1000']));
    // Racing reports may each post what they read (the queue runs one per deploy at a time),
    // but the deploy's end is posted, and reported.
    expect(platform.states.map((s) => s.state)).toContain('success');
    expect((await store.getDeploy(id))?.reportedState).toBe('success');
  });

  it('creates exactly one deployment for many concurrent reports', async () => {
    const platform = new SlowPlatform(true);
    const r = request(A);
    const { id } = await begin(r);
    const reports = Array.from({ length: 6 }, (_, i) =>
      reporter(platform, `job-${i}`)({ deployId: id, request: r }),
    );
    await expect.poll(() => platform.creations).toBe(1);
    platform.release();
    await Promise.all(reports);
    expect(platform.creations).toBe(1);
    expect(platform.deployments).toHaveLength(1);
    expect((await store.getDeploy(id))?.providerDeploymentId).toBe('1000');
  });

  it('makes the loser of the claim wait for the id while the winner is still creating it', async () => {
    const platform = new SlowPlatform(true);
    const r = request(A);
    const { id } = await begin(r);
    const first = reporter(platform)({ deployId: id, request: r });
    // The winner holds the claim while GitHub is slow; the deploy runs meanwhile, and the
    // report it asks for waits for the winner's id, then reports on its deployment.
    await expect.poll(() => platform.creations).toBe(1);
    let lost = 0;
    const watched = watchClaims(store, () => lost++);
    const run = runDeploy(r, {
      ...deps(platform),
      store: watched,
      report: (report) => reportDeploy(report, { store: watched, platform, log: quiet }),
    });
    await expect.poll(() => lost).toBeGreaterThan(0);
    platform.release();
    await Promise.all([first, run]);
    expect(platform.creations).toBe(1);
    expect(new Set(platform.states.map((s) => s.id))).toEqual(new Set(['1000']));
    expect(platform.states.at(-1)?.state).toBe('success');
  });

  it('posts no second `queued` for a second report of the same deploy', async () => {
    const platform = new SlowPlatform();
    const r = request(A);
    const { id } = await begin(r);
    await reporter(platform)({ deployId: id, request: { ...r, deliveryId: 'one' } });
    await reporter(platform)({ deployId: id, request: { ...r, deliveryId: 'two' } });
    expect(platform.states.map((s) => s.state)).toEqual(['queued']);
  });

  it('takes over a claim whose holder died, finding the deployment it had created', async () => {
    const platform = findable(new SlowPlatform());
    platform.existing = '777';
    const record = await store.beginDeploy({ environmentId: 1, sha: A, ref: 'main', pusher: null });
    // A process claimed ten minutes ago and never stored the id.
    await lane.db.query(
      "UPDATE deploys SET deployment_claim = now() - interval '10 minutes' WHERE id = $1",
      [record.id],
    );
    await runDeploy(request(A), deps(platform));
    expect(platform.listed).toEqual([{ sha: A, environment: 'staging', attempt: 1 }]);
    expect(platform.creations).toBe(0);
    expect(platform.states.map((s) => [s.id, s.state])).toEqual([
      ['777', 'in_progress'],
      ['777', 'success'],
    ]);
  });

  it('lets a rerun of the report job that claimed take its fresh claim over at once', async () => {
    const platform = findable(new SlowPlatform());
    platform.existing = '777';
    const r = request(A);
    const { id } = await begin(r);
    // Job 1's worker claimed a moment ago and died before storing the id.
    expect(await store.claimDeployment(id, CLAIM_STALE_SECONDS, 'job-1')).toEqual({
      claimed: true,
      takenOver: false,
    });
    // Another job finds the claim fresh (it would wait for it)...
    expect(await store.claimDeployment(id, CLAIM_STALE_SECONDS, 'job-2')).toEqual({
      claimed: false,
    });
    // ...while job 1 run again takes it over at once and looks up what it created.
    await reporter(platform, 'job-1')({ deployId: id, request: r });
    expect(platform.listed).toEqual([{ sha: A, environment: 'staging', attempt: 1 }]);
    expect(platform.creations).toBe(0);
    expect(platform.states.map((s) => [s.id, s.state])).toEqual([['777', 'queued']]);
  });

  it('releases the claim when creating the deployment fails, so the retry creates it at once', async () => {
    const platform = new SlowPlatform();
    const failing = Object.assign(Object.create(platform) as SlowPlatform, {
      createDeployment: async () => {
        throw new Error('GitHub API: creating the staging deployment failed (HTTP 502)');
      },
    });
    const r = request(A);
    await runDeploy(r, { ...deps(platform), report: async () => {} });
    const { id } = await begin(r);
    await expect(reporter(failing)({ deployId: id, request: r })).rejects.toThrow('HTTP 502');
    await reporter(platform)({ deployId: id, request: r });
    expect(platform.creations).toBe(1);
    expect(platform.states.map((s) => s.state)).toEqual(['success']);
  });

  it('deploys a commit again when the environment runs another, as a new attempt with its own deployment', async () => {
    const platform = new SlowPlatform();
    await runDeploy(request(A), deps(platform));
    // Already running A: a request for A says so and queues nothing.
    const again = await askDeploy({ ...request(A), requestKey: 'comment:1' }, store);
    expect(again).toMatchObject({ status: 'current', record: { attempt: 1 } });

    await runDeploy(request(B), deps(platform));
    const back = await askDeploy({ ...request(A), requestKey: 'comment:2' }, store);
    expect(back).toMatchObject({ status: 'new', record: { attempt: 2, requestKey: 'comment:2' } });
    if (back.status === 'current') throw new Error('unreachable');
    expect(back.request.attempt).toBe(2);
    // The same request asked again (a redelivered comment) is the same attempt.
    expect(await askDeploy({ ...request(A), requestKey: 'comment:2' }, store)).toMatchObject({
      status: 'new',
      record: { id: back.record.id },
    });
    await runDeploy(back.request, deps(platform));

    expect(platform.deployments.map((d) => d.sha)).toEqual([A, B, A]);
    expect(iac.commits).toHaveLength(3);
    expect(iac.folders.get('clusters/staging/my-app')).toEqual({
      'release.yaml': `commit: ${A}\n`,
    });
    expect(await askDeploy({ ...request(A), requestKey: 'comment:3' }, store)).toMatchObject({
      status: 'current',
      record: { attempt: 2 },
    });
  });

  it('gives concurrent requests for the same commit one new attempt', async () => {
    const platform = new SlowPlatform();
    await runDeploy(request(A), deps(platform));
    await runDeploy(request(B), deps(platform));
    const asked = await Promise.all(
      ['cli:1', 'cli:2', 'comment:3'].map((requestKey) =>
        askDeploy({ ...request(A), requestKey }, store),
      ),
    );
    expect(asked.map((a) => a.status).sort()).toEqual(['joined', 'joined', 'new']);
    expect(new Set(asked.map((a) => a.record.id)).size).toBe(1);
    expect(asked[0]?.record.attempt).toBe(2);
  });
});
