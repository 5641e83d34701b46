import { describe, expect, it } from 'vitest';
import { normalizeObject, objectKey } from '../../src/k8s/normalize.ts';
import type { KubeObject } from '../../src/k8s/object.ts';

const base = { apiVersion: 'v1', kind: 'ConfigMap' } as const;

describe('normalizeObject', () => {
  const cases: Array<{ name: string; input: KubeObject; expected: KubeObject }> = [
    {
      name: 'drops server-written metadata and status',
      input: {
        ...base,
        metadata: {
          name: 'a',
          namespace: 'staging',
          uid: '0b0e',
          resourceVersion: '42',
          generation: 3,
          creationTimestamp: '2024-01-01T00:00:00Z',
          selfLink: '/api/v1/namespaces/staging/configmaps/a',
          managedFields: [{ manager: 'dag', operation: 'Apply' }],
        },
        data: { k: 'v' },
        status: { phase: 'Active' },
      },
      expected: { ...base, data: { k: 'v' }, metadata: { name: 'a', namespace: 'staging' } },
    },
    {
      name: 'drops the last-applied annotation and the map it leaves empty',
      input: {
        ...base,
        metadata: {
          name: 'a',
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"json"}' },
        },
      },
      expected: { ...base, metadata: { name: 'a' } },
    },
    {
      name: 'keeps other annotations',
      input: {
        ...base,
        metadata: {
          name: 'a',
          annotations: {
            'kubectl.kubernetes.io/last-applied-configuration': '{}',
            'dag.dev/sha': 'abc',
          },
        },
      },
      expected: { ...base, metadata: { annotations: { 'dag.dev/sha': 'abc' }, name: 'a' } },
    },
    {
      name: 'drops empty labels and annotations maps',
      input: { ...base, metadata: { name: 'a', labels: {}, annotations: {} } },
      expected: { ...base, metadata: { name: 'a' } },
    },
    {
      name: 'keeps list order, sorts map keys at every depth',
      input: {
        kind: 'Deployment',
        apiVersion: 'apps/v1',
        metadata: { name: 'w' },
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'z', image: 'i' },
                { image: 'j', name: 'a' },
              ],
            },
          },
        },
      },
      expected: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'w' },
        spec: {
          template: {
            spec: {
              containers: [
                { image: 'i', name: 'z' },
                { image: 'j', name: 'a' },
              ],
            },
          },
        },
      },
    },
    {
      name: 'keeps spec fields named like metadata noise',
      input: { ...base, metadata: { name: 'a' }, data: { uid: '1', status: 'x', generation: '2' } },
      expected: {
        ...base,
        metadata: { name: 'a' },
        data: { generation: '2', status: 'x', uid: '1' },
      },
    },
  ];

  it.each(cases)('$name', ({ input, expected }) => {
    const before = structuredClone(input);
    const out = normalizeObject(input);
    expect(out).toEqual(expected);
    expect(unsortedMaps(out)).toEqual([]);
    expect(input).toEqual(before); // pure
  });

  it('is idempotent and makes equal objects serialize equally', () => {
    const a: KubeObject = {
      kind: 'ConfigMap',
      metadata: { namespace: 'n', name: 'a' },
      apiVersion: 'v1',
      data: { b: '1', a: '2' },
    };
    const b: KubeObject = {
      apiVersion: 'v1',
      data: { a: '2', b: '1' },
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'n' },
    };
    expect(JSON.stringify(normalizeObject(a))).toBe(JSON.stringify(normalizeObject(b)));
    expect(normalizeObject(normalizeObject(a))).toEqual(normalizeObject(a));
  });

  it('keeps a __proto__ key as data', () => {
    const input = JSON.parse(
      '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"},"data":{"__proto__":"x"}}',
    ) as KubeObject;
    const out = normalizeObject(input);
    expect(Object.keys(out.data as object)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(out.data)).toBe(Object.prototype);
  });
});

/** Paths of maps whose keys are not in sorted order. */
function unsortedMaps(value: unknown, path = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => unsortedMaps(v, `${path}[${i}]`));
  if (typeof value !== 'object' || value === null) return [];
  const keys = Object.keys(value);
  const here = keys.join() === [...keys].sort().join() ? [] : [path];
  return [
    ...here,
    ...keys.flatMap((k) => unsortedMaps((value as Record<string, unknown>)[k], `${path}.${k}`)),
  ];
}

describe('objectKey', () => {
  it.each([
    [
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'web', namespace: 'staging' },
      },
      'apps/v1/Deployment/staging/web',
    ],
    [
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'prod' } },
      'v1/ConfigMap/prod/cfg',
    ],
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } },
      'v1/Namespace/staging',
    ],
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging', namespace: '' } },
      'v1/Namespace/staging',
    ],
    [
      {
        apiVersion: 'helm.toolkit.fluxcd.io/v2',
        kind: 'HelmRelease',
        metadata: { name: 'web', namespace: 'flux-system' },
      },
      'helm.toolkit.fluxcd.io/v2/HelmRelease/flux-system/web',
    ],
  ] as Array<[KubeObject, string]>)('%j -> %s', (object, key) => {
    expect(objectKey(object)).toBe(key);
  });
});
