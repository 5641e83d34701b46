import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { automaticPromotions, promotionJobKey } from '../../src/workflows/promote.ts';
import { promotionBranch } from '../../src/workflows/promotion-strategies.ts';
import { APP_REPO } from './fakes.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import type { App, Environment } from '../../src/model.ts';

const repo = APP_REPO;

let lane: LaneDb;
let store: SqlConfigStore;

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type)
      VALUES (1, 'develop', 1, 'clusters/dev/my-app', 1, 'flux'),
             (1, 'staging', 1, 'clusters/staging/my-app', 1, 'flux'),
             (1, 'main', 1, 'clusters/production/my-app', 1, 'flux');
  `);
  await store.normalize();
});
afterEach(() => lane.drop());

describe('automatic promotions', () => {
  it('follows the automatic routes leaving the deployed environment, and only those', async () => {
    const chain = await store.addRoute({
      app: 'my-app',
      from: 'dev',
      to: 'staging',
      automatic: true,
    });
    await store.addRoute({ app: 'my-app', from: 'staging', to: 'production' });
    const deployed = (environmentId: number) =>
      automaticPromotions(store, { environmentId, sha: 'a'.repeat(40), repo });
    expect(await deployed(1)).toEqual([
      { routeId: chain.id, appRepo: repo, origin: { kind: 'deploy', sha: 'a'.repeat(40) } },
    ]);
    // staging → production is on request: a deploy to staging starts nothing.
    expect(await deployed(2)).toEqual([]);
    expect(await deployed(3)).toEqual([]);
  });

  it("starts none after a /deploy of a pull request: its commit is not the branch's", async () => {
    await store.addRoute({ app: 'my-app', from: 'dev', to: 'staging', automatic: true });
    expect(
      await automaticPromotions(store, {
        environmentId: 1,
        sha: 'a'.repeat(40),
        repo,
        pullRequest: 7,
      }),
    ).toEqual([]);
  });
});

describe('promotion names', () => {
  const named = (name: string) => ({ name }) as App & Environment;

  it("names DAG's branch after the app and the route, as a valid branch name", () => {
    expect(promotionBranch(named('shop'), named('staging'), named('production'))).toBe(
      'dag/promote/shop/staging-to-production',
    );
    expect(promotionBranch(named('My App..x'), named('.qa'), named('prod eu'))).toBe(
      'dag/promote/my-app.x/qa-to-prod-eu',
    );
  });

  it('gives one job per route and reason, so a redelivery is the same job', () => {
    const key = (origin: Parameters<typeof promotionJobKey>[0]['origin']) =>
      promotionJobKey({ routeId: 3, appRepo: repo, origin });
    expect(key({ kind: 'command', number: 5, commentId: 9, author: 'a' })).toBe(
      'route-3:comment-9',
    );
    expect(key({ kind: 'deploy', sha: 'abc' })).toBe('route-3:deploy-abc');
    expect(key({ kind: 'merged', repoUrl: 'https://github.com/org/iac', number: 4 })).toBe(
      'route-3:merged-https://github.com/org/iac#4',
    );
  });
});
