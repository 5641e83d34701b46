// Exactly one provider deployment per deploy attempt, enforced by the database (a claim taken
// before the provider call), when deliveries race; and redeploys as new attempts.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import {
  announceDeploy,
  askDeploy,
  runDeploy,
  type DeployDeps,
} from '../../src/workflows/deploy.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { APP_REPO, FakeIac, FakePlatform } from './fakes.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

/** A FakePlatform whose deployments take a while to create, and that counts the creations. */
class SlowPlatform extends FakePlatform {
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

  const deps = (platform: FakePlatform): DeployDeps => ({
    store,
    platform,
    iac,
    // The bundle names the commit, as DAG's does (image tag, provenance).
    render: (input) => ({ files: { 'release.yaml': `commit: ${input.source.sha}\n` } }),
    parseValues: () => ({}),
    author: { name: 'DAG', email: 'dag@example.com' },
    log: quiet,
    mask: (t) => t,
    lastAttempt: false,
  });

  beforeEach(async () => {
    lane = await openLane(laneName);
    store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(`
      INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
      INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
      INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, name)
        VALUES (1, 'main', 1, 'clusters/staging/my-app', 1, 'flux', 'staging');
    `);
    iac = new FakeIac();
  });
  afterEach(() => lane.drop());

  it('creates one deployment when deliveries of the same push announce and run at the same moment', async () => {
    const platform = new SlowPlatform();
    const r = request(A);
    await Promise.all([
      announceDeploy(r, { store, platform }),
      announceDeploy({ ...r, deliveryId: 'second' }, { store, platform }),
      announceDeploy({ ...r, deliveryId: 'third' }, { store, platform }),
      runDeploy(r, deps(platform)),
    ]);
    expect(platform.creations).toBe(1);
    expect(platform.deployments).toHaveLength(1);
    const states = platform.states.map((s) => s.state);
    expect(states.filter((s) => s === 'queued').length).toBeLessThanOrEqual(1);
    expect(states.filter((s) => s !== 'queued')).toEqual(['in_progress', 'success']);
    expect(new Set(platform.states.map((s) => s.id))).toEqual(new Set(['1000']));
  });

  it('makes the loser of the claim wait for the id while the winner is still creating it', async () => {
    const platform = new SlowPlatform(true);
    const r = request(A);
    const first = announceDeploy(r, { store, platform });
    // The winner holds the claim while GitHub is slow; a second delivery leaves it the report.
    await expect.poll(() => platform.creations).toBe(1);
    await announceDeploy({ ...r, deliveryId: 'second' }, { store, platform });
    // The deploy job needs the id: it waits for the winner, then reports on its deployment.
    const run = runDeploy(r, deps(platform));
    platform.release();
    await Promise.all([first, run]);
    expect(platform.creations).toBe(1);
    expect(platform.states.map((s) => [s.id, s.state])).toEqual([
      ['1000', 'queued'],
      ['1000', 'in_progress'],
      ['1000', 'success'],
    ]);
  });

  it('posts no second `queued` for a second delivery of the same push', async () => {
    const platform = new SlowPlatform();
    await announceDeploy(request(A, { deliveryId: 'one' }), { store, platform });
    await announceDeploy(request(A, { deliveryId: 'two' }), { store, platform });
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

  it('releases the claim when creating the deployment fails, so the retry creates it at once', async () => {
    const platform = new SlowPlatform();
    const failing = Object.assign(Object.create(platform) as SlowPlatform, {
      createDeployment: async () => {
        throw new Error('GitHub API: creating the staging deployment failed (HTTP 502)');
      },
    });
    await expect(runDeploy(request(A), deps(failing))).rejects.toThrow('HTTP 502');
    await runDeploy(request(A), deps(platform));
    expect(platform.creations).toBe(1);
    expect(platform.states.at(-1)?.state).toBe('success');
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
    await announceDeploy(back.request, { store, platform });
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
