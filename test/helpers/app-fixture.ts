import type { App } from '../../src/model.ts';
/** An app row as the store gives it: `my-app` on GitHub with its chart in the repository. */
export function appFixture(overrides: Partial<App> = {}): App {
  return {
    id: 1,
    gitProvider: 'github',
    repoUrl: 'https://github.com/org/my-app',
    name: 'my-app',
    chart: {
      source: 'app-repo',
      path: 'deploy/chart',
      repoUrl: null,
      name: null,
      version: null,
      secretRef: null,
    },
    imageRepository: null,
    imageTagFormat: '{{shortSha}}',
    valuesPath: 'deploy',
    autoDiff: false,
    createdAt: new Date(0),
    ...overrides,
  };
}
