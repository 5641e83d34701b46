import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RolloutState } from '../../src/monitor/types.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

const state: RolloutState = {
  phase: 'progressing',
  liveCommit: { sha: A, from: 'workloads' },
  rollingOutCommit: B,
  committedCommit: B,
  reason: 'Deployment web: 1 of 3 updated',
  since: new Date('2026-12-06T08:00:00.000Z'),
  workloads: [
    {
      kind: 'Deployment',
      name: 'web',
      desired: 3,
      updated: 1,
      ready: 3,
      available: 3,
      phase: 'progressing',
      reason: '1 of 3 updated',
      commit: B,
    },
  ],
  drift: { drifted: false, kind: null, since: null },
};

describe.each(LANES)('rollout states (%s)', (laneName) => {
  let lane: LaneDb;
  let store: SqlRolloutStore;

  beforeEach(async () => {
    lane = await openLane(laneName);
    store = new SqlRolloutStore(lane.db);
    await lane.db.query(`
      INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/shop');
      INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac');
      INSERT INTO clusters (name, api_url) VALUES ('k8s', 'https://k8s.example.com');
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type)
        VALUES (1, 'main', 1, 'clusters/staging/shop', 1, 'flux');
    `);
  });
  afterEach(() => lane.drop());

  it('keeps the latest state of an environment and reads it back as it was', async () => {
    expect(await store.get(1)).toBeUndefined();
    await store.save(1, state);
    const healthy: RolloutState = {
      ...state,
      phase: 'healthy',
      reason: null,
      rollingOutCommit: null,
    };
    await store.save(1, healthy);
    const stored = await store.get(1);
    expect(stored?.state).toEqual(healthy);
    expect(stored?.reported).toBeNull();
    await store.markReported(1, 'key');
    expect((await store.get(1))?.reported).toBe('key');
  });

  it('reads a row edited into nonsense as none, and refuses a bad commit outright', async () => {
    await store.save(1, state);
    await lane.db.query(`UPDATE environment_rollouts SET state = '{"phase": "exploded"}'`);
    expect(await store.get(1)).toBeUndefined();
    await expect(
      store.save(1, { ...state, liveCommit: { sha: 'not a sha', from: 'pods' } }),
    ).rejects.toThrow(/environment_rollouts_live_commit_check/);
  });

  it("takes the committed commit from the environment's newest successful deploy", async () => {
    expect(await store.committed(1)).toBeNull();
    await lane.db.query(
      `INSERT INTO deploys (environment_id, sha, ref, state, updated_at) VALUES
         (1, $1, 'main', 'success', '2026-12-06T07:00:00Z'),
         (1, $2, 'main', 'failure', '2026-12-06T07:30:00Z')`,
      [A, B],
    );
    expect(await store.committed(1)).toEqual({
      sha: A,
      committedAt: new Date('2026-12-06T07:00:00Z'),
    });
  });

  it('tells the released commit (a merged promotion) apart from the newest committed one', async () => {
    await lane.db.query(
      `INSERT INTO deploys (environment_id, sha, ref, state, updated_at) VALUES
         (1, $1, 'main', 'success', '2026-12-06T07:00:00Z'),
         (1, $2, 'main', 'success', '2026-12-06T07:30:00Z')`,
      [A, B],
    );
    expect(await store.released(1)).toBeNull();
    await store.markReleased(1, A);
    expect((await store.released(1))?.sha).toBe(A);
    // B is committed (DAG wrote it to main) but not released (not merged into production yet).
    expect((await store.committed(1))?.sha).toBe(B);
    await store.markReleased(1, B);
    expect((await store.released(1))?.sha).toBe(B);
  });
});
