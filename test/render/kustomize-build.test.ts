// DAG's own kustomize build of a Flux bundle folder equals what the real `kubectl kustomize`
// builds from the same files, object for object; what it does not build, it refuses.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { objectKey } from '../../src/k8s/normalize.ts';
import { isKubeObject, type KubeObject } from '../../src/k8s/object.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import {
  configMapHash,
  kustomizeBuild,
  UnsupportedKustomization,
} from '../../src/render/kustomize-build.ts';
import { loadTemplates, type Templates } from '../../src/render/templates.ts';
import { parseYamlDocuments } from '../../src/render/yaml.ts';
import { bundleInput, CHART_SOURCES } from './bundle-input.ts';

const run = promisify(execFile);

let templates: Templates;
let work: string;
let count = 0;

beforeAll(async () => {
  templates = loadTemplates();
  work = await mkdtemp(path.join(os.tmpdir(), 'dag-kustomize-build-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The objects `kubectl kustomize` builds from `files` written to a fresh folder. */
async function kubectlKustomize(files: Record<string, string>): Promise<KubeObject[]> {
  const dir = path.join(work, String(count++));
  await run('mkdir', [dir]);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`kubectl kustomize failed (kubectl with kustomize is needed): ${detail}`, {
      cause: error,
    });
  }
  return parseYamlDocuments(stdout, 'kubectl kustomize output').filter(isKubeObject);
}

function byKey(objects: readonly KubeObject[]): [string, KubeObject][] {
  return objects
    .map((o): [string, KubeObject] => [objectKey(o), o])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

async function expectSameBuild(files: Record<string, string>): Promise<KubeObject[]> {
  const ours = kustomizeBuild(files);
  const theirs = await kubectlKustomize(files);
  expect(byKey(ours)).toEqual(byKey(theirs));
  return ours;
}

function fluxFiles(overrides: Parameters<typeof bundleInput>[0] = {}): Record<string, string> {
  return renderBundle(bundleInput(overrides), templates).files;
}

const SPECIAL_VALUES = {
  message: 'x\nevil: true',
  html: '<script>alert("a & b")</script>',
  separators: 'line\u2028para\u2029end',
  unicode: 'żółw 🐢 \t tab',
  control: 'bell\u0007 back\b feed\f',
  quoted: '"\'\\',
  empty: '',
  list: [1, 'two', { three: null }],
  auth: { password: 'hunter2', apiToken: 'tok' },
};

describe('kustomizeBuild equals kubectl kustomize', () => {
  it.each(Object.keys(CHART_SOURCES))('for a Flux bundle of a %s chart', async (chart) => {
    const objects = await expectSameBuild(
      fluxFiles({ app: { chart: CHART_SOURCES[chart], chartSecretRef: 'charts-auth' } }),
    );
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ConfigMap',
        'HelmRelease',
        chart.startsWith('git') || chart === 'app-repo'
          ? 'GitRepository'
          : chart.startsWith('oci')
            ? 'OCIRepository'
            : 'HelmRepository',
      ].sort(),
    );
  });

  it('with empty values', async () => {
    await expectSameBuild(fluxFiles({ values: { base: {}, environment: {} } }));
  });

  it('with values that JSON, HTML and YAML each escape their own way', async () => {
    await expectSameBuild(fluxFiles({ values: { base: SPECIAL_VALUES, environment: {} } }));
  });

  it.each(['default', 'team-a'])(
    'in namespace %s, with another release name',
    async (namespace) => {
      await expectSameBuild(
        fluxFiles({ environment: { namespace, releaseName: 'svc-blue', name: 'production' } }),
      );
    },
  );

  it('with a source commit on no branch', async () => {
    await expectSameBuild(fluxFiles({ source: { branch: '' } }));
  });

  it('without `namespace` (the HelmRelease keeps its own, and its reference is not renamed)', async () => {
    const files = fluxFiles();
    const kustomization = files['kustomization.yaml']?.replace(/^namespace: .*\n/m, '');
    expect(kustomization).not.toEqual(files['kustomization.yaml']);
    const objects = await expectSameBuild({ ...files, 'kustomization.yaml': kustomization ?? '' });
    const release = objects.find((o) => o.kind === 'HelmRelease');
    expect(release?.spec).toMatchObject({ valuesFrom: [{ name: 'my-app-values' }] });
  });

  it('with labels, no hash suffix, and a `key=file` source', async () => {
    const files = fluxFiles();
    const kustomization = [
      'resources:',
      '  - ./source.yaml',
      '  - helmrelease.yaml',
      'namespace: apps',
      'configMapGenerator:',
      '  - name: my-app-values',
      '    files:',
      '      - values.yaml',
      '      - extra.yaml=values.yaml',
      'generatorOptions:',
      '  disableNameSuffixHash: true',
      '  labels:',
      '    team: a',
      'configurations:',
      '  - kustomizeconfig.yaml',
      '',
    ].join('\n');
    const objects = await expectSameBuild({ ...files, 'kustomization.yaml': kustomization });
    expect(objects.find((o) => o.kind === 'ConfigMap')?.metadata.name).toBe('my-app-values');
  });

  it('without kustomization.yaml: the folder’s manifests, as the one Flux generates lists them', async () => {
    const folder = {
      'deployment.yaml':
        'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: 2}\n',
      'config.yml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: "1"}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n',
      'values.yaml': 'replicaCount: 2\n',
      'README.md': '# not YAML\n',
    };
    const ours = kustomizeBuild(folder);
    // kustomize-controller generates a kustomization listing the manifests it finds.
    const theirs = await kubectlKustomize({
      ...folder,
      'kustomization.yaml': 'resources:\n  - config.yml\n  - deployment.yaml\n',
    });
    expect(byKey(ours)).toEqual(byKey(theirs));
    expect(ours.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Service']);
  });

  it('gives the ConfigMap a new hash when the values change, and the same for the same values', async () => {
    const a = await expectSameBuild(fluxFiles({ values: { base: { a: 1 }, environment: {} } }));
    const b = await expectSameBuild(fluxFiles({ values: { base: { a: 2 }, environment: {} } }));
    const name = (objects: KubeObject[]) =>
      objects.find((o) => o.kind === 'ConfigMap')?.metadata.name;
    expect(name(a)).not.toBe(name(b));
    expect(name(kustomizeBuild(fluxFiles({ values: { base: { a: 1 }, environment: {} } })))).toBe(
      name(a),
    );
  });
});

describe('configMapHash', () => {
  it('is kustomize’s suffix for known data', () => {
    // From kubectl kustomize (v5.5.0): `literals: [a=1]` and a generator with no data.
    expect(configMapHash({ a: '1' })).toBe('h29d89cmmt');
    expect(configMapHash(undefined)).toBe('6ct58987ht');
  });
});

describe('kustomizeBuild refuses what it does not build', () => {
  const files = () => fluxFiles();
  const withKustomization = (extra: string) => {
    const all = files();
    return { ...all, 'kustomization.yaml': `${all['kustomization.yaml'] ?? ''}${extra}` };
  };

  it.each([
    ['patches', 'patches:\n  - path: p.yaml\n', /`patches`/],
    ['namePrefix', 'namePrefix: x-\n', /`namePrefix`/],
    [
      'secretGenerator',
      'secretGenerator:\n  - name: s\n    literals: [a=b]\n',
      /`secretGenerator`/,
    ],
  ])('%s', (_name, extra, message) => {
    expect(() => kustomizeBuild(withKustomization(extra))).toThrow(message);
    expect(() => kustomizeBuild(withKustomization(extra))).toThrow(UnsupportedKustomization);
  });

  it('literals in a generator', () => {
    const all = files();
    const text = (all['kustomization.yaml'] ?? '').replace(
      'files:',
      'literals:\n      - a=b\n    files:',
    );
    expect(text).toContain('literals');
    expect(() => kustomizeBuild({ ...all, 'kustomization.yaml': text })).toThrow(
      /configMapGenerator `literals`/,
    );
  });

  it('a resource that is a directory or a URL', () => {
    const all = files();
    for (const resource of ['../base', 'https://example.com/x.yaml', 'missing.yaml']) {
      const text = (all['kustomization.yaml'] ?? '').replace('- source.yaml', `- ${resource}`);
      expect(() => kustomizeBuild({ ...all, 'kustomization.yaml': text })).toThrow(
        /only files of the folder itself/,
      );
    }
  });

  it('a Deployment next to a generated ConfigMap, and a cluster-scoped kind', () => {
    const all = files();
    const deployment =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec: {}\n---\n';
    expect(() =>
      kustomizeBuild({ ...all, 'source.yaml': `${deployment}${all['source.yaml'] ?? ''}` }),
    ).toThrow(/Deployment \(d\) next to a generated ConfigMap/);
    const namespace = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: apps\n---\n';
    expect(() =>
      kustomizeBuild({ ...all, 'source.yaml': `${namespace}${all['source.yaml'] ?? ''}` }),
    ).toThrow(/a Namespace \(apps\)/);
  });

  it('other transformer configurations', () => {
    const all = files();
    expect(() =>
      kustomizeBuild({ ...all, 'kustomizeconfig.yaml': 'namePrefix:\n  - path: metadata/name\n' }),
    ).toThrow(/`namePrefix`/);
    expect(() =>
      kustomizeBuild({
        ...all,
        'kustomizeconfig.yaml':
          'nameReference:\n  - kind: Service\n    fieldSpecs:\n      - path: spec/x\n',
      }),
    ).toThrow(/nameReference other than to a v1 ConfigMap/);
  });

  it('YAML in a sub-folder of a folder without kustomization.yaml', () => {
    expect(() =>
      kustomizeBuild({ 'a.yaml': 'kind: ConfigMap\n', 'nested/b.yaml': 'kind: ConfigMap\n' }),
    ).toThrow(/no kustomization.yaml and YAML in a sub-folder \(nested\/b.yaml\)/);
  });
});
