// `dag envs status`: what runs where, as cluster monitoring last saw it, the same state the MCP
// tool get_environment answers with (src/monitor/status.ts).

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';

const COMMITTED = 'c'.repeat(40);
const LIVE = 'b'.repeat(40);

let dag: Dag;
let running: Db | undefined;

beforeAll(async () => {
  const dir = tempDir('dag-envs-status-');
  running = await runningDatabase(path.join(dir, 'data'));
  dag = dagWith({ DAG_DATA_DIR: path.join(dir, 'data'), DAG_ENCRYPTION_KEY: randomKey() });
  await runSteps(dag, appWithStaging('github', 'https://github.com/org/my-app'));
}, 120_000);
afterAll(() => running?.close());

describe('dag envs status', () => {
  it('says an environment monitoring has not seen is not observed, with its committed commit', async () => {
    await running?.query(
      "INSERT INTO deploys (environment_id, sha, ref, state) VALUES (1, $1, 'main', 'success')",
      [COMMITTED],
    );
    const result = await dag(['envs', 'status', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      {
        app: 'my-app',
        environment: 'staging',
        cluster: 'k8s',
        committedCommit: COMMITTED,
        liveCommit: null,
        rollingOutCommit: null,
        phase: 'not-observed',
        reason: null,
        since: null,
        drift: { drifted: false, kind: null, since: null },
        observedAt: null,
      },
    ]);
  });

  it('shows the rollout monitoring stored: live commit, phase, since, drift, reason', async () => {
    await new SqlRolloutStore(running as Db).save(1, {
      phase: 'failed',
      liveCommit: { sha: LIVE, from: 'workloads' },
      rollingOutCommit: COMMITTED,
      committedCommit: COMMITTED,
      reason:
        'Deployment my-app: CrashLoopBackOff of container web in pod my-app-7d9f-x1 (restarts 5)',
      since: new Date('2026-12-06T08:00:00.000Z'),
      workloads: [],
      drift: { drifted: false, kind: null, since: null },
    });
    const json = JSON.parse((await dag(['envs', 'status', '--json'])).stdout) as object[];
    expect(json[0]).toMatchObject({
      committedCommit: COMMITTED,
      liveCommit: LIVE,
      rollingOutCommit: COMMITTED,
      phase: 'failed',
      since: '2026-12-06T08:00:00.000Z',
      observedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const table = (await dag(['envs', 'status'])).stdout.trimEnd().split('\n');
    expect(table[0]).toMatch(
      /^APP\s+NAME\s+CLUSTER\s+COMMITTED\s+LIVE\s+ROLLOUT\s+SINCE\s+DRIFT\s+REASON$/,
    );
    expect(table[1]).toMatch(
      /^my-app\s+staging\s+k8s\s+ccccccc\s+bbbbbbb\s+failed \(to ccccccc\)\s+2026-12-06T08:00:00.000Z\s+no\s+Deployment my-app: CrashLoopBackOff/,
    );
  });
});
