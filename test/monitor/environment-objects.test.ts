import type { KubernetesObject } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  environmentObjects,
  type WatchedEnvironment,
} from '../../src/monitor/environment-objects.ts';

const env: WatchedEnvironment = {
  id: 1,
  app: 'shop',
  name: 'staging',
  clusterId: 1,
  namespace: 'apps',
  releaseName: 'shop',
  helmType: 'flux',
};

const object = (
  kind: string,
  name: string,
  extra: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    spec?: object;
    involvedObject?: unknown;
  } = {},
): KubernetesObject & Record<string, unknown> => ({
  apiVersion: kind === 'Pod' || kind === 'Event' ? 'v1' : 'apps/v1',
  kind,
  metadata: {
    name,
    namespace: 'apps',
    annotations: extra.annotations ?? {},
    labels: extra.labels ?? {},
  },
  ...(extra.spec ? { spec: extra.spec } : {}),
  ...(extra.involvedObject !== undefined ? { involvedObject: extra.involvedObject } : {}),
});

const helm = { 'meta.helm.sh/release-name': 'shop' };
const selector = (labels: Record<string, string>) => ({ selector: { matchLabels: labels } });

describe("an environment's live objects", () => {
  const byKind = {
    HelmRelease: [
      { ...object('HelmRelease', 'shop'), apiVersion: 'helm.toolkit.fluxcd.io/v2' },
      { ...object('HelmRelease', 'other'), apiVersion: 'helm.toolkit.fluxcd.io/v2' },
    ],
    Deployment: [
      object('Deployment', 'shop-web', { annotations: helm, spec: selector({ app: 'web' }) }),
      object('Deployment', 'other', {
        annotations: { 'meta.helm.sh/release-name': 'other' },
        spec: selector({ app: 'other' }),
      }),
    ],
    StatefulSet: [
      object('StatefulSet', 'shop-db', {
        annotations: { 'dag.dev/app': 'shop', 'dag.dev/environment': 'staging' },
        spec: selector({ app: 'db' }),
      }),
    ],
    // A workload without a selector selects no pods (rather than all of them).
    DaemonSet: [object('DaemonSet', 'shop-agent', { annotations: helm })],
    Pod: [
      object('Pod', 'shop-web-1', { labels: { app: 'web', extra: 'x' } }),
      object('Pod', 'shop-db-0', { labels: { app: 'db' } }),
      object('Pod', 'other-1', { labels: { app: 'other' } }),
      object('Pod', 'bare'),
    ],
    GitRepository: [object('GitRepository', 'shop')],
    HelmRepository: [object('HelmRepository', 'charts')],
    Event: [
      object('Event', 'e1', { involvedObject: { kind: 'Pod', name: 'shop-web-1' } }),
      object('Event', 'e2', { involvedObject: { kind: 'Pod', name: 'other-1' } }),
      object('Event', 'e3', { involvedObject: { kind: 'HelmRelease', name: 'shop' } }),
      object('Event', 'e4', { involvedObject: 'nonsense' }),
    ],
  };

  it("takes the release's HelmRelease, workloads, their pods and the events about them", () => {
    const found = environmentObjects(env, byKind);
    const names = (objects: KubernetesObject[]) => objects.map((o) => o.metadata?.name);
    expect(found.helmRelease?.metadata?.name).toBe('shop');
    expect(names(found.workloads)).toEqual(['shop-web', 'shop-db', 'shop-agent']);
    expect(names(found.pods)).toEqual(['shop-web-1', 'shop-db-0']);
    expect(names(found.events)).toEqual(['e1', 'e3']);
    // Every Flux source of the namespace: the rollout state picks the one the release uses.
    expect(names(found.sources)).toEqual(['shop', 'charts']);
  });

  it('has no HelmRelease for a plain chart, and survives malformed objects', () => {
    const plain = environmentObjects({ ...env, helmType: 'plain' }, byKind);
    expect(plain.helmRelease).toBeUndefined();
    expect(plain.sources).toEqual([]);
    const junk = [{ kind: 'Deployment', metadata: 'x' }, { kind: 'Deployment' }] as never[];
    expect(environmentObjects(env, { Deployment: junk, Pod: junk, Event: junk })).toEqual({
      helmRelease: undefined,
      sources: [],
      workloads: [],
      pods: [],
      events: [],
    });
  });
});
