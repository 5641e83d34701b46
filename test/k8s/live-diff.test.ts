import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClusterClients, type ClusterClient } from '../../src/k8s/client.ts';
import { liveState, type ObjectState } from '../../src/k8s/live-diff.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import {
  crdArgs,
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { configMap, deployment, helmRelease, memoryLog, newToken, rowStore } from './support.ts';

const token = newToken();
let fake: FakeKubeApiserver;
let client: ClusterClient;

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token });
  const { store } = rowStore(
    new Map([[1, { name: 'staging-eu', apiUrl: fake.url, caCert: fake.caCert, token }]]),
  );
  client = await new ClusterClients({ store, log: memoryLog().log }).get(1);
});
afterAll(() => fake?.stop());

beforeEach(() => {
  for (const key of [...fake.objects.keys()]) {
    if (!key.startsWith('v1/Namespace//')) fake.objects.delete(key);
  }
  fake.requests.length = 0;
  fake.clearForbidden();
  if (!fake.get('v1', 'Namespace', 'staging')) {
    fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } });
  }
});

async function diff(objects: KubeObject[], namespace = 'staging'): Promise<ObjectState[]> {
  const state = await liveState(client, objects, namespace);
  if (!state.ok) throw state.error;
  return state.objects;
}

function only(states: ObjectState[], kind: string): ObjectState {
  const found = states.filter((s) => s.kind === kind);
  expect(found).toHaveLength(1);
  return found[0]!;
}

describe('liveState against a fake kube-apiserver', () => {
  it('shows a new object as created, with the defaults the API server would add', async () => {
    const stored = fake.objects.size;
    const [web] = await diff([deployment()]);

    expect(web).toMatchObject({
      key: 'apps/v1/Deployment/staging/web',
      kind: 'Deployment',
      name: 'web',
      namespace: 'staging',
      change: 'created',
    });
    expect(web!.live).toBeUndefined();
    const desired = web!.desired!;
    expect(desired.metadata).toEqual({ labels: { app: 'web' }, name: 'web', namespace: 'staging' });
    expect(desired.status).toBeUndefined();
    expect(desired.spec).toMatchObject({
      replicas: 1,
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      strategy: {
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
      },
      template: {
        spec: {
          restartPolicy: 'Always',
          dnsPolicy: 'ClusterFirst',
          containers: [
            {
              image: 'ghcr.io/acme/web:1.2.3',
              imagePullPolicy: 'IfNotPresent',
              terminationMessagePath: '/dev/termination-log',
              ports: [{ containerPort: 8080, name: 'http', protocol: 'TCP' }],
            },
          ],
        },
      },
    });

    // A dry run: nothing stored, and the request was the server-side apply kubectl would send.
    expect(fake.objects.size).toBe(stored);
    const patch = fake.requests.find((r) => r.method === 'PATCH');
    expect(patch).toMatchObject({
      path: '/apis/apps/v1/namespaces/staging/deployments/web',
      contentType: 'application/apply-patch+yaml',
      query: { dryRun: 'All', fieldManager: 'dag', force: 'true' },
      status: 201,
    });
  });

  it('shows an object deployed the same way as unchanged, whatever the server and controllers added', async () => {
    fake.seed(deployment('ghcr.io/acme/web:1.2.3', { namespace: 'staging' }), {
      manager: 'dag',
      status: { replicas: 1, readyReplicas: 1, observedGeneration: 1 },
    });
    fake.seed(configMap('web-config', { LOG_LEVEL: 'info' }, 'staging'), { manager: 'dag' });

    const states = await diff([deployment(), configMap('web-config', { LOG_LEVEL: 'info' })]);

    expect(states.map((s) => [s.key, s.change])).toEqual([
      ['apps/v1/Deployment/staging/web', 'unchanged'],
      ['v1/ConfigMap/staging/web-config', 'unchanged'],
    ]);
    const web = only(states, 'Deployment');
    expect(web.live).toEqual(web.desired);
    expect(web.live).not.toHaveProperty('status');
    expect(web.live!.metadata).not.toHaveProperty('managedFields');
  });

  it('counts a kubectl-applied object with a last-applied annotation as unchanged', async () => {
    const annotated = deployment('ghcr.io/acme/web:1.2.3', {
      namespace: 'staging',
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"kind":"Deployment"}' },
    });
    fake.seed(annotated, { manager: 'kubectl' });

    const [web] = await diff([deployment()]);
    expect(web!.change).toBe('unchanged');
  });

  it('shows a changed image, and a field DAG no longer sets as removed', async () => {
    fake.seed(deployment('ghcr.io/acme/web:1.2.3', { namespace: 'staging' }), { manager: 'dag' });
    const next = deployment('ghcr.io/acme/web:1.3.0');
    const container = (
      next.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }
    ).template.spec.containers[0]!;
    delete container.env;

    const [web] = await diff([next]);

    expect(web!.change).toBe('changed');
    const containerOf = (o: KubeObject | undefined) =>
      (o?.spec as { template: { spec: { containers: Array<Record<string, unknown>> } } }).template
        .spec.containers[0]!;
    expect(containerOf(web!.live)).toMatchObject({
      image: 'ghcr.io/acme/web:1.2.3',
      env: [{ name: 'MODE' }],
    });
    expect(containerOf(web!.desired).image).toBe('ghcr.io/acme/web:1.3.0');
    expect(containerOf(web!.desired)).not.toHaveProperty('env');
    // Fields DAG does not set, defaulted by the server, are equal on both sides.
    expect((web!.desired!.spec as { replicas: number }).replicas).toBe(1);
    expect(fake.get('apps/v1', 'Deployment', 'web', 'staging')).toMatchObject({
      spec: { template: { spec: { containers: [{ image: 'ghcr.io/acme/web:1.2.3' }] } } },
    });
  });

  it('keeps fields another manager owns (e.g. replicas scaled by an autoscaler)', async () => {
    fake.seed(deployment('ghcr.io/acme/web:1.2.3', { namespace: 'staging' }), { manager: 'dag' });
    fake.seed(
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'staging' },
        spec: { replicas: 4 },
      },
      { manager: 'hpa' },
    );
    const [web] = await diff([deployment()]);
    expect(web!.change).toBe('unchanged');
    expect((web!.desired!.spec as { replicas: number }).replicas).toBe(4);
  });

  it('leaves cluster-scoped kinds without a namespace and defaults the rest', async () => {
    const states = await diff([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } },
      configMap('cfg', { a: '1' }),
      configMap('elsewhere', { a: '1' }, 'kube-system'),
    ]);
    expect(states.map((s) => [s.key, s.namespace, s.change])).toEqual([
      ['v1/Namespace/staging', undefined, 'unchanged'],
      ['v1/ConfigMap/staging/cfg', 'staging', 'created'],
      ['v1/ConfigMap/kube-system/elsewhere', 'kube-system', 'created'],
    ]);
  });

  it('shows objects in a namespace the same deploy creates as created, as rendered', async () => {
    const states = await diff(
      [
        { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'preview-42' } },
        configMap('cfg', { a: '1' }),
      ],
      'preview-42',
    );
    expect(states.map((s) => [s.key, s.change])).toEqual([
      ['v1/Namespace/preview-42', 'created'],
      ['v1/ConfigMap/preview-42/cfg', 'created'],
    ]);
    const cfg = only(states, 'ConfigMap');
    expect(cfg.desired).toEqual(configMap('cfg', { a: '1' }, 'preview-42'));
    expect(cfg.change === 'created' && cfg.note).toContain('preview-42');
    expect(only(states, 'Namespace').desired!.metadata).toMatchObject({
      labels: { 'kubernetes.io/metadata.name': 'preview-42' },
    });
  });

  it('reports a namespace that neither exists nor is in the bundle', async () => {
    const [cfg] = await diff([configMap('cfg', { a: '1' })], 'nowhere');
    expect(cfg!.change).toBe('failed');
    expect(cfg!.error).toMatchObject({ reason: 'namespace-missing', kind: 'user' });
    expect(cfg!.error!.message).toBe(
      'namespace nowhere does not exist on cluster staging-eu, so ConfigMap nowhere/cfg cannot be created in it',
    );
  });

  it('converts stringData of a Secret like the API server does', async () => {
    const [secret] = await diff([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 's' },
        stringData: { password: 'hunter2' },
      },
    ]);
    expect(secret!.desired).toMatchObject({ data: { password: 'aHVudGVyMg==' }, type: 'Opaque' });
    expect(secret!.desired).not.toHaveProperty('stringData');
  });

  it('sends every field as written, even those the client models name differently', async () => {
    const policy: KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'web' },
      spec: {
        podSelector: { matchLabels: { app: 'web' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }] }],
        notAKubernetesField: true,
      },
    };
    const [state] = await diff([policy]);
    expect(state!.desired!.spec).toEqual(policy.spec);
    const sent = fake.requests.find((r) => r.method === 'PATCH')!;
    expect(JSON.parse(sent.body)).toEqual({
      ...policy,
      metadata: { name: 'web', namespace: 'staging' },
    });
  });

  it('diffs Flux custom resources once their CRDs are installed', async () => {
    for (const crd of FLUX_CRDS) fake.addCrd(...crdArgs(crd));
    const states = await diff([
      helmRelease(),
      {
        apiVersion: 'source.toolkit.fluxcd.io/v1',
        kind: 'HelmRepository',
        metadata: { name: 'acme' },
        spec: { interval: '1h', url: 'https://charts.example.com' },
      },
    ]);
    expect(states.map((s) => [s.key, s.change])).toEqual([
      ['helm.toolkit.fluxcd.io/v2/HelmRelease/staging/web', 'created'],
      ['source.toolkit.fluxcd.io/v1/HelmRepository/staging/acme', 'created'],
    ]);
    expect(only(states, 'HelmRelease').desired!.spec).toEqual(helmRelease().spec);
  });
});
