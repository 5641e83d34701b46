// The rollout report on its own: what it posts for a committed deploy as the environment's
// rollout state changes, and that a rollout nobody sees finish is ended at its deadline, never
// left in progress.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RolloutState } from '../../src/monitor/types.ts';
import type { Platform } from '../../src/platform/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlDeployRollouts } from '../../src/store/deploy-rollouts.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';
import { reportRollouts, type RolloutReportDeps } from '../../src/workflows/rollout-report.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';

const SHA = 'a'.repeat(40);
const NEWER = 'b'.repeat(40);
const REPO = {
  provider: 'github' as const,
  fullName: 'org/shop',
  urls: ['https://github.com/org/shop'],
  webUrl: 'https://github.com/org/shop',
  installationId: 7,
};

type Posted = { id: string; state: string; description: string };

let lane: LaneDb;
let rollouts: SqlRolloutStore;
let posted: Posted[];
let deps: RolloutReportDeps;

/** A deploy of `sha` committed `minutesAgo`, its commit posted, its rollout pending. */
async function committed(sha: string, minutesAgo: number): Promise<number> {
  const request = {
    environmentId: 1,
    target: { iacId: 1, iacBranch: null },
    sha,
    branch: 'main',
    pusher: 'dev',
    commitUrl: `${REPO.webUrl}/commit/${sha}`,
    repo: REPO,
  };
  const { rows } = await lane.db.query<{ id: number }>(
    `INSERT INTO deploys (environment_id, sha, ref, state, reported_state, provider_deployment_id,
                          iac_commit, rollout, rollout_request, updated_at)
     VALUES (1, $1, 'main', 'success', 'success', $2, $3, 'pending', $4,
             now() - make_interval(mins => $5))
     RETURNING id`,
    [sha, `d-${sha.slice(0, 1)}`, 'c'.repeat(40), JSON.stringify(request), minutesAgo],
  );
  return Number(rows[0]?.id);
}

function state(patch: Partial<RolloutState>): RolloutState {
  return {
    phase: 'progressing',
    liveCommit: null,
    rollingOutCommit: null,
    committedCommit: SHA,
    reason: null,
    since: new Date(),
    workloads: [],
    drift: { drifted: false, kind: null, since: null },
    ...patch,
  };
}

beforeEach(async () => {
  lane = await openLane('embedded');
  const config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/shop');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac');
    INSERT INTO clusters (name, api_url) VALUES ('k8s', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, name)
      VALUES (1, 'main', 1, 'clusters/staging/shop', 1, 'flux', 'staging');
  `);
  rollouts = new SqlRolloutStore(lane.db);
  posted = [];
  const platform = {
    provider: 'github',
    setDeploymentState: async (
      _repo: unknown,
      deployment: { id: string },
      update: { state: string; description: string },
    ) => {
      posted.push({ id: deployment.id, state: update.state, description: update.description });
    },
  } as unknown as Platform;
  deps = {
    config,
    deploys: new SqlDeployRollouts(lane.db),
    rollouts,
    platformFor: async () => platform,
    log: quiet,
    deadlineMs: 30 * 60_000,
  };
});
afterEach(() => lane.drop());

describe('the rollout report', () => {
  it('posts nothing while the rollout is pending, then success once it runs healthy, once', async () => {
    await committed(SHA, 1);
    await rollouts.save(1, state({ rollingOutCommit: SHA }));
    expect(await reportRollouts(1, deps)).toBe(0);
    await rollouts.save(
      1,
      state({ phase: 'healthy', liveCommit: { sha: SHA, from: 'workloads' } }),
    );
    expect(await reportRollouts(1, deps)).toBe(1);
    // Asked again (a later state change): nothing new to say.
    expect(await reportRollouts(1, deps)).toBe(0);
    expect(posted).toEqual([
      { id: 'd-a', state: 'success', description: 'staging runs aaaaaaa, healthy' },
    ]);
  });

  it("keeps a secret in a cluster's reason out of the status", async () => {
    await committed(SHA, 1);
    await rollouts.save(
      1,
      state({
        phase: 'failed',
        rollingOutCommit: SHA,
        reason:
          'pod web-1: CreateContainerError: token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB refused',
      }),
    );
    await reportRollouts(1, { ...deps, mask: (text) => text.replace(/ghp_\w+/g, '***') });
    expect(posted).toEqual([
      {
        id: 'd-a',
        state: 'failure',
        description: 'Rollout failed: pod web-1: CreateContainerError: token *** refused',
      },
    ]);
  });

  it('ends a failed rollout that recovers as success', async () => {
    await committed(SHA, 3);
    await rollouts.save(1, state({ phase: 'failed', rollingOutCommit: SHA, reason: 'OOMKilled' }));
    await reportRollouts(1, deps);
    await rollouts.save(
      1,
      state({ phase: 'healthy', liveCommit: { sha: SHA, from: 'workloads' } }),
    );
    await reportRollouts(1, deps);
    expect(posted).toEqual([
      { id: 'd-a', state: 'failure', description: 'Rollout failed: OOMKilled' },
      { id: 'd-a', state: 'success', description: 'staging runs aaaaaaa, healthy' },
    ]);
  });

  it('ends a rollout superseded by a newer commit as inactive; the newer one stays pending', async () => {
    await committed(SHA, 3);
    await committed(NEWER, 1);
    await rollouts.save(1, state({ committedCommit: NEWER, rollingOutCommit: SHA }));
    expect(await reportRollouts(1, deps)).toBe(1);
    expect(posted).toEqual([
      {
        id: 'd-a',
        state: 'inactive',
        description: 'Superseded before it rolled out: bbbbbbb was committed after it',
      },
    ]);
  });

  it('ends a rollout nobody saw finish at its deadline, as failed with what the cluster showed', async () => {
    await committed(SHA, 29);
    expect(await reportRollouts(1, deps)).toBe(0);
    await lane.db.query("UPDATE deploys SET updated_at = now() - interval '31 minutes'");
    expect(await reportRollouts(1, deps)).toBe(1);
    expect(posted).toEqual([
      {
        id: 'd-a',
        state: 'failure',
        description:
          'Rollout failed: not running in staging 30 minutes after its IAC commit (monitoring has not seen the environment)',
      },
    ]);
  });
});
