import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { helmAvailable, helmTemplate } from '../../src/render/helm-template.ts';

// A stand-in for helm that behaves like `helm template NAME DIR --namespace NS`: it reads the
// chart folder it is given and prints one manifest per template file, as helm's output looks.
const dir = mkdtempSync(path.join(os.tmpdir(), 'dag-fake-helm-'));
const fakeHelm = path.join(dir, 'helm');
writeFileSync(
  fakeHelm,
  `#!/bin/sh
[ "$1" = template ] || exit 2
name="$2"; chart="$3"; ns="$5"
[ -f "$chart/Chart.yaml" ] || { echo "Error: Chart.yaml file is missing" >&2; exit 1; }
for f in "$chart"/templates/*.yaml; do
  echo "---"
  echo "# Source: $(basename "$chart")/templates/$(basename "$f")"
  echo "apiVersion: apps/v1"
  echo "kind: Deployment"
  echo "metadata:"
  echo "  name: $name"
  echo "  namespace: $ns"
done
`,
);
chmodSync(fakeHelm, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('helmTemplate', () => {
  it('runs helm template on the chart and parses the manifests it prints', async () => {
    const result = await helmTemplate(
      {
        'Chart.yaml': 'name: web\nversion: 0.1.0\n',
        'values.yaml': '{}\n',
        'templates/deployment.yaml': 'kind: x\n',
      },
      { name: 'web', namespace: 'apps' },
      { helm: fakeHelm },
    );
    expect(result).toEqual({
      objects: [
        { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'apps' } },
      ],
    });
  });

  it('gives a values file on top of the chart’s own with --values', async () => {
    // A stand-in that prints the file it is given after --values (itself a manifest here).
    const valuesHelm = path.join(dir, 'helm-values');
    writeFileSync(valuesHelm, '#!/bin/sh\n[ "$6" = --values ] || exit 2\ncat "$7"\n');
    chmodSync(valuesHelm, 0o755);
    const values = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-values\n';
    const result = await helmTemplate(
      { 'Chart.yaml': 'name: web\nversion: 0.1.0\n' },
      { name: 'web', namespace: 'apps', values },
      { helm: valuesHelm },
    );
    expect(result).toEqual({
      objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'from-values' } }],
    });
  });

  it('knows whether there is a helm binary', async () => {
    expect(await helmAvailable(fakeHelm)).toBe(true);
    expect(await helmAvailable(path.join(dir, 'no-such-helm'))).toBe(false);
  });

  it("passes helm's own error on", async () => {
    await expect(
      helmTemplate(
        { 'values.yaml': '{}\n' },
        { name: 'web', namespace: 'apps' },
        { helm: fakeHelm },
      ),
    ).rejects.toThrow('helm template failed: Error: Chart.yaml file is missing');
  });

  it('answers "unavailable" when there is no helm binary', async () => {
    const result = await helmTemplate(
      { 'Chart.yaml': 'x' },
      { name: 'web', namespace: 'apps' },
      { helm: path.join(dir, 'no-helm') },
    );
    expect(result).toEqual({ unavailable: 'no `helm` binary is installed' });
  });

  it('refuses chart files that would land outside the chart folder', async () => {
    await expect(
      helmTemplate({ '../evil.yaml': 'x' }, { name: 'web', namespace: 'apps' }, { helm: fakeHelm }),
    ).rejects.toThrow('escapes its folder');
  });
});
