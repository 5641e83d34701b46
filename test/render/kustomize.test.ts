// What DAG commits into a Flux-layout IAC repo still builds with kustomize, and the built
// objects carry the provenance annotations and conform to Flux's schemas.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { renderBundle } from '../../src/render/bundle.ts';
import { PROVENANCE } from '../../src/render/provenance.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import type { Templates } from '../../src/render/templates.ts';
import { bundleInput, CHART_SOURCES, SHA } from './bundle-input.ts';
import { fluxSchemaErrors, loadFluxValidators } from '../../src/render/flux-schemas.ts';
import type { FluxValidators } from '../../src/render/flux-schemas.ts';

const run = promisify(execFile);
const FIXTURE = path.resolve(import.meta.dirname, '../fixtures/iac-repos/flux-layout');

type Built = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { valuesFrom?: { kind: string; name: string }[]; values?: Record<string, unknown> };
  data?: Record<string, string>;
};

let templates: Templates;
let validators: FluxValidators;
let work: string;

beforeAll(async () => {
  templates = loadTemplates();
  validators = await loadFluxValidators();
  work = await mkdtemp(path.join(os.tmpdir(), 'dag-iac-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A fresh copy of the fixture with DAG's bundle written at the environment's iac_path. */
async function iacRepoWithBundle(
  environment: string,
  chart: keyof typeof CHART_SOURCES,
): Promise<string> {
  const repo = path.join(work, `${environment}-${chart}`);
  await cp(FIXTURE, repo, { recursive: true });
  const iacPath = `clusters/${environment}/my-app`;
  const input = bundleInput({
    app: { chart: CHART_SOURCES[chart] },
    environment: { name: environment, iacPath },
    values: {
      base: { replicaCount: 1, message: 'x\nevil: true' },
      environment: { replicaCount: environment === 'production' ? 3 : 1 },
    },
  });
  const folder = path.join(repo, iacPath);
  // DAG owns the folder: it replaces whatever was there.
  await rm(folder, { recursive: true, force: true });
  await mkdir(folder, { recursive: true });
  for (const [name, content] of Object.entries(renderBundle(input, templates).files)) {
    await mkdir(path.dirname(path.join(folder, name)), { recursive: true });
    await writeFile(path.join(folder, name), content);
  }
  return repo;
}

async function kustomize(dir: string): Promise<Built[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 }));
  } catch (error) {
    const detail = (error as { stderr?: string; message?: string }).stderr ?? String(error);
    throw new Error(
      `kubectl kustomize ${dir} failed (kubectl with kustomize is needed): ${detail}`,
      { cause: error },
    );
  }
  return parseAllDocuments(stdout).map((doc) =>
    'toJS' in doc ? (doc.toJS() as Built) : ({} as Built),
  );
}

function find(objects: Built[], kind: string, name: string | RegExp): Built {
  const found = objects.find(
    (object) =>
      object.kind === kind &&
      (typeof name === 'string' ? object.metadata.name === name : name.test(object.metadata.name)),
  );
  if (!found)
    throw new Error(
      `no ${kind} ${name} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
    );
  return found;
}

describe('a Flux-layout IAC repo with DAG’s bundle', () => {
  it.each([
    ['staging', 'app-repo'],
    ['production', 'app-repo'],
    ['staging', 'helm'],
    ['staging', 'oci'],
    ['production', 'git'],
  ] as const)('builds %s with kustomize (%s chart)', async (environment, chart) => {
    const repo = await iacRepoWithBundle(environment, chart);
    const objects = await kustomize(path.join(repo, 'components/apps', environment));

    // The namespace's other releases are untouched.
    const podinfo = find(objects, 'HelmRelease', 'podinfo');
    expect(podinfo.spec?.values).toMatchObject({ ui: { message: environment } });

    const release = find(objects, 'HelmRelease', 'my-app');
    expect(release.metadata.namespace).toBe('apps');
    const provenance = {
      [PROVENANCE.app]: 'my-app',
      [PROVENANCE.environment]: environment,
      [PROVENANCE.sourceCommit]: SHA,
      [PROVENANCE.iacPath]: `clusters/${environment}/my-app`,
    };
    expect(release.metadata.annotations).toMatchObject(provenance);

    // kustomize wrote the ConfigMap's hash-suffixed name into valuesFrom.
    const [valuesRef] = release.spec?.valuesFrom ?? [];
    expect(valuesRef?.name).toMatch(/^my-app-values-[a-z0-9]{10}$/);
    const configMap = find(objects, 'ConfigMap', valuesRef?.name ?? '');
    expect(configMap.metadata.namespace).toBe('apps');
    expect(configMap.metadata.annotations).toMatchObject({
      ...provenance,
      'kustomize.toolkit.fluxcd.io/substitute': 'disabled',
    });
    const values = parse(configMap.data?.['values.yaml'] ?? '');
    expect(values).toMatchObject({
      replicaCount: environment === 'production' ? 3 : 1,
      message: 'x\nevil: true',
      image: { repository: 'ghcr.io/org/my-app', tag: SHA.slice(0, 7) },
      dag: { annotations: provenance },
    });
    expect(values.evil).toBeUndefined();

    for (const object of objects.filter((o) => o.apiVersion.includes('fluxcd.io'))) {
      expect(
        fluxSchemaErrors(validators, object),
        `${object.kind}/${object.metadata.name}`,
      ).toEqual([]);
      if (object.metadata.name === 'my-app') {
        expect(object.metadata.annotations, `${object.kind}`).toMatchObject(provenance);
      }
    }
  });

  it('builds the fixture as it is before DAG’s first deploy', async () => {
    for (const environment of ['staging', 'production']) {
      const objects = await kustomize(path.join(FIXTURE, 'components/apps', environment));
      expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
        'HelmRelease/podinfo',
        'OCIRepository/podinfo',
      ]);
    }
  });
});
