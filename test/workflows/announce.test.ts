import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { announceDeploy } from '../../src/workflows/deploy.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { FakePlatform } from './fakes.ts';

const repo: RepoRef = {
  provider: 'github',
  fullName: 'org/my-app',
  urls: [],
  installationId: 1,
  webUrl: 'https://github.com/org/my-app',
};
let lane: LaneDb;
let store: SqlConfigStore;
const request = {
  environmentId: 1,
  target: { iacId: 1, iacBranch: null },
  sha: 'a'.repeat(40),
  branch: 'main',
  pusher: 'octocat',
  repo,
  commitUrl: '',
};

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type)
      VALUES (1, 'main', 1, 'clusters/production/my-app', 1, 'flux');
  `);
});
afterEach(() => lane.drop());

describe('announceDeploy', () => {
  it('creates the deployment once and posts `queued` once, however often the push is handled', async () => {
    const platform = new FakePlatform();
    await announceDeploy(request, { store, platform });
    await announceDeploy(request, { store, platform });
    expect(platform.deployments).toEqual([
      { id: '1000', environment: 'production', sha: request.sha },
    ]);
    expect(platform.states.map((s) => s.state)).toEqual(['queued']);
    expect((await store.listDeploys())[0]).toMatchObject({ reportedState: 'queued' });
  });

  it('stays silent for a deploy that already ran', async () => {
    const platform = new FakePlatform();
    const record = await store.beginDeploy({
      environmentId: 1,
      sha: request.sha,
      ref: 'main',
      pusher: null,
    });
    await store.updateDeploy(record.id, { state: 'success' });
    await announceDeploy(request, { store, platform });
    expect(platform.deployments).toEqual([]);
  });
});
