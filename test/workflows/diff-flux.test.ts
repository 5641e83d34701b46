// The live diff of a Flux environment is of what Flux applies: the folder as kustomize builds it,
// dry-run applied on a fake kube-apiserver that holds what the folder built to before.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClusterClients, type ClusterClient } from '../../src/k8s/client.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { kustomizeBuild } from '../../src/render/kustomize-build.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import { previewEnvironment } from '../../src/workflows/diff.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { memoryLog, newToken, rowStore } from '../k8s/support.ts';
import { bundleInput } from '../render/bundle-input.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import type { Environment } from '../../src/model.ts';

const token = newToken();
const templates = loadTemplates();
let fake: FakeKubeApiserver;
let client: ClusterClient;

const app = appFixture();

const env: Environment = {
  id: 1,
  appId: 1,
  name: 'staging',
  branch: 'main',
  iacId: 1,
  iacPath: 'clusters/staging/my-app',
  clusterId: 1,
  helmType: 'flux',
  helmNamespace: 'apps',
  helmName: 'my-app',
  iacBranch: null,
  reconciledBranch: null,
  rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
  createdAt: new Date(0),
};

const OLD_SHA = 'a'.repeat(40);
const NEW_SHA = 'b'.repeat(40);

/** The folder DAG renders for `sha` with these values. */
function folder(sha: string, values: Record<string, unknown>): Record<string, string> {
  return renderBundle(
    bundleInput({ source: { sha }, values: { base: values, environment: {} } }),
    templates,
  ).files;
}

const OLD_VALUES = {
  replicaCount: 1,
  database: { host: 'db.internal', password: 'old-db-password-1' },
  env: [{ name: 'DB_PASSWORD', value: 'env-secret-unchanged-2' }],
};
const NEW_VALUES = {
  replicaCount: 2,
  database: { host: 'db.internal', password: 'new-db-password-3' },
  env: [{ name: 'DB_PASSWORD', value: 'env-secret-unchanged-2' }],
};
const SECRETS = ['old-db-password-1', 'env-secret-unchanged-2', 'new-db-password-3'];

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token, crds: FLUX_CRDS });
  const { store } = rowStore(
    new Map([[1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token }]]),
  );
  client = await new ClusterClients({ store, log: memoryLog().log }).get(1);
});
afterAll(() => fake?.stop());

beforeEach(() => {
  fake.objects.clear();
  fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
});

async function preview(current: Record<string, string>, files: Record<string, string>) {
  return previewEnvironment(
    { env, app, current, files, notes: [] },
    { clusters: { get: async () => client } },
  );
}

describe('the live diff of a Flux environment', () => {
  it('shows a values change as the values ConfigMap replaced, masked, with the HelmRelease pointing at it', async () => {
    const current = folder(OLD_SHA, OLD_VALUES);
    // What runs: the current folder as Flux applied it.
    const running = kustomizeBuild(current);
    for (const object of running) fake.seed(object, { manager: 'dag' });
    const oldConfigMap = running.find((o) => o.kind === 'ConfigMap')?.metadata.name ?? '';
    expect(oldConfigMap).toMatch(/^my-app-values-[a-z0-9]{10}$/);

    const result = await preview(current, folder(NEW_SHA, NEW_VALUES));

    expect(result.validation).toEqual({ result: 'passed' });
    const newConfigMap = result.objects.find(
      (o) => o.kind === 'ConfigMap' && o.change === 'created',
    )?.name;
    expect(newConfigMap).toMatch(/^my-app-values-[a-z0-9]{10}$/);
    expect(newConfigMap).not.toBe(oldConfigMap);
    expect(result.objects.map((o) => [o.kind, o.name, o.change]).sort()).toEqual(
      [
        ['ConfigMap', newConfigMap, 'created'],
        ['ConfigMap', oldConfigMap, 'deleted'],
        ['GitRepository', 'my-app', 'changed'],
        ['HelmRelease', 'my-app', 'changed'],
      ].sort(),
    );

    const release = result.objects.find((o) => o.kind === 'HelmRelease')?.diff ?? '';
    expect(release).toContain(`-      name: ${oldConfigMap}`);
    expect(release).toContain(`+      name: ${newConfigMap}`);

    // The new values are shown, secrets masked by what they are, each marker against the old
    // values: the password changed, the env value did not.
    const created = result.objects.find((o) => o.name === newConfigMap)?.diff ?? '';
    expect(created).toContain('replicaCount: 2');
    expect(created).toMatch(/password: "?\*\*\* \(value changed\)/);
    expect(created).toMatch(/value: "?\*\*\* \(value unchanged\)/);
    const deleted = result.objects.find((o) => o.name === oldConfigMap)?.diff ?? '';
    expect(deleted).toContain('replicaCount: 1');
    expect(deleted).toMatch(/password: "?\*\*\* \(old value\)/);
    for (const secret of SECRETS) expect(JSON.stringify(result)).not.toContain(secret);
  });

  it('shows nothing changed for the folder that runs, and every object on the first deploy', async () => {
    const current = folder(OLD_SHA, OLD_VALUES);
    for (const object of kustomizeBuild(current)) fake.seed(object, { manager: 'dag' });

    const same = await preview(current, current);
    expect(same.objects.map((o) => o.change)).toEqual(['unchanged', 'unchanged', 'unchanged']);

    fake.objects.clear();
    fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
    const first = await preview({}, current);
    expect(first.objects.map((o) => [o.kind, o.change])).toEqual([
      ['ConfigMap', 'created'],
      ['GitRepository', 'created'],
      ['HelmRelease', 'created'],
    ]);
    expect(first.notes.join('\n')).toContain(
      "The workload-level diff (what the HelmRelease's chart renders) is not shown: no `helm` binary is available",
    );
    const fromHelmRepository = await previewEnvironment(
      {
        env,
        app: { ...app, chart: { ...app.chart, source: 'helm', name: 'my-app' } },
        current,
        files: current,
        notes: [],
      },
      { clusters: { get: async () => client }, helmTemplate: async () => ({ objects: [] }) },
    );
    expect(fromHelmRepository.notes.join('\n')).toContain(
      'Flux fetches the chart from its Helm repository in the cluster, and DAG does not fetch it',
    );
    for (const secret of SECRETS) expect(JSON.stringify(first)).not.toContain(secret);
  });

  it('answers a kustomization it does not build with the reason, keeping the IAC diff', async () => {
    const files = folder(NEW_SHA, NEW_VALUES);
    const edited = {
      ...files,
      'kustomization.yaml': `${files['kustomization.yaml'] ?? ''}namePrefix: x-\n`,
    };
    const result = await preview({}, edited);
    expect(result.validation).toEqual({
      result: 'skipped',
      reason: 'the kustomization cannot be built',
    });
    expect(result.objects).toEqual([]);
    expect(result.iacFiles.length).toBeGreaterThan(0);
    expect(result.notes.join('\n')).toContain('`namePrefix` is not built by DAG');
  });
});
