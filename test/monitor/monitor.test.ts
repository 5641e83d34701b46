// The monitor against a fake kube-apiserver that serves real watch streams: it lists and
// watches the environment's namespace, follows a rollout from progressing to healthy and then
// into a crash loop, survives a compacted history (410 Gone) and dropped connections, and one
// cluster is watched by one of two monitors on the same database, moving when its holder dies.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Monitor } from '../../src/monitor/monitor.ts';
import { WatchLeases } from '../../src/monitor/leases.ts';
import type { RolloutState } from '../../src/monitor/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import type { Db } from '../../src/store/db.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = `sa-${Math.random().toString(36).slice(2)}`;
const OLD = '1'.repeat(40);
const NEW = '2'.repeat(40);
const NS = 'apps';

let kube: FakeKubeApiserver;
let lane: LaneDb;
let config: SqlConfigStore;
let rollouts: SqlRolloutStore;
const monitors: Monitor[] = [];

const provenance = (sha: string) => ({
  'dag.dev/app': 'shop',
  'dag.dev/environment': 'staging',
  'dag.dev/source-commit': sha,
});

/** The release's Deployment as Helm made it, with `updated` of 2 replicas on commit `sha`. */
function deployment(sha: string, counts: { updated: number; ready: number; generation: number }) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'shop',
      namespace: NS,
      generation: counts.generation,
      annotations: { 'meta.helm.sh/release-name': 'shop', ...provenance(sha) },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' }, annotations: provenance(sha) },
        spec: { containers: [{ name: 'web', image: 'shop:1' }] },
      },
    },
  };
}

function deploymentStatus(counts: { updated: number; ready: number; generation: number }) {
  return {
    observedGeneration: counts.generation,
    replicas: 2,
    updatedReplicas: counts.updated,
    readyReplicas: counts.ready,
    availableReplicas: counts.ready,
    conditions: [
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', status: 'True', reason: 'ReplicaSetUpdated' },
    ],
  };
}

const DEPLOYMENT = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'shop', namespace: NS };
const POD = { apiVersion: 'v1', kind: 'Pod', name: 'shop-5d9c7b8f4-x2k9p', namespace: NS };

/** The release's pod (POD) on NEW, its one container not ready and waiting for `waiting`. */
function seedPod(
  phase: string,
  container: { restartCount: number; waiting: { reason: string; message: string } },
): void {
  kube.seed(
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'shop-5d9c7b8f4-x2k9p',
        namespace: NS,
        labels: { app: 'shop' },
        annotations: provenance(NEW),
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'shop-5d9c7b8f4', controller: true },
        ],
      },
      spec: { containers: [{ name: 'web', image: 'shop:1' }] },
    },
    {
      status: {
        phase,
        containerStatuses: [
          {
            name: 'web',
            ready: false,
            restartCount: container.restartCount,
            state: { waiting: container.waiting },
          },
        ],
      },
    },
  );
}

/** The app shop with staging (a plain chart in namespace apps) on the fake cluster `k8s`. */
async function configureShop(store: SqlConfigStore, db: Db): Promise<void> {
  await store.addCluster({
    name: 'k8s',
    apiUrl: kube.url,
    serviceAccountToken: TOKEN,
    caCert: kube.caCert,
  });
  await db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/shop');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
      VALUES (1, 'main', 1, 'clusters/staging/shop', 1, 'plain', '${NS}', 'staging');
  `);
}

async function stored(): Promise<RolloutState | undefined> {
  return (await rollouts.get(1))?.state;
}

async function until(check: (state: RolloutState | undefined) => boolean, what: string) {
  await waitFor(async () => check(await stored()), { what, timeoutMs: 20_000 });
}

function monitor(
  states: RolloutState[] = [],
  reconnects: string[] = [],
  mask?: (text: string) => string,
): Monitor {
  const m = new Monitor({
    ...(mask ? { mask } : {}),
    config,
    rollouts,
    leases: new WatchLeases(lane.db),
    log: quiet,
    onState: (_env, state) => states.push(state),
    onReconnect: (_cluster, kind, why) => reconnects.push(`${kind}:${why}`),
    roundMs: 60_000,
    settleMs: 20,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  monitors.push(m);
  return m;
}

beforeAll(async () => {
  kube = await startFakeKubeApiserver({ token: TOKEN, crds: FLUX_CRDS });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
});
afterAll(() => kube.stop());

beforeEach(async () => {
  lane = await openLane('embedded');
  config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  rollouts = new SqlRolloutStore(lane.db);
  await configureShop(config, lane.db);
  await lane.db.query(
    "INSERT INTO deploys (environment_id, sha, ref, state) VALUES (1, $1, 'main', 'success')",
    [NEW],
  );
  // Each test starts from a namespace without the release's objects.
  kube.remove(DEPLOYMENT);
  kube.remove(POD);
});

afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop()));
  kube.dropWatches();
  await lane.drop();
});

describe('cluster monitoring', () => {
  it('follows a rollout from progressing to healthy, then into a crash loop', async () => {
    const states: RolloutState[] = [];
    kube.seed(deployment(OLD, { updated: 2, ready: 2, generation: 1 }), {
      status: deploymentStatus({ updated: 2, ready: 2, generation: 1 }),
    });
    const m = monitor(states);
    await m.round();
    expect(m.watching).toEqual([1]);
    // The cluster still runs OLD, DAG committed NEW a moment ago: waiting for it.
    await until((s) => s?.phase === 'progressing', 'the rollout to be seen');
    expect((await stored())?.liveCommit?.sha).toBe(OLD);

    kube.update(deployment(NEW, { updated: 1, ready: 2, generation: 2 }));
    kube.setStatus(DEPLOYMENT, deploymentStatus({ updated: 1, ready: 2, generation: 2 }));
    await until((s) => s?.rollingOutCommit === NEW, 'NEW rolling out');

    kube.setStatus(DEPLOYMENT, deploymentStatus({ updated: 2, ready: 2, generation: 2 }));
    await until((s) => s?.phase === 'healthy', 'the rollout to finish');
    expect(await stored()).toMatchObject({
      phase: 'healthy',
      liveCommit: { sha: NEW },
      committedCommit: NEW,
      drift: { drifted: false },
    });

    seedPod('Running', {
      restartCount: 5,
      waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' },
    });
    await until((s) => s?.phase === 'failed', 'the crash loop');
    expect((await stored())?.reason).toMatch(/CrashLoopBackOff/);
    expect((await stored())?.reason).toMatch(/shop-5d9c7b8f4-x2k9p/);
    // Each reported change once, in order; no state reported twice in a row.
    expect(states.map((s) => s.phase)).toEqual(['progressing', 'progressing', 'healthy', 'failed']);
  });

  it('compares a cluster that reconciles another branch with the released commit (d1)', async () => {
    // NEW (beforeEach) is committed to main; production's cluster reconciles `production`,
    // into which a promotion merged OLD: OLD is what it should run.
    await lane.db.query("UPDATE apps_environments SET reconciled_branch = 'production'");
    await lane.db.query(
      `INSERT INTO deploys (environment_id, sha, ref, state, updated_at, released_at)
       VALUES (1, $1, 'main', 'success', now() - interval '2 hours', now() - interval '1 hour')`,
      [OLD],
    );
    kube.seed(deployment(OLD, { updated: 2, ready: 2, generation: 1 }), {
      status: deploymentStatus({ updated: 2, ready: 2, generation: 1 }),
    });
    const m = monitor();
    await m.round();
    await until((s) => s?.phase === 'healthy', 'the released commit seen healthy');
    expect(await stored()).toMatchObject({
      liveCommit: { sha: OLD },
      committedCommit: OLD,
      drift: { drifted: false },
    });
  });

  it("keeps a cluster's reason only with its secrets scrubbed", async () => {
    kube.seed(deployment(NEW, { updated: 1, ready: 1, generation: 2 }), {
      status: deploymentStatus({ updated: 1, ready: 1, generation: 2 }),
    });
    seedPod('Pending', {
      restartCount: 0,
      waiting: {
        reason: 'CreateContainerConfigError',
        message: 'secret "db" key password=hunter2-very-secret not found',
      },
    });
    const m = monitor([], [], (text) => text.replaceAll('hunter2-very-secret', '***'));
    await m.round();
    await until((s) => s?.reason?.includes('CreateContainerConfigError') ?? false, 'the reason');
    const kept = JSON.stringify(await stored());
    expect(kept).toContain('password=***');
    expect(kept).not.toContain('hunter2');
  });

  it('lists again after 410 Gone and watches again after dropped connections', async () => {
    const reconnects: string[] = [];
    kube.seed(deployment(NEW, { updated: 1, ready: 2, generation: 2 }), {
      status: deploymentStatus({ updated: 1, ready: 2, generation: 2 }),
    });
    const m = monitor([], reconnects);
    await m.round();
    await until((s) => s?.phase === 'progressing', 'the first state');
    await waitFor(() => kube.openWatches() >= 4, { what: 'the watches to open' });

    // The history is compacted and every connection cut: the watches come back from a new list.
    kube.compact();
    kube.dropWatches();
    await waitFor(() => kube.openWatches() >= 4, { what: 'the watches to reopen' });
    kube.setStatus(DEPLOYMENT, deploymentStatus({ updated: 2, ready: 2, generation: 2 }));
    await until((s) => s?.phase === 'healthy', 'the change made after the reconnect');
    expect(reconnects.length).toBeGreaterThan(0);
    const lists = kube.requests.filter(
      (r) => r.method === 'GET' && r.path === `/apis/apps/v1/namespaces/${NS}/deployments`,
    );
    expect(lists.filter((r) => r.query.watch === undefined).length).toBeGreaterThanOrEqual(1);
    expect(lists.some((r) => r.query.allowWatchBookmarks === 'true')).toBe(true);
  });

  it('watches a cluster from one of two monitors, and moves it when that one dies', async () => {
    kube.seed(deployment(NEW, { updated: 2, ready: 2, generation: 2 }), {
      status: deploymentStatus({ updated: 2, ready: 2, generation: 2 }),
    });
    const first = monitor();
    const second = monitor();
    await first.round();
    await second.round();
    expect(first.watching).toEqual([1]);
    expect(second.watching).toEqual([]);
    // The first dies without a word (SIGKILL): its lease runs out, the second takes the cluster.
    await lane.db.query(
      "UPDATE monitor_leases SET expires_at = clock_timestamp() - interval '1 second'",
    );
    await second.round();
    expect(second.watching).toEqual([1]);
    await until((s) => s?.phase === 'healthy', 'the second monitor to evaluate');
  });
});

describe('cluster monitoring in the DAG service', () => {
  it('runs in a worker process of DAG and finds environments added while it runs', async () => {
    const { startTestService } = await import('../helpers/service.ts');
    const dag = await startTestService({ DAG_MONITOR: 'on' });
    try {
      const store = new SqlConfigStore(
        dag.db,
        new Keyring(Buffer.from(dag.secrets.encryptionKey, 'hex')),
      );
      await configureShop(store, dag.db);
      kube.seed(deployment(NEW, { updated: 2, ready: 2, generation: 2 }), {
        status: deploymentStatus({ updated: 2, ready: 2, generation: 2 }),
      });
      const states = new SqlRolloutStore(dag.db);
      // The first lease round ran at start, before the environment existed: the next one (5 s)
      // finds it.
      await waitFor(async () => (await states.get(1))?.state.phase === 'healthy', {
        what: 'the service to watch the new environment',
        timeoutMs: 30_000,
      });
      expect((await states.get(1))?.state.liveCommit?.sha).toBe(NEW);
      const leases = await dag.db.query('SELECT name FROM monitor_leases');
      expect(leases.rows).toEqual([{ name: 'cluster:1' }]);
    } finally {
      await dag.close();
    }
  }, 60_000);
});
