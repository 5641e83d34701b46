// Test inputs for renderBundle: one app, one environment, overridable piece by piece.
import type { BundleInput, ChartSource } from '../../src/render/types.ts';

export const SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b';

export const CHART_SOURCES: Record<string, ChartSource> = {
  'app-repo': { kind: 'app-repo', path: 'deploy/chart' },
  helm: {
    kind: 'helm',
    url: 'https://charts.example.com/stable',
    chart: 'my-app',
    version: '1.4.2',
  },
  'helm-oci': { kind: 'helm', url: 'oci://ghcr.io/org/charts', chart: 'my-app', version: null },
  oci: { kind: 'oci', url: 'oci://ghcr.io/org/charts/my-app', version: '1.4.2' },
  'oci-range': { kind: 'oci', url: 'ghcr.io/org/charts/my-app', version: '>=1.0.0 <2.0.0' },
  'oci-latest': { kind: 'oci', url: 'oci://ghcr.io/org/charts/my-app', version: null },
  git: {
    kind: 'git',
    url: 'https://github.com/org/charts.git',
    ref: 'main',
    path: 'charts/my-app',
  },
  'git-commit': {
    kind: 'git',
    url: 'git@github.com:org/charts.git',
    ref: SHA,
    path: './charts/my-app/',
  },
  'git-tag': {
    kind: 'git',
    url: 'https://github.com/org/charts',
    ref: 'refs/tags/v1.0.0',
    path: 'x',
  },
  'git-default': { kind: 'git', url: 'https://github.com/org/charts', ref: null, path: '' },
};

type Overrides = {
  app?: Partial<BundleInput['app']>;
  environment?: Partial<BundleInput['environment']>;
  source?: Partial<BundleInput['source']>;
  values?: Partial<BundleInput['values']>;
  appChart?: Record<string, string>;
};

export function bundleInput(overrides: Overrides = {}): BundleInput {
  const environment = {
    name: 'staging',
    helmType: 'flux' as const,
    namespace: 'apps',
    releaseName: 'my-app',
    iacPath: 'clusters/staging/my-app',
    ...overrides.environment,
  };
  return {
    app: {
      name: 'my-app',
      repoUrl: 'https://github.com/org/my-app',
      gitProvider: 'github',
      chart: { kind: 'app-repo', path: 'deploy/chart' },
      chartSecretRef: null,
      // A github.com app without image_repository: the default applies unless values name one.
      imageRepository: null,
      defaultImageRepository: 'ghcr.io/org/my-app',
      imageTagFormat: '{{shortSha}}',
      ...overrides.app,
    },
    environment,
    source: {
      sha: SHA,
      branch: 'main',
      commitUrl: `https://github.com/org/my-app/commit/${SHA}`,
      ...overrides.source,
    },
    values: {
      base: { replicaCount: 1, service: { port: 8080 } },
      environment: { replicaCount: 2 },
      ...overrides.values,
    },
    appChart: overrides.appChart,
  };
}
