import { describe, expect, it } from 'vitest';
import { readProvenance } from '../../src/render/provenance.ts';

const SHA = 'a1'.repeat(20);
const annotations = `    dag.dev/source-commit: ${SHA}\n    dag.dev/source-branch: develop\n    dag.dev/source-commit-url: https://github.com/org/shop/commit/${SHA}\n`;

describe('readProvenance', () => {
  it("reads the source commit of a Flux folder from its objects' annotations", () => {
    expect(
      readProvenance({
        'kustomization.yaml': 'resources: [helmrelease.yaml]\n',
        'helmrelease.yaml': `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: shop\n  annotations:\n${annotations}`,
      }),
    ).toEqual({
      sha: SHA,
      branch: 'develop',
      commitUrl: `https://github.com/org/shop/commit/${SHA}`,
    });
  });

  it("reads a plain chart's Chart.yaml annotations", () => {
    expect(
      readProvenance({
        'Chart.yaml': `apiVersion: v2\nname: shop\nversion: 0.0.0-ga1a1a1a\nannotations:\n  dag.dev/source-commit: ${SHA}\n`,
        'templates/deployment.yaml': 'kind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n',
      }),
    ).toEqual({ sha: SHA, branch: null, commitUrl: null });
  });

  it('skips files that are not YAML or not valid YAML, and says undefined for folders DAG did not write', () => {
    expect(
      readProvenance({
        'README.md': `dag.dev/source-commit: ${SHA}`,
        'broken.yaml': 'a: [\n',
        'configmap.yaml':
          'kind: ConfigMap\nmetadata:\n  annotations:\n    dag.dev/source-commit: not-a-sha\n',
      }),
    ).toBeUndefined();
    expect(readProvenance({})).toBeUndefined();
  });
});
