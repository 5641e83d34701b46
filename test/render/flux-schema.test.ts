// Every Flux object DAG renders conforms to the CRD schemas Flux publishes.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import type { Templates } from '../../src/render/templates.ts';
import { bundleInput, CHART_SOURCES } from './bundle-input.ts';
import {
  FLUX_CRD_DIR,
  fluxSchemaErrors,
  loadFluxValidators,
} from '../../src/render/flux-schemas.ts';
import type { FluxValidators } from '../../src/render/flux-schemas.ts';

let validators: FluxValidators;
let templates: Templates;

beforeAll(async () => {
  templates = loadTemplates();
  validators = await loadFluxValidators();
});

function renderedObjects(overrides: Parameters<typeof bundleInput>[0]): unknown[] {
  const bundle = renderBundle(bundleInput(overrides), templates);
  return ['helmrelease.yaml', 'source.yaml'].flatMap((name) =>
    parseAllDocuments(bundle.files[name] ?? '').map((doc) => ('toJS' in doc ? doc.toJS() : null)),
  );
}

describe(`Flux CRD schemas (${FLUX_CRD_DIR})`, () => {
  it('has the HelmRelease and source CRDs', () => {
    for (const key of [
      'helm.toolkit.fluxcd.io/v2:HelmRelease',
      'source.toolkit.fluxcd.io/v1:GitRepository',
      'source.toolkit.fluxcd.io/v1:HelmRepository',
      'source.toolkit.fluxcd.io/v1:OCIRepository',
    ]) {
      expect(validators.has(key), `missing CRD schema ${key}`).toBe(true);
    }
  });

  const cases = Object.keys(CHART_SOURCES).flatMap((kind) => [
    [kind, null],
    [kind, 'chart-credentials'],
  ]) as [string, string | null][];

  it.each(cases)('accepts every object for a %s chart source (secretRef %s)', (kind, secret) => {
    const objects = renderedObjects({
      app: { chart: CHART_SOURCES[kind], chartSecretRef: secret },
    });
    expect(objects.map((object) => (object as { kind: string }).kind).sort()).toHaveLength(2);
    for (const object of objects) {
      expect(fluxSchemaErrors(validators, object), JSON.stringify(object)).toEqual([]);
    }
  });

  it('accepts objects for a production environment with hostile branch and names', () => {
    const objects = renderedObjects({
      environment: {
        name: 'prod\nevil: true',
        namespace: 'shop-prod',
        releaseName: 'shop',
        iacPath: '{{x}}',
      },
      source: { branch: 'release/2024-01' },
    });
    for (const object of objects) expect(fluxSchemaErrors(validators, object)).toEqual([]);
  });

  it('fails with a clear message when the reference data is missing', async () => {
    await expect(loadFluxValidators('/nonexistent/flux-crds')).rejects.toThrow(
      /Flux CRD reference data is missing: \/nonexistent\/flux-crds does not exist/,
    );
  });

  it('catches an invalid object (the check is not vacuous)', () => {
    const [release] = renderedObjects({});
    const broken = { ...(release as object), spec: { interval: 'soon' } };
    expect(fluxSchemaErrors(validators, broken).join('\n')).toMatch(/interval/);
  });
});
