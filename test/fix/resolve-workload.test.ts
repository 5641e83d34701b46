// resolveWorkload against a fake kube-apiserver over HTTPS holding real owner chains, with the
// clusters, apps and environments of a small store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClients } from '../../src/k8s/client.ts';
import {
  MAX_OWNER_DEPTH,
  resolveWorkload,
  type WorkloadInput,
  type WorkloadResolution,
  type WorkloadResolved,
  type WorkloadUnresolved,
} from '../../src/fix/resolve-workload.ts';
import type { ConfigStore } from '../../src/store/types.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
  type Json,
} from '../helpers/fake-kube-apiserver.ts';
import { freePort } from '../helpers/free-port.ts';
import { everythingIn, memoryLog, newToken } from '../k8s/support.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import type { App, Cluster, Environment } from '../../src/model.ts';

const token = newToken();
let fake: FakeKubeApiserver;
let deps: Parameters<typeof resolveWorkload>[1];

function app(id: number, name: string): App {
  return appFixture({
    id,
    repoUrl: `https://x-access-token:secret-in-url@github.com/acme/${name}`,
    name,
  });
}

let nextEnvId = 1;
function env(
  appId: number,
  name: string,
  clusterId: number,
  helm: { namespace: string | null; name: string | null; type?: 'flux' | 'plain' },
): Environment {
  return {
    id: nextEnvId++,
    appId,
    name,
    branch: 'main',
    iacId: 1,
    iacPath: `clusters/${name}/${appId}`,
    clusterId,
    helmType: helm.type ?? 'flux',
    helmNamespace: helm.namespace,
    helmName: helm.name,
    iacBranch: null,
    reconciledBranch: null,
    rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
    createdAt: new Date(0),
  };
}

const APPS = [app(1, 'shop'), app(2, 'billing'), app(3, 'jobs'), app(4, 'search')];
const ENVIRONMENTS = [
  env(1, 'production', 1, { namespace: 'shop', name: 'web' }),
  env(1, 'staging', 2, { namespace: 'shop', name: 'web' }), // the same names, another cluster
  env(2, 'production', 1, { namespace: 'billing', name: null, type: 'plain' }), // release "billing"
  env(3, 'production', 1, { namespace: 'jobs', name: 'jobs-worker' }),
  env(1, 'canary', 1, { namespace: 'shared', name: 'api' }),
  env(4, 'canary', 1, { namespace: 'shared', name: 'api' }), // the same release: ambiguous
];

/** The store's read side over fixed rows, plus what ClusterClients reads. */
function memoryStore(clusters: Array<Cluster & { token: string | null }>) {
  const store: Pick<
    ConfigStore,
    'findCluster' | 'listApps' | 'listEnvironments' | 'getCluster' | 'clusterToken'
  > = {
    async findCluster(ref) {
      return (
        clusters.find((c) => /^\d+$/.test(ref) && c.id === Number(ref)) ??
        clusters.find((c) => c.name === ref)
      );
    },
    async listApps() {
      return APPS;
    },
    async listEnvironments() {
      return ENVIRONMENTS;
    },
    async getCluster(id) {
      return clusters.find((c) => c.id === id);
    },
    async clusterToken(id) {
      return clusters.find((c) => c.id === id)?.token ?? null;
    },
  };
  return store;
}

const workloadMeta = (
  name: string,
  namespace: string,
  extra: { annotations?: Record<string, string>; labels?: Record<string, string> } = {},
) => ({ name, namespace, ...extra });

function podSpec(): Json {
  return { containers: [{ name: 'app', image: 'ghcr.io/acme/app:1.0.0' }] };
}

function ownedBy(owner: Json): Json[] {
  const meta = owner.metadata as { name: string; uid: string };
  return [
    {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      name: meta.name,
      uid: meta.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

const provenance = (appName: string, envName: string) => ({
  'dag.dev/app': appName,
  'dag.dev/environment': envName,
  'dag.dev/source-commit': 'a'.repeat(40),
});

function seedPod(name: string, namespace: string, owner: Json | undefined, meta: Json = {}): Json {
  return fake.seed({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace,
      ...meta,
      ...(owner ? { ownerReferences: ownedBy(owner) } : {}),
    },
    spec: podSpec(),
  });
}

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token, crds: FLUX_CRDS });
  for (const name of ['shop', 'billing', 'jobs', 'shared', 'orphans']) {
    fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const down = `https://127.0.0.1:${await freePort()}`;
  const store = memoryStore([
    row(1, 'prod', fake.url, token),
    row(2, 'staging', fake.url, token),
    row(3, 'down', down, token),
    row(4, 'tokenless', fake.url, null),
  ]);
  const { log } = memoryLog();
  deps = { store, clusters: new ClusterClients({ store, log, timeoutMs: 10_000 }) };

  // Pod -> ReplicaSet -> Deployment, stamped as DAG's chart does: the Deployment and its pods.
  const web = fake.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: workloadMeta('web', 'shop', { annotations: provenance('shop', 'production') }),
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' }, annotations: provenance('shop', 'production') },
        spec: podSpec(),
      },
    },
  });
  const rs = fake.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-7d9f', namespace: 'shop', ownerReferences: ownedBy(web) },
    spec: { selector: { matchLabels: { app: 'web' } } },
  });
  seedPod('web-7d9f-abc', 'shop', rs, { annotations: provenance('shop', 'production') });

  // Pod -> Job -> CronJob, provenance on the CronJob's pod template only.
  const report = fake.seed({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'report', namespace: 'billing' },
    spec: {
      schedule: '0 * * * *',
      jobTemplate: {
        spec: {
          template: {
            metadata: { annotations: provenance('billing', 'production') },
            spec: podSpec(),
          },
        },
      },
    },
  });
  const job = fake.seed({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'report-29000000', namespace: 'billing', ownerReferences: ownedBy(report) },
    spec: { template: { spec: podSpec() } },
  });
  seedPod('report-29000000-xk2p', 'billing', job);

  // A StatefulSet with Helm's release metadata only (a plain-chart environment).
  const db = fake.seed({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: workloadMeta('billing-db', 'billing', {
      annotations: {
        'meta.helm.sh/release-name': 'billing',
        'meta.helm.sh/release-namespace': 'billing',
      },
      labels: { 'app.kubernetes.io/managed-by': 'Helm' },
    }),
    spec: { serviceName: 'billing-db', template: { spec: podSpec() } },
  });
  seedPod('billing-db-0', 'billing', db);

  // A DaemonSet with only the app.kubernetes.io/instance label Helm charts put on their objects.
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: workloadMeta('web-agent', 'shop', {
      labels: { 'app.kubernetes.io/instance': 'web' },
    }),
    spec: { template: { spec: podSpec() } },
  });

  // Flux labels only, and the HelmRelease they name carries DAG's provenance.
  fake.seed({
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: workloadMeta('jobs-worker', 'jobs', {
      annotations: provenance('jobs', 'production'),
    }),
    spec: { releaseName: 'jobs-worker', interval: '5m' },
  });
  const fluxLabels = (name: string) => ({
    'helm.toolkit.fluxcd.io/name': name,
    'helm.toolkit.fluxcd.io/namespace': 'jobs',
  });
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: workloadMeta('worker', 'jobs', { labels: fluxLabels('jobs-worker') }),
    spec: {
      selector: { matchLabels: { app: 'worker' } },
      template: { metadata: { labels: { app: 'worker' } }, spec: podSpec() },
    },
  });
  // Flux labels naming a HelmRelease that is gone: matched by the name DAG renders.
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: workloadMeta('worker-cache', 'jobs', { labels: fluxLabels('jobs-worker') }),
    spec: { template: { spec: podSpec() } },
  });
  // ... and one naming a HelmRelease no environment renders.
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: workloadMeta('stranger', 'jobs', { labels: fluxLabels('someone-else') }),
    spec: { template: { spec: podSpec() } },
  });

  // Provenance that names an environment on another cluster, and one in another namespace.
  seedPod('impostor', 'shop', undefined, { annotations: provenance('shop', 'staging') });
  seedPod('misplaced', 'billing', undefined, { annotations: provenance('shop', 'production') });

  // Two environments on this cluster install release "api" in namespace "shared".
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: workloadMeta('api', 'shared', {
      annotations: {
        'meta.helm.sh/release-name': 'api',
        'meta.helm.sh/release-namespace': 'shared',
      },
    }),
    spec: {
      selector: { matchLabels: { app: 'api' } },
      template: { metadata: { labels: { app: 'api' } }, spec: podSpec() },
    },
  });

  // A bare Pod with provenance, and one with nothing at all.
  seedPod('debug', 'shop', undefined, { annotations: provenance('shop', 'production') });
  seedPod('lonely', 'orphans', undefined, { labels: { run: 'lonely' } });

  // A ReplicaSet whose owner was recreated (the uid differs), and an owner cycle.
  const ghostOwner = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', uid: '00000000-0000-0000-0000-000000000000' },
  };
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-old', namespace: 'shop', ownerReferences: ownedBy(ghostOwner) },
    spec: { selector: { matchLabels: { app: 'web' } } },
  });
  const loopA = fake.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'loop-a', namespace: 'orphans' },
  });
  const loopB = fake.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'loop-b', namespace: 'orphans', ownerReferences: ownedBy(loopA) },
  });
  fake.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'loop-a', namespace: 'orphans', ownerReferences: ownedBy(loopB) },
  });
});

afterAll(async () => {
  await fake?.stop();
});

function row(id: number, name: string, apiUrl: string, saToken: string | null) {
  return {
    id,
    name,
    apiUrl,
    caCert: fake.caCert,
    hasToken: saToken !== null,
    token: saToken,
    createdAt: new Date(0),
  };
}

async function resolved(input: WorkloadInput): Promise<WorkloadResolved> {
  const result = await resolveWorkload(input, deps);
  if (!result.ok) throw new Error(`not resolved: ${JSON.stringify(result, null, 2)}`);
  return result;
}

async function unresolved(input: WorkloadInput): Promise<WorkloadUnresolved> {
  const result = await resolveWorkload(input, deps);
  if (result.ok) throw new Error(`resolved: ${JSON.stringify(result, null, 2)}`);
  return result;
}

const where = (r: WorkloadResolution) =>
  r.ok ? `${r.app.name}/${r.environment.name} ${r.matchedBy}` : `${r.status}`;

describe('resolveWorkload: owner chains', () => {
  it('Pod -> ReplicaSet -> Deployment, by the provenance DAG stamps', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'Pod',
      name: 'web-7d9f-abc',
    });
    expect(result).toMatchObject({
      app: { id: 1, name: 'shop' },
      environment: { name: 'production', namespace: 'shop', releaseName: 'web', helmType: 'flux' },
      cluster: { id: 1, name: 'prod' },
      workload: { kind: 'Deployment', name: 'web', namespace: 'shop' },
      chain: [
        { kind: 'Pod', name: 'web-7d9f-abc', namespace: 'shop' },
        { kind: 'ReplicaSet', name: 'web-7d9f', namespace: 'shop' },
        { kind: 'Deployment', name: 'web', namespace: 'shop' },
      ],
      matchedBy: 'provenance',
    });
    expect(result.via).toEqual([
      'Pod shop/web-7d9f-abc: owner ReplicaSet web-7d9f',
      'ReplicaSet shop/web-7d9f: owner Deployment web',
      'Deployment shop/web: dag.dev/app=shop, dag.dev/environment=production',
    ]);
    // The app's repository URL (which may hold credentials) is not part of the answer.
    expect(JSON.stringify(result)).not.toContain('secret-in-url');
  });

  it('reads owners through the API server by group, version and kind', async () => {
    const before = fake.requests.length;
    await resolved({ cluster: 1, namespace: 'shop', kind: 'pod', name: 'web-7d9f-abc' });
    const gets = fake.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && r.path.includes('/namespaces/'))
      .map((r) => r.path);
    expect(gets).toEqual([
      '/api/v1/namespaces/shop/pods/web-7d9f-abc',
      '/apis/apps/v1/namespaces/shop/replicasets/web-7d9f',
      '/apis/apps/v1/namespaces/shop/deployments/web',
    ]);
  });

  it('Pod -> Job -> CronJob, by the provenance on the CronJob pod template', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'billing',
      kind: 'Pod',
      name: 'report-29000000-xk2p',
    });
    expect(where(result)).toBe('billing/production provenance');
    expect(result.workload).toEqual({ kind: 'CronJob', name: 'report', namespace: 'billing' });
    expect(result.chain.map((c) => c.kind)).toEqual(['Pod', 'Job', 'CronJob']);
    expect(result.via).toContain(
      'CronJob billing/report pod template: dag.dev/app=billing, dag.dev/environment=production',
    );
  });

  it('a StatefulSet from its pod, by Helm release metadata', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'billing',
      kind: 'Pod',
      name: 'billing-db-0',
    });
    expect(where(result)).toBe('billing/production helm-release');
    expect(result.workload).toEqual({
      kind: 'StatefulSet',
      name: 'billing-db',
      namespace: 'billing',
    });
    expect(result.environment).toMatchObject({ releaseName: 'billing', helmType: 'plain' });
    expect(result.via).toContain(
      'StatefulSet billing/billing-db: Helm release billing in billing (meta.helm.sh/release-name)',
    );
  });

  it('a DaemonSet with only the app.kubernetes.io/instance label', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'DaemonSet',
      name: 'web-agent',
    });
    expect(where(result)).toBe('shop/production helm-release');
    expect(result.chain).toEqual([{ kind: 'DaemonSet', name: 'web-agent', namespace: 'shop' }]);
  });

  it('a bare Pod is its own workload', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'Pod',
      name: 'debug',
    });
    expect(where(result)).toBe('shop/production provenance');
    expect(result.workload).toEqual({ kind: 'Pod', name: 'debug', namespace: 'shop' });
  });

  it('stops at an owner that was recreated (its uid differs)', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'ReplicaSet',
      name: 'web-old',
    });
    expect(result.status).toBe(404);
    expect(result.lookedAt).toContain(
      'Deployment shop/web: a different object of that name (uid differs), not followed',
    );
  });

  it('follows at most a bounded number of owners', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'orphans',
      kind: 'ReplicaSet',
      name: 'loop-a',
    });
    expect(result.status).toBe(404);
    const followed = result.lookedAt.filter((line) => /: owner ReplicaSet loop-[ab]$/.test(line));
    expect(followed).toHaveLength(MAX_OWNER_DEPTH);
    expect(
      result.lookedAt.some((line) => line.includes(`more than ${MAX_OWNER_DEPTH} owners`)),
    ).toBe(true);
  });
});

describe('resolveWorkload: Flux', () => {
  it('labels helm-controller sets lead to the HelmRelease and its provenance', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'jobs',
      kind: 'Deployment',
      name: 'worker',
    });
    expect(where(result)).toBe('jobs/production flux-helmrelease');
    expect(result.via).toEqual([
      'Deployment jobs/worker: installed by HelmRelease jobs/jobs-worker (Flux labels)',
      'HelmRelease jobs/jobs-worker: dag.dev/app=jobs, dag.dev/environment=production',
    ]);
  });

  it('a HelmRelease that is gone is matched by the name the environment renders', async () => {
    const result = await resolved({
      cluster: 'prod',
      namespace: 'jobs',
      kind: 'StatefulSet',
      name: 'worker-cache',
    });
    expect(where(result)).toBe('jobs/production flux-helmrelease');
    const again = await resolveWorkload(
      { cluster: 'prod', namespace: 'jobs', kind: 'StatefulSet', name: 'stranger' },
      deps,
    );
    expect(again).toMatchObject({ ok: false, status: 404 });
    expect(again.ok ? [] : again.lookedAt).toEqual([
      'StatefulSet jobs/stranger: no controller owner',
      'StatefulSet jobs/stranger: no dag.dev/app/dag.dev/environment',
      'StatefulSet jobs/stranger: no Helm release metadata',
      'StatefulSet jobs/stranger: installed by HelmRelease jobs/someone-else (Flux labels)',
      'HelmRelease jobs/someone-else: not found on cluster prod',
      'no Flux environment on cluster prod renders HelmRelease jobs/someone-else',
    ]);
  });
});

describe('resolveWorkload: refusals', () => {
  it('refuses provenance naming an environment on another cluster', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'Pod',
      name: 'impostor',
    });
    expect(result.status).toBe(404);
    expect(result.error).toBe(
      'DAG cannot trace Pod shop/impostor on cluster prod to an environment: no dag.dev/app/dag.dev/environment it trusts, no Helm release or Flux HelmRelease of an environment on this cluster',
    );
    expect(result.lookedAt).toContain(
      'Pod shop/impostor annotations: dag.dev/app=shop, dag.dev/environment=staging, but that environment deploys to another cluster, not prod: refused',
    );
  });

  it('the same annotation is trusted on the cluster the environment is on', async () => {
    const result = await resolved({
      cluster: 'staging',
      namespace: 'shop',
      kind: 'Pod',
      name: 'impostor',
    });
    expect(where(result)).toBe('shop/staging provenance');
    expect(result.cluster).toEqual({ id: 2, name: 'staging' });
  });

  it('refuses provenance naming an environment of another namespace', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'billing',
      kind: 'Pod',
      name: 'misplaced',
    });
    expect(result.status).toBe(404);
    expect(result.lookedAt).toContain(
      'Pod billing/misplaced annotations: dag.dev/app=shop, dag.dev/environment=production, but that environment deploys to namespace shop, not billing: refused',
    );
  });

  it('two environments installing the same release: 409 naming both', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'shared',
      kind: 'Deployment',
      name: 'api',
    });
    expect(result.status).toBe(409);
    expect(result.error).toBe(
      'Deployment shared/api on cluster prod matches more than one environment (helm-release): shop/canary and search/canary',
    );
    expect(result.candidates?.map((c) => `${c.app.name}/${c.environment.name}`)).toEqual([
      'shop/canary',
      'search/canary',
    ]);
  });

  it('a workload DAG cannot trace: 404 saying what was looked at', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'orphans',
      kind: 'Pod',
      name: 'lonely',
    });
    expect(result.status).toBe(404);
    expect(result.lookedAt).toEqual([
      'Pod orphans/lonely: no controller owner',
      'Pod orphans/lonely: no dag.dev/app/dag.dev/environment',
      'Pod orphans/lonely: no Helm release metadata',
      'Pod orphans/lonely: no helm.toolkit.fluxcd.io/name/helm.toolkit.fluxcd.io/namespace labels',
    ]);
  });

  it('an object that does not exist: 404 naming it', async () => {
    const result = await unresolved({
      cluster: 'prod',
      namespace: 'shop',
      kind: 'Deployment',
      name: 'ghost',
    });
    expect(result).toEqual({
      ok: false,
      status: 404,
      error: 'Deployment shop/ghost not found on cluster prod',
      lookedAt: ['Deployment shop/ghost: not found on cluster prod'],
    });
  });

  it('a cluster DAG does not know: 404', async () => {
    const result = await unresolved({
      cluster: 'nowhere',
      namespace: 'shop',
      kind: 'Pod',
      name: 'x',
    });
    expect(result).toMatchObject({ status: 404, error: 'DAG has no cluster nowhere' });
  });
});

describe('resolveWorkload: cluster failures', () => {
  it('an unreachable cluster: 503 with the reason', async () => {
    const result = await unresolved({
      cluster: 'down',
      namespace: 'shop',
      kind: 'Pod',
      name: 'web',
    });
    expect(result.status).toBe(503);
    expect(result.error).toMatch(/^cluster down is unreachable at https:\/\/127\.0\.0\.1:\d+: /);
    expect(result.lookedAt).toEqual(['cluster down: unreachable']);
  });

  it('a cluster without a token: 503 saying so', async () => {
    const result = await unresolved({
      cluster: 'tokenless',
      namespace: 'shop',
      kind: 'Pod',
      name: 'web',
    });
    expect(result.status).toBe(503);
    expect(result.error).toMatch(/^cluster tokenless has no service-account token/);
  });

  it('DAG may not read pods: 502 naming the permission, never the token', async () => {
    fake.setForbidden({ verb: 'get', resource: 'replicasets', namespace: 'shop' });
    try {
      const result = await resolveWorkload(
        { cluster: 'prod', namespace: 'shop', kind: 'Pod', name: 'web-7d9f-abc' },
        deps,
      );
      // The pod itself is readable; its owner is not, so the pod's own provenance decides.
      expect(where(result)).toBe('shop/production provenance');
      expect(result.ok ? result.workload : undefined).toEqual({
        kind: 'Pod',
        name: 'web-7d9f-abc',
        namespace: 'shop',
      });
      fake.setForbidden({ verb: 'get', resource: 'pods', namespace: 'shop' });
      const denied = await unresolved({
        cluster: 'prod',
        namespace: 'shop',
        kind: 'Pod',
        name: 'web-7d9f-abc',
      });
      expect(denied.status).toBe(502);
      expect(denied.error).toContain('get pods in namespace shop');
      expect(everythingIn(denied)).not.toContain(token);
    } finally {
      fake.clearForbidden();
    }
  });
});

describe('resolveWorkload: input', () => {
  it.each([
    [{ cluster: 'prod', namespace: 'shop', kind: 'Service', name: 'web' }, 'kind'],
    [{ cluster: 'prod', namespace: 'Shop', kind: 'Pod', name: 'web' }, 'namespace'],
    [{ cluster: 'prod', namespace: 'x'.repeat(64), kind: 'Pod', name: 'web' }, 'namespace'],
    [{ cluster: 'prod', namespace: 'shop', kind: 'Pod', name: 'web/../x' }, 'name'],
    [{ cluster: 'prod', namespace: 'shop', kind: 'Pod', name: 'a'.repeat(254) }, 'name'],
    [{ cluster: 'prod\n', namespace: 'shop', kind: 'Pod', name: 'web' }, 'cluster'],
    [{ cluster: -1, namespace: 'shop', kind: 'Pod', name: 'web' }, 'cluster'],
  ] as const)('%j: 400 on %s', async (input, field) => {
    const before = fake.requests.length;
    const result = await unresolved(input);
    expect(result).toMatchObject({ status: 400, field, lookedAt: [] });
    expect(result.error.startsWith(`${field}: `)).toBe(true);
    expect(fake.requests.length).toBe(before);
  });
});
