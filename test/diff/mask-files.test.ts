import { describe, expect, it } from 'vitest';
import { maskYamlFilePair } from '../../src/diff/mask-files.ts';
import { maskDiffText } from '../../src/diff/mask-text.ts';
import { unifiedDiff } from '../../src/diff/unified.ts';

const SECRET = 'hunter2-Zq8vR3xLpT';

/** Placements of a planted secret in an IAC file, as DAG renders them or people write them. */
const PLACEMENTS: { name: string; path: string; text: string }[] = [
  {
    name: 'an env entry named like a credential, in a values file',
    path: 'values.yaml',
    text: `env:\n  - name: DB_PASSWORD\n    value: ${SECRET}\n  - name: LOG_LEVEL\n    value: info\n`,
  },
  {
    name: 'extraEnv of a chart',
    path: 'values.yaml',
    text: `extraEnv:\n  - name: API_TOKEN\n    value: ${SECRET}\n`,
  },
  {
    name: 'an init container env in a Deployment',
    path: 'deployment.yaml',
    text: `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: migrate\n          env:\n            - name: PGPASSWORD\n              value: ${SECRET}\n`,
  },
  {
    name: 'a sidecar env in a HelmRelease',
    path: 'helmrelease.yaml',
    text: `apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\n  namespace: apps\nspec:\n  values:\n    sidecars:\n      - name: proxy\n        env:\n          - name: CLIENT_SECRET\n            value: ${SECRET}\n`,
  },
  {
    name: 'a key that names a credential',
    path: 'values.yaml',
    text: `database:\n  host: db\n  password: ${SECRET}\n`,
  },
  {
    name: 'Secret stringData',
    path: 'secret.yaml',
    text: `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  anything: ${SECRET}\n`,
  },
];

describe('maskYamlFilePair', () => {
  for (const placement of PLACEMENTS) {
    it(`masks ${placement.name} on both sides of the file's diff`, () => {
      const before = placement.text.replaceAll(SECRET, `${SECRET}-old`);
      const masked = maskYamlFilePair(placement.path, before, placement.text);
      expect(masked).not.toBeNull();
      const diff = maskDiffText(
        unifiedDiff(masked?.before ?? '', masked?.after ?? '', { path: placement.path }).text,
      );
      expect(diff).not.toContain(SECRET);
      expect(diff).toContain('(value changed)');
    });
  }

  it('shows a value that is not a credential as it is', () => {
    const masked = maskYamlFilePair(
      'values.yaml',
      'env:\n  - name: LOG_LEVEL\n    value: info\n',
      'env:\n  - name: LOG_LEVEL\n    value: debug\n',
    );
    expect(masked?.before).toContain('value: info');
    expect(masked?.after).toContain('value: debug');
  });

  it('masks a file being created or deleted', () => {
    const text = `env:\n  - name: DB_PASSWORD\n    value: ${SECRET}\n`;
    expect(maskYamlFilePair('values.yaml', undefined, text)?.after).not.toContain(SECRET);
    expect(maskYamlFilePair('values.yaml', text, undefined)?.before).not.toContain(SECRET);
  });

  it('leaves a file that is not YAML, or does not parse, to the line masker', () => {
    expect(maskYamlFilePair('README.md', 'a', 'b')).toBeNull();
    expect(maskYamlFilePair('values.yaml', 'a: [1', 'a: 2')).toBeNull();
  });
});
