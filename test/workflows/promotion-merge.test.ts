// The target's deploy reported after a promotion merged: one provider Deployment however many
// runs report the merge at once (the deploy's claim in the database, as for a push).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import type { ChangeRequest, ChangeRequests } from '../../src/platform/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { openPromotion } from '../../src/workflows/promotion-pr.ts';
import type { PromoteDeps, Route } from '../../src/workflows/promotion-types.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { APP_REPO, FakePlatform } from './fakes.ts';

const SOURCE = 'a'.repeat(40);
const MERGE = 'm'.repeat(40);
const IAC_REPO: RepoRef = {
  provider: 'github',
  fullName: 'org/iac',
  urls: ['https://github.com/org/iac.git'],
  webUrl: 'https://github.com/org/iac',
};

/** A FakePlatform whose deployments wait for release(), and that counts the creations. */
class GatedPlatform extends FakePlatform {
  creations = 0;
  #release: () => void = () => undefined;
  readonly #gate = new Promise<void>((resolve) => (this.#release = resolve));

  release(): void {
    this.#release();
  }

  override async createDeployment(repo: RepoRef, input: { sha: string; environment: string }) {
    this.creations++;
    await this.#gate;
    return super.createDeployment(repo, input);
  }
}

/** The IAC repository's pull requests: DAG's promotion #12, merged. */
function mergedHost(): { platform: ChangeRequests; repo: RepoRef } {
  const merged: ChangeRequest = {
    number: 12,
    url: 'https://github.com/org/iac/pull/12',
    state: 'merged',
    headRef: 'dag/promote/my-app/staging-to-production',
    headSha: 'h'.repeat(40),
    baseRef: 'main',
    mergeCommitSha: MERGE,
    title: 'Promote',
    body: '',
  };
  const platform = {
    provider: 'github',
    maxBodyLength: 65_536,
    getChangeRequest: async () => merged,
  } as unknown as ChangeRequests;
  return { platform, repo: IAC_REPO };
}

describe.each(LANES)('the deploy a merged promotion reports (%s)', (laneName) => {
  let lane: LaneDb;
  let store: SqlConfigStore;
  let route: Route;
  const deleted: string[] = [];

  const deps = (platform: FakePlatform): PromoteDeps =>
    ({
      store,
      appPlatform: platform,
      iac: {
        deleteBranch: async (_target: unknown, head: string) => {
          deleted.push(head);
          return 'deleted' as const;
        },
      },
      clusters: { get: async () => Promise.reject(new Error('no cluster in this test')) },
      author: { name: 'DAG', email: 'dag@example.com' },
      log: quiet,
      mask: (text: string) => text,
    }) as unknown as PromoteDeps;

  beforeEach(async () => {
    deleted.length = 0;
    lane = await openLane(laneName);
    store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(`
      INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
      INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
      INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, name)
        VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'staging'),
               (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'production');
      INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (1, 1, 2);
    `);
    const [app, from, to, promotionRoute] = await Promise.all([
      store.getApp(1),
      store.getEnvironment(1),
      store.getEnvironment(2),
      store.getRoute(1),
    ]);
    if (!app || !from || !to || !promotionRoute) throw new Error('fixture missing');
    route = { route: promotionRoute, app, from, to };
    await store.savePromotion({
      routeId: 1,
      repoUrl: IAC_REPO.webUrl,
      number: 12,
      url: 'https://github.com/org/iac/pull/12',
      branch: 'dag/promote/my-app/staging-to-production',
      baseBranch: 'main',
      pushedHead: 'h'.repeat(40),
      sourceSha: SOURCE,
      state: 'open',
      handsOff: false,
      reported: false,
    });
  });
  afterEach(() => lane.drop());

  it('creates one Deployment when two runs report the merge at the same moment', async () => {
    const platform = new GatedPlatform();
    let lostClaims = 0;
    const claim = store.claimDeployment.bind(store);
    store.claimDeployment = async (id, staleAfterSeconds) => {
      const result = await claim(id, staleAfterSeconds);
      if (!result.claimed) lostClaims++;
      return result;
    };
    const host = mergedHost();
    const first = openPromotion(route, host, deps(platform), APP_REPO);
    // The first run is creating the Deployment (GitHub is slow) when the second one looks.
    await expect.poll(() => platform.creations).toBe(1);
    const second = openPromotion(route, host, deps(platform), APP_REPO);
    // The second run either creates a Deployment of its own or loses the claim (and waits,
    // claiming again now and then).
    await expect.poll(() => platform.creations + lostClaims).toBeGreaterThanOrEqual(2);
    platform.release();
    await Promise.all([first, second]);

    expect(platform.creations).toBe(1);
    expect(platform.deployments).toEqual([{ id: '1000', environment: 'production', sha: SOURCE }]);
    expect(new Set(platform.states.map((s) => [s.id, s.state].join(' ')))).toEqual(
      new Set(['1000 success']),
    );
    const { rows } = await lane.db.query<{
      state: string;
      provider_deployment_id: string;
      iac_commit: string;
    }>('SELECT state, provider_deployment_id, iac_commit FROM deploys WHERE environment_id = 2');
    expect(rows).toEqual([{ state: 'success', provider_deployment_id: '1000', iac_commit: MERGE }]);
    expect(await store.currentPromotion(1)).toMatchObject({ state: 'merged', reported: true });
  });

  it('reports a merge whose Deployment could not be created on the next run, on one Deployment', async () => {
    const platform = new GatedPlatform();
    platform.release();
    const failing = Object.assign(Object.create(platform) as GatedPlatform, {
      createDeployment: async () => {
        throw new Error('GitHub API: creating the production deployment failed (HTTP 502)');
      },
    });
    const host = mergedHost();
    await expect(openPromotion(route, host, deps(failing), APP_REPO)).rejects.toThrow('HTTP 502');
    await openPromotion(route, host, deps(platform), APP_REPO);
    // Once reported, the merge is not reported again.
    await openPromotion(route, host, deps(platform), APP_REPO);
    expect(platform.deployments).toHaveLength(1);
    expect(platform.states.map((s) => [s.id, s.state])).toEqual([['1000', 'success']]);
    expect(deleted).toEqual(['dag/promote/my-app/staging-to-production']);
  });
});
