import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Db } from '../../src/store/db.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { AppPatch } from '../../src/store/types.ts';
import { openLane, randomKey as randomKeyBuffer, type LaneDb } from '../helpers/lanes.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  renderArgs,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';
import type { ChartSourceKind } from '../../src/model.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
let dag: Dag;
let running: Db | undefined;
let dir: string;
let repoDir: string;

type Rendered = Record<string, Record<string, unknown>>;

/** `dag render` of the staging environment, each file parsed. */
async function render(): Promise<Rendered> {
  const out = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
  const result = await dag(renderArgs(SHA, repoDir, out));
  expect(result.code, result.stderr).toBe(0);
  const files: Rendered = {};
  for (const name of readdirSync(out)) {
    files[name] = parse(readFileSync(path.join(out, name), 'utf8')) as Record<string, unknown>;
  }
  return files;
}

async function appsJson(): Promise<Record<string, unknown>[]> {
  const result = await dag(['apps', 'list', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>[];
}

beforeAll(async () => {
  dir = tempDir('dag-apps-set-');
  running = await runningDatabase(path.join(dir, 'data'));
  dag = dagWith({ DAG_DATA_DIR: path.join(dir, 'data'), DAG_ENCRYPTION_KEY: randomKey() });
  repoDir = path.join(dir, 'my-app');
  for (const folder of ['deploy', 'helm'])
    mkdirSync(path.join(repoDir, folder), { recursive: true });
  writeFileSync(path.join(repoDir, 'deploy/values.yaml'), 'from: deploy\n');
  writeFileSync(path.join(repoDir, 'helm/values.yaml'), 'from: helm\n');
  writeFileSync(path.join(repoDir, 'helm/values-staging.yaml'), 'replicaCount: 2\n');
  await runSteps(dag, appWithStaging('github', 'https://github.com/org/my-app'));
}, 120_000);
afterAll(() => running?.close());

describe('dag apps set', () => {
  it('starts from the defaults: the chart in the app repo, values in deploy/', async () => {
    expect(await appsJson()).toEqual([
      {
        id: 1,
        name: 'my-app',
        gitProvider: 'github',
        repoUrl: 'https://github.com/org/my-app',
        chartSource: 'app-repo',
        chartPath: 'chart',
        chartRepoUrl: null,
        chartName: null,
        chartVersion: null,
        chartSecretRef: null,
        imageRepository: null,
        imageTagFormat: '{{sha}}',
        valuesPath: 'deploy',
        autoDiff: true,
        createdAt: expect.stringMatching(/Z$/),
      },
    ]);
    const files = await render();
    expect(files['source.yaml']).toMatchObject({
      kind: 'GitRepository',
      spec: { url: 'https://github.com/org/my-app' },
    });
    expect(files['values.yaml']).toMatchObject({
      from: 'deploy',
      image: { repository: 'ghcr.io/org/my-app', tag: SHA },
    });
  });

  it('switches to a Helm repository chart, another image, tag format and values folder', async () => {
    const result = await dag([
      ...['apps', 'set', 'my-app', '--chart-source', 'helm'],
      ...['--chart-repo-url', 'https://stefanprodan.github.io/podinfo', '--chart-name', 'podinfo'],
      ...['--chart-version', '>=6.0.0 <7', '--chart-secret-ref', 'podinfo-charts'],
      ...['--image-repository', 'registry.example.com:5000/team/podinfo'],
      ...['--image-tag-format', '{{branch}}-{{ shortSha }}', '--values-path', 'helm/'],
    ]);
    expect(result).toEqual({
      code: 0,
      stdout:
        'updated app 1 (my-app): chart-source=helm, chart-repo-url=https://stefanprodan.github.io/podinfo, ' +
        'chart-name=podinfo, chart-version=>=6.0.0 <7, chart-secret-ref=podinfo-charts, ' +
        'image-repository=registry.example.com:5000/team/podinfo, image-tag-format={{branch}}-{{ shortSha }}, ' +
        'values-path=helm\n',
      stderr: '',
    });
    expect((await appsJson())[0]).toMatchObject({
      chartSource: 'helm',
      chartPath: 'chart',
      chartRepoUrl: 'https://stefanprodan.github.io/podinfo',
      chartName: 'podinfo',
      chartVersion: '>=6.0.0 <7',
      chartSecretRef: 'podinfo-charts',
      imageRepository: 'registry.example.com:5000/team/podinfo',
      imageTagFormat: '{{branch}}-{{ shortSha }}',
      valuesPath: 'helm',
    });

    const files = await render();
    expect(files['source.yaml']).toEqual({
      apiVersion: expect.stringMatching(/^source\.toolkit\.fluxcd\.io\//),
      kind: 'HelmRepository',
      metadata: expect.objectContaining({ name: 'my-app', namespace: 'staging' }),
      spec: {
        interval: '10m',
        url: 'https://stefanprodan.github.io/podinfo',
        secretRef: { name: 'podinfo-charts' },
      },
    });
    expect(files['helmrelease.yaml']).toMatchObject({
      spec: {
        chart: {
          spec: {
            chart: 'podinfo',
            version: '>=6.0.0 <7',
            sourceRef: { kind: 'HelmRepository', name: 'my-app' },
          },
        },
      },
    });
    expect(files['values.yaml']).toMatchObject({
      from: 'helm',
      replicaCount: 2,
      image: { repository: 'registry.example.com:5000/team/podinfo', tag: 'develop-0123456' },
    });
  });

  it('switches to an OCI chart, and an empty value resets a setting to its default', async () => {
    const result = await dag([
      ...['apps', 'set', '1', '--chart-source', 'oci'],
      ...['--chart-repo-url', 'oci://ghcr.io/org/charts/podinfo', '--chart-version', '6.5.0'],
      ...['--chart-secret-ref', '', '--image-repository', ''],
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('chart-secret-ref=(default), image-repository=(default)');
    expect((await appsJson())[0]).toMatchObject({
      chartSource: 'oci',
      chartRepoUrl: 'oci://ghcr.io/org/charts/podinfo',
      chartName: 'podinfo',
      chartSecretRef: null,
      imageRepository: null,
    });
    const files = await render();
    expect(files['source.yaml']).toMatchObject({
      kind: 'OCIRepository',
      spec: { url: 'oci://ghcr.io/org/charts/podinfo', ref: { tag: '6.5.0' } },
    });
    expect(files['source.yaml']?.spec).not.toHaveProperty('secretRef');
    expect(files['helmrelease.yaml']).toMatchObject({
      spec: { chartRef: { kind: 'OCIRepository', name: 'my-app' } },
    });
    expect(files['values.yaml']).toMatchObject({
      image: { repository: 'ghcr.io/org/my-app', tag: 'develop-0123456' },
    });
  });

  it('goes back to the chart in the app repository', async () => {
    const result = await dag([
      ...['apps', 'set', 'https://github.com/org/my-app.git', '--chart-source', 'app-repo'],
      ...[
        '--chart-path',
        'deploy/chart',
        '--values-path',
        'deploy',
        '--image-tag-format',
        '{{sha}}',
      ],
      ...['--chart-repo-url', '', '--chart-name', '', '--chart-version', ''],
    ]);
    expect(result.code, result.stderr).toBe(0);
    const files = await render();
    expect(files['source.yaml']).toMatchObject({ kind: 'GitRepository' });
    expect(files['helmrelease.yaml']).toMatchObject({
      spec: { chart: { spec: { chart: './deploy/chart', reconcileStrategy: 'Revision' } } },
    });
    expect(files['values.yaml']).toMatchObject({
      from: 'deploy',
      image: { tag: SHA },
    });
  });

  describe('refuses input before opening the database', () => {
    // A data folder with no database: a command that opened it would fail with "not migrated".
    const untouched = () => path.join(dir, 'untouched');

    it.each([
      [['--chart-source', 'bitnami'], "chart source must be 'app-repo', 'helm', 'oci' or 'git'"],
      [['--chart-source', ''], "chart source must be 'app-repo', 'helm', 'oci' or 'git'"],
      [['--chart-repo-url', 'ftp://charts.example.com'], 'not a chart repository URL'],
      [['--chart-repo-url', 'charts.example.com'], 'not a chart repository URL'],
      [['--chart-name', 'pod info'], 'invalid chart name'],
      [['--chart-version', ' '], 'invalid chart version'],
      [['--chart-secret-ref', 'Helm_Creds'], 'invalid secret name: Helm_Creds (a DNS-1123 name'],
      [['--chart-secret-ref', '-creds'], 'invalid secret name'],
      [['--chart-path', '../chart'], 'invalid chart path: ../chart'],
      [['--chart-path', 'charts/./app'], 'invalid chart path'],
      [['--values-path', '/etc'], 'invalid values path: /etc'],
      [['--values-path', 'my values'], 'invalid values path'],
      [['--image-repository', 'ghcr.io/org/app:1.0'], 'without a tag or digest'],
      [['--image-repository', 'https://ghcr.io/org/app'], 'without a scheme'],
      [['--image-repository', 'ghcr.io/Org/App'], 'invalid image repository'],
      [['--image-tag-format', '{{sha}}-{{env}}'], 'invalid image tag format'],
      [['--image-tag-format', '{{#if sha}}x{{/if}}'], 'invalid image tag format'],
      [['--image-tag-format', '{{{sha}}}'], 'invalid image tag format'],
      [['--image-tag-format', 'latest'], 'needs at least one'],
      [['--image-tag-format', '{{sha}}!'], 'which is not a valid image tag'],
      [[], 'nothing to set'],
    ])('%j', async (options, message) => {
      const result = await dag(['apps', 'set', 'my-app', ...options], {
        env: { DAG_DATA_DIR: untouched() },
      });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(message);
      expect(result.stderr.split('\n')).toHaveLength(2); // one line
      expect(readdirSync(dir)).not.toContain('untouched');
    });

    it('never echoes credentials in a chart URL', async () => {
      const result = await dag(
        ['apps', 'set', 'my-app', '--chart-repo-url', 'https://robot:s3cr3t-pw@charts.example.com'],
        { env: { DAG_DATA_DIR: untouched() } },
      );
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('must not contain credentials');
      expect(result.stderr).toContain('--chart-secret-ref');
      expect(dag.transcript()).not.toContain('s3cr3t-pw');
    });
  });

  describe('refuses a combination a deploy could not use, changing nothing', () => {
    it.each([
      [
        ['--chart-source', 'helm', '--chart-repo-url', 'https://charts.example.com'],
        "app my-app: chart source 'helm' needs the chart's name",
      ],
      [
        ['--chart-source', 'helm', '--chart-name', 'x', '--chart-repo-url', 'oci://ghcr.io/org'],
        "chart source 'helm' needs the Helm repository's https:// URL (for a chart in an OCI registry use chart source 'oci')",
      ],
      [
        ['--chart-source', 'helm', '--chart-name', 'x', '--chart-repo-url', 'http://charts.lan'],
        "chart source 'helm' needs the Helm repository's https:// URL",
      ],
      [['--chart-source', 'helm', '--chart-name', 'x'], "needs the Helm repository's https:// URL"],
      [['--chart-source', 'oci'], "chart source 'oci' needs the chart's oci:// URL"],
      [
        ['--chart-source', 'oci', '--chart-repo-url', 'https://ghcr.io/org/charts/app'],
        "chart source 'oci' needs the chart's oci:// URL",
      ],
      [['--chart-source', 'git'], "chart source 'git' needs the chart repository's https:// URL"],
      [
        ['--chart-source', 'git', '--chart-repo-url', 'oci://ghcr.io/org/charts/app'],
        "chart source 'git' needs the chart repository's https:// URL",
      ],
    ])('%j', async (options, message) => {
      const before = await appsJson();
      const result = await dag(['apps', 'set', 'my-app', ...options]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(message);
      expect(await appsJson()).toEqual(before);
    });

    it('names an unknown app', async () => {
      const result = await dag(['apps', 'set', 'nope', '--chart-path', 'chart']);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('dag: unknown app: nope (see: dag apps list)\n');
    });
  });
});

describe('SqlConfigStore.updateApp', () => {
  let lane: LaneDb;
  let store: SqlConfigStore;

  beforeAll(async () => {
    lane = await openLane('embedded');
    store = new SqlConfigStore(lane.db, new Keyring(randomKeyBuffer()));
    await store.addApp({ gitProvider: 'gitlab', repoUrl: 'https://gitlab.com/org/svc' });
  });
  afterAll(() => lane?.drop());

  it('keeps what the patch leaves out and clears what it sets to null', async () => {
    await store.updateApp('svc', {
      chartSource: 'git',
      chartRepoUrl: 'https://gitlab.com/org/charts.git',
      chartVersion: 'v1.2.0',
      imageRepository: 'registry.gitlab.com/org/svc/app',
    });
    const app = await store.updateApp('svc', { chartPath: 'charts/svc', imageRepository: null });
    expect(app.chart).toEqual({
      source: 'git',
      path: 'charts/svc',
      repoUrl: 'https://gitlab.com/org/charts.git',
      name: null,
      version: 'v1.2.0',
      secretRef: null,
    });
    expect(app.imageRepository).toBeNull();
    expect(await store.updateApp('svc', {})).toEqual(app);
  });

  // What a caller that skips the CLI's checks meets: the database's constraints, in words.
  it.each([
    [{ chartSource: 'bitnami' as ChartSourceKind }, "chart source must be 'app-repo'"],
    [{ chartPath: '/abs' }, 'the chart path must be relative and without ".."'],
    [{ chartPath: 'a/../b' }, 'the chart path must be relative and without ".."'],
    [
      { chartSource: 'app-repo', chartRepoUrl: 'ftp://x' },
      'the chart repository URL must start with https://, http:// or oci://',
    ],
    [{ valuesPath: '../deploy' }, 'the values path must be relative and without ".."'],
  ] satisfies [AppPatch, string][])('%j', async (patch, message) => {
    await expect(store.updateApp('svc', patch)).rejects.toMatchObject({
      kind: 'user',
      message: expect.stringContaining(message),
    });
  });
});
