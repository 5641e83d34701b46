import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ClusterClients } from '../../src/k8s/client.ts';
import type { ClusterError } from '../../src/k8s/cluster-error.ts';
import { liveState, type LiveState } from '../../src/k8s/live-diff.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import {
  makeTestCertificates,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import {
  configMap,
  deployment,
  everythingIn,
  helmRelease,
  memoryLog,
  newToken,
  rowStore,
  type ClusterRow,
} from './support.ts';

const token = newToken();
let fake: FakeKubeApiserver;
/** Every error, state and log line the tests saw: none may contain the token. */
const seen: string[] = [];

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token });
  fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } });
});
afterAll(async () => {
  await fake?.stop();
});
beforeEach(() => {
  fake.clearForbidden();
  fake.setLatency(0);
});

async function run(
  objects: KubeObject[],
  row: Partial<ClusterRow> = {},
  options: { timeoutMs?: number } = {},
): Promise<LiveState> {
  const { log, lines } = memoryLog();
  const { store } = rowStore(
    new Map([[7, { name: 'prod-eu', apiUrl: fake.url, caCert: fake.caCert, token, ...row }]]),
  );
  const clients = new ClusterClients({ store, log, ...options });
  const state = await liveState(await clients.get(7), objects, 'staging');
  seen.push(everythingIn(state), ...lines);
  return state;
}

function clusterError(state: LiveState): ClusterError {
  expect(state.ok).toBe(false);
  if (state.ok) throw new Error('expected a cluster-wide error');
  return state.error;
}

function objectError(state: LiveState, kind: string): ClusterError {
  if (!state.ok) throw state.error;
  const entry = state.objects.find((s) => s.kind === kind);
  expect(entry?.change).toBe('failed');
  return entry!.error!;
}

describe('cluster errors, classified', () => {
  it('wrong CA: tls, naming the cluster, and stops before any object', async () => {
    const other = await makeTestCertificates();
    const state = await run([configMap('a', { k: 'v' }), deployment()], { caCert: other.caCert });
    const error = clusterError(state);
    expect(error.reason).toBe('tls');
    expect(error.kind).toBe('config');
    expect(error.message).toMatch(
      /^the cluster's certificate does not match the CA configured for cluster prod-eu \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN)\)/,
    );
    expect(state.objects).toEqual([]);
  });

  it('no CA configured and a private CA: tls, saying so', async () => {
    const error = clusterError(await run([configMap('a', { k: 'v' })], { caCert: null }));
    expect(error.reason).toBe('tls');
    expect(error.message).toContain('cluster prod-eu has no CA configured');
  });

  it('wrong token: unauthorized', async () => {
    const before = fake.requests.length;
    const error = clusterError(await run([configMap('a', { k: 'v' })], { token: newToken() }));
    expect(error.reason).toBe('unauthorized');
    expect(error.status).toBe(401);
    expect(error.message).toBe(
      "cluster prod-eu rejected DAG's service-account token (401 Unauthorized): it is wrong, expired or revoked",
    );
    expect(fake.requests.slice(before).every((r) => !r.authenticated && r.status === 401)).toBe(
      true,
    );
  });

  it('403: forbidden, quoting the API server and naming the missing permission; other objects go on', async () => {
    fake.setForbidden({
      verb: 'patch',
      resource: 'deployments',
      group: 'apps',
      namespace: 'staging',
    });
    const state = await run([deployment(), configMap('a', { k: 'v' })]);
    const error = objectError(state, 'Deployment');
    expect(error.reason).toBe('forbidden');
    expect(error.permission).toEqual({
      verb: 'patch',
      resource: 'deployments',
      group: 'apps',
      namespace: 'staging',
    });
    expect(error.message).toBe(
      'cluster prod-eu refused to patch Deployment staging/web: deployments.apps "web" is forbidden: ' +
        'User "system:serviceaccount:dag:dag" cannot patch resource "deployments" in API group "apps" in the namespace "staging". ' +
        "DAG's service account needs the RBAC permission: patch deployments.apps in namespace staging",
    );
    expect(state.ok && state.objects.find((s) => s.kind === 'ConfigMap')?.change).toBe('created');
  });

  it('403 on reading a core kind names the core resource and verb', async () => {
    fake.setForbidden({ verb: 'get', resource: 'configmaps', namespace: 'staging' });
    const error = objectError(await run([configMap('a', { k: 'v' })]), 'ConfigMap');
    expect(error.permission).toEqual({
      verb: 'get',
      resource: 'configmaps',
      group: '',
      namespace: 'staging',
    });
    expect(error.message).toContain(
      'needs the RBAC permission: get configmaps in namespace staging',
    );
  });

  it('403 on a cluster-scoped kind says cluster-wide', async () => {
    fake.setForbidden({ verb: 'create', resource: 'namespaces' });
    const error = objectError(
      await run([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'new-ns' } }]),
      'Namespace',
    );
    expect(error.message).toContain('at the cluster scope');
    expect(error.message).toContain('needs the RBAC permission: create namespaces (cluster-wide)');
  });

  it('a kind the cluster does not serve: crd-missing naming apiVersion and kind', async () => {
    const state = await run([helmRelease(), configMap('a', { k: 'v' })]);
    const error = objectError(state, 'HelmRelease');
    expect(error.reason).toBe('crd-missing');
    expect(error.message).toBe(
      'cluster prod-eu does not serve helm.toolkit.fluxcd.io/v2 HelmRelease: its CustomResourceDefinition is not installed',
    );
    expect(state.ok && state.objects.find((s) => s.kind === 'ConfigMap')?.change).toBe('created');
  });

  it('a kind missing from a served group: crd-missing too', async () => {
    const error = objectError(
      await run([{ apiVersion: 'apps/v1', kind: 'Rollout', metadata: { name: 'web' } }]),
      'Rollout',
    );
    expect(error.reason).toBe('crd-missing');
    expect(error.message).toBe(
      'cluster prod-eu does not serve apps/v1 Rollout: this Kubernetes version does not serve that API',
    );
  });

  it('422: invalid, with the API server message and its field causes', async () => {
    const invalid = deployment('ghcr.io/acme/web:1.2.3', {
      annotations: {
        'fake.dag.dev/invalid':
          'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
      },
    });
    const error = objectError(await run([invalid]), 'Deployment');
    expect(error.reason).toBe('invalid');
    expect(error.status).toBe(422);
    expect(error.message).toBe(
      'cluster prod-eu rejected Deployment staging/web: Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
    );
    expect(error.causes).toEqual([
      {
        field: 'spec.replicas',
        message: 'Invalid value: -1: must be greater than or equal to 0',
        reason: 'FieldValueInvalid',
      },
    ]);
  });

  it('422 from the built-in validation (a Deployment without selector)', async () => {
    const noSelector = deployment();
    delete (noSelector.spec as Record<string, unknown>).selector;
    const error = objectError(await run([noSelector]), 'Deployment');
    expect(error.message).toContain(
      'Deployment.apps "web" is invalid: spec.selector: Required value',
    );
  });

  it('409: conflict, with the API server message', async () => {
    fake.seed(configMap('locked', { k: 'v' }, 'staging'));
    const stale = configMap('locked', { k: 'w' });
    stale.metadata.resourceVersion = '1';
    const error = objectError(await run([stale]), 'ConfigMap');
    expect(error.reason).toBe('conflict');
    expect(error.status).toBe(409);
    expect(error.message).toContain('the object has been modified');
  });

  it('a server that does not answer in time: unreachable, with the timeout', async () => {
    fake.setLatency(1_000);
    const error = clusterError(await run([configMap('a', { k: 'v' })], {}, { timeoutMs: 200 }));
    expect(error.reason).toBe('unreachable');
    expect(error.kind).toBe('transient');
    expect(error.message).toBe(
      `cluster prod-eu is unreachable: no answer from ${fake.url} within 200 ms`,
    );
  });

  it('a stopped server: unreachable (connection refused)', async () => {
    const gone = await startFakeKubeApiserver({ token });
    await gone.stop();
    const error = clusterError(
      await run([configMap('a', { k: 'v' })], { apiUrl: gone.url, caCert: gone.caCert }),
    );
    expect(error.reason).toBe('unreachable');
    expect(error.message).toBe(
      `cluster prod-eu is unreachable at ${gone.url}: connection refused (ECONNREFUSED)`,
    );
  });

  it('an unknown host: unreachable (host not found)', async () => {
    const error = clusterError(
      await run([configMap('a', { k: 'v' })], { apiUrl: 'https://kube.invalid:6443' }),
    );
    expect(error.reason).toBe('unreachable');
    expect(error.message).toMatch(
      /^cluster prod-eu is unreachable at https:\/\/kube\.invalid:6443: /,
    );
  });

  // Runs last: scans what every test above produced.
  it('never puts the service-account token in an error, a state or a log line', () => {
    expect(seen.length).toBeGreaterThan(10);
    const leaks = seen.filter((text) => text.includes(token));
    expect(leaks).toEqual([]);
  });
});
