// Why src/k8s/raw-object-api.ts exists: the stock KubernetesObjectApi (2.x) runs built-in kinds
// through its generated models. These tests pin that behaviour; if a client upgrade makes the
// "stock" cases fail, the subclass may no longer be needed.
import { KubernetesObjectApi, PatchStrategy } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor } from '../../src/k8s/kube-config.ts';
import { RawObjectApi } from '../../src/k8s/raw-object-api.ts';
import { startFakeKubeApiserver, type FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import { newToken } from './support.ts';

const token = newToken();
let fake: FakeKubeApiserver;

const policy = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name: 'web', namespace: 'default' },
  spec: {
    podSelector: {},
    ingress: [{ from: [{ podSelector: { matchLabels: { role: 'frontend' } } }] }],
  },
};

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token });
});
afterAll(() => fake?.stop());

function kubeConfig() {
  return kubeConfigFor({ id: 1, apiUrl: fake.url, caCert: fake.caCert }, token);
}

function lastPatchBody(): unknown {
  const patch = fake.requests.findLast((r) => r.method === 'PATCH');
  return JSON.parse(patch!.body);
}

describe('KubernetesObjectApi (stock) vs RawObjectApi', () => {
  it('stock: drops NetworkPolicy ingress[].from on the way out and returns Date objects', async () => {
    const api = KubernetesObjectApi.makeApiClient(kubeConfig());
    const result = await api.patch(
      structuredClone(policy),
      undefined,
      'All',
      'dag',
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(lastPatchBody()).toMatchObject({ spec: { ingress: [{}] } });
    expect((lastPatchBody() as typeof policy).spec.ingress[0]).not.toHaveProperty('from');
    expect((result.metadata as Record<string, unknown>).creationTimestamp).toBeInstanceOf(Date);
  });

  it('raw: sends the object as written and returns plain JSON', async () => {
    const api = RawObjectApi.create(kubeConfig(), 5_000);
    const sent = structuredClone(policy);
    const result = await api.patch(
      sent,
      undefined,
      'All',
      'dag',
      true,
      PatchStrategy.ServerSideApply,
    );
    expect(lastPatchBody()).toEqual(policy);
    expect(sent).toEqual(policy); // not mutated
    expect(result.spec).toEqual(policy.spec);
    expect(typeof (result.metadata as Record<string, unknown>).creationTimestamp).toBe('string');
    expect(fake.requests.findLast((r) => r.method === 'PATCH')?.query).toEqual({
      dryRun: 'All',
      fieldManager: 'dag',
      force: 'true',
    });
  });
});
