import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigError, UserError } from '../../src/errors.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { PROVENANCE } from '../../src/render/provenance.ts';
import { DAG_TEMPLATES_DIR, loadTemplates } from '../../src/render/templates.ts';
import type { Templates } from '../../src/render/templates.ts';
import type { Bundle } from '../../src/render/types.ts';
import { bundleInput, CHART_SOURCES, SHA } from './bundle-input.ts';

let templates: Templates;
const temporary: string[] = [];

beforeAll(async () => {
  templates = loadTemplates();
});

afterAll(async () => {
  await Promise.all(temporary.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function operatorTemplates(files: Record<string, string>): Promise<Templates> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dag-bundle-templates-'));
  temporary.push(dir);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), content);
  }
  return loadTemplates(dir);
}

function file(bundle: Bundle, name: string): string {
  const text = bundle.files[name];
  if (text === undefined)
    throw new Error(`bundle has no ${name}: ${Object.keys(bundle.files).join(', ')}`);
  return text;
}

type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
};

function objects(bundle: Bundle, name: string): K8sObject[] {
  return parseAllDocuments(file(bundle, name)).map((doc) => {
    if (!('toJS' in doc)) throw new Error('empty stream');
    expect(doc.errors).toEqual([]);
    return doc.toJS() as K8sObject;
  });
}

function expectedProvenance(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    [PROVENANCE.app]: 'my-app',
    [PROVENANCE.environment]: 'staging',
    [PROVENANCE.sourceRepo]: 'https://github.com/org/my-app',
    [PROVENANCE.sourceBranch]: 'main',
    [PROVENANCE.sourceCommit]: SHA,
    [PROVENANCE.sourceCommitUrl]: `https://github.com/org/my-app/commit/${SHA}`,
    [PROVENANCE.iacPath]: 'clusters/staging/my-app',
    ...overrides,
  };
}

describe('renderBundle, flux', () => {
  it.each(Object.keys(CHART_SOURCES))('renders the files of a %s chart source', (kind) => {
    const bundle = renderBundle(bundleInput({ app: { chart: CHART_SOURCES[kind] } }), templates);
    expect(Object.keys(bundle.files)).toEqual([
      'helmrelease.yaml',
      'kustomization.yaml',
      'kustomizeconfig.yaml',
      'source.yaml',
      'values.yaml',
    ]);
    const [release] = objects(bundle, 'helmrelease.yaml');
    const [source] = objects(bundle, 'source.yaml');
    expect(release?.kind).toBe('HelmRelease');
    expect(release?.metadata).toMatchObject({ name: 'my-app', namespace: 'apps' });
    expect(release?.spec).toMatchObject({
      releaseName: 'my-app',
      valuesFrom: [{ kind: 'ConfigMap', name: 'my-app-values', valuesKey: 'values.yaml' }],
      install: { remediation: { retries: 3 } },
      upgrade: { remediation: { retries: 3 } },
    });
    const expectedKind = {
      'app-repo': 'GitRepository',
      git: 'GitRepository',
      helm: 'HelmRepository',
      oci: 'OCIRepository',
    }[CHART_SOURCES[kind]?.kind ?? 'git'];
    expect(source?.kind).toBe(expectedKind);
    if (expectedKind === 'OCIRepository') {
      expect(release?.spec?.chartRef).toEqual({ kind: 'OCIRepository', name: 'my-app' });
      expect(release?.spec?.chart).toBeUndefined();
    } else {
      expect(release?.spec?.chart).toMatchObject({
        spec: { sourceRef: { kind: expectedKind, name: 'my-app' } },
      });
    }
  });

  it('pins an app-repo chart to the pushed commit on its branch', () => {
    const bundle = renderBundle(bundleInput(), templates);
    const [source] = objects(bundle, 'source.yaml');
    expect(source?.spec).toEqual({
      interval: '10m',
      url: 'https://github.com/org/my-app',
      ref: { branch: 'main', commit: SHA },
    });
    const [release] = objects(bundle, 'helmrelease.yaml');
    expect(release?.spec?.chart).toEqual({
      spec: {
        chart: './deploy/chart',
        reconcileStrategy: 'Revision',
        interval: '10m',
        sourceRef: { kind: 'GitRepository', name: 'my-app' },
      },
    });
  });

  it.each<[string, Record<string, unknown>]>([
    ['git', { ref: { branch: 'main' } }],
    ['git-commit', { url: 'ssh://git@github.com/org/charts.git', ref: { commit: SHA } }],
    ['git-tag', { ref: { name: 'refs/tags/v1.0.0' } }],
    ['git-default', { ref: undefined }],
    ['helm-oci', { type: 'oci', url: 'oci://ghcr.io/org/charts' }],
    ['oci', { ref: { tag: '1.4.2' } }],
    ['oci-range', { url: 'oci://ghcr.io/org/charts/my-app', ref: { semver: '>=1.0.0 <2.0.0' } }],
    ['oci-latest', { ref: { semver: '*' } }],
  ])('writes the source of %s', (kind, expected) => {
    const bundle = renderBundle(bundleInput({ app: { chart: CHART_SOURCES[kind] } }), templates);
    const [source] = objects(bundle, 'source.yaml');
    const present = Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== undefined));
    expect(source?.spec).toMatchObject(present);
    if ('ref' in expected && expected.ref === undefined) expect(source?.spec?.ref).toBeUndefined();
  });

  it('adds the secretRef when the chart source needs credentials', () => {
    for (const kind of Object.keys(CHART_SOURCES)) {
      const input = bundleInput({
        app: { chart: CHART_SOURCES[kind], chartSecretRef: 'chart-creds' },
      });
      const [source] = objects(renderBundle(input, templates), 'source.yaml');
      expect(source?.spec?.secretRef).toEqual({ name: 'chart-creds' });
    }
    const [source] = objects(renderBundle(bundleInput(), templates), 'source.yaml');
    expect(source?.spec?.secretRef).toBeUndefined();
  });

  it('never writes credentials from a repository URL', () => {
    const input = bundleInput({
      app: { repoUrl: 'https://oauth2:glpat-secret@gitlab.com/org/my-app.git' },
    });
    const bundle = renderBundle(input, templates);
    expect(JSON.stringify(bundle.files)).not.toContain('glpat-secret');
    const [source] = objects(bundle, 'source.yaml');
    expect(source?.spec?.url).toBe('https://gitlab.com/org/my-app.git');
  });

  it.each(Object.keys(CHART_SOURCES))(
    'puts provenance annotations on every object (%s)',
    (kind) => {
      const bundle = renderBundle(bundleInput({ app: { chart: CHART_SOURCES[kind] } }), templates);
      for (const name of ['helmrelease.yaml', 'source.yaml']) {
        for (const object of objects(bundle, name)) {
          expect(object.metadata.annotations).toEqual(expectedProvenance());
        }
      }
      const kustomization = parse(file(bundle, 'kustomization.yaml'));
      expect(kustomization.generatorOptions.annotations).toEqual({
        'kustomize.toolkit.fluxcd.io/substitute': 'disabled',
        ...expectedProvenance(),
      });
    },
  );

  it('writes the merged values with the image and provenance DAG sets', () => {
    const input = bundleInput({
      app: { imageTagFormat: '{{branch}}-{{shortSha}}' },
      values: {
        base: {
          image: { repository: 'registry.example.com/team/my-app', pullPolicy: 'Always' },
          resources: { limits: { cpu: 1 } },
          list: [1, 2],
        },
        environment: {
          resources: { limits: { memory: '1Gi' } },
          list: [3],
          dag: { other: 1, annotations: { fake: 'x' } },
        },
      },
    });
    const values = parse(file(renderBundle(input, templates), 'values.yaml'));
    expect(values).toEqual({
      image: {
        repository: 'registry.example.com/team/my-app',
        pullPolicy: 'Always',
        tag: 'main-9f86d08',
      },
      resources: { limits: { cpu: 1, memory: '1Gi' } },
      list: [3],
      dag: { other: 1, annotations: expectedProvenance() },
    });
  });

  describe('image repository: the app setting, else the values files, else the default', () => {
    const image = (overrides: Parameters<typeof bundleInput>[0]) =>
      parse(file(renderBundle(bundleInput(overrides), templates), 'values.yaml')).image;
    const inValues = (repository: unknown) => ({
      base: { image: { repository } },
      environment: {},
    });

    it.each([
      [
        "the app's image_repository over values and default",
        { app: { imageRepository: 'registry.example.com/ops/pinned' }, values: inValues('x/y') },
        'registry.example.com/ops/pinned',
      ],
      [
        'the values file over the default',
        { values: inValues('quay.io/team/app') },
        'quay.io/team/app',
      ],
      [
        "the environment's values file over the base one",
        {
          values: {
            base: { image: { repository: 'quay.io/team/app' } },
            environment: { image: { repository: 'quay.io/team/app-staging' } },
          },
        },
        'quay.io/team/app-staging',
      ],
      ['the default when no values name one', {}, 'ghcr.io/org/my-app'],
      [
        'the default when the values leave it empty',
        { values: inValues('') },
        'ghcr.io/org/my-app',
      ],
      [
        'the default when the values leave it null',
        { values: inValues(null) },
        'ghcr.io/org/my-app',
      ],
    ])('takes %s', (_name, overrides, repository) => {
      expect(image(overrides)).toEqual({ repository, tag: '9f86d08' });
    });

    it('sets only the tag, and says why in values.yaml, when there is none', () => {
      const bundle = renderBundle(
        bundleInput({ app: { defaultImageRepository: null } }),
        templates,
      );
      const text = file(bundle, 'values.yaml');
      expect(text).toMatch(/^# DAG set image\.tag only: neither the app's image_repository nor/);
      expect(parse(text).image).toEqual({ tag: '9f86d08' });
    });

    it.each([
      [
        'a repository with a space',
        { values: inValues('ghcr.io/x y') },
        /"ghcr.io\/x y" in the values/,
      ],
      ['a repository that is no string', { values: inValues(5) }, /must be a string, found 5/],
      ['an empty app setting', { app: { imageRepository: '' } }, /"" of app my-app is not valid/],
    ])("refuses %s as the user's error", (_name, overrides, message) => {
      expect(() => renderBundle(bundleInput(overrides), templates)).toThrow(UserError);
      expect(() => renderBundle(bundleInput(overrides), templates)).toThrow(message);
    });
  });

  const hostile = [
    'x\nevil: true',
    '{{',
    '{{#each}}',
    '{{yaml app.name}}',
    '*alias',
    '&anchor',
    'key: with colon',
    '- list',
    '# comment',
    'line 1\nline 2\n  indented: 3\n',
    '"quoted"',
    'yes',
    '0644',
    '12:30',
    '---',
    '...',
    '\u2028separator',
  ];

  it.each(hostile)('keeps the hostile value %j a string in values.yaml', (value) => {
    const input = bundleInput({
      values: {
        base: { plain: value, [value]: 'as key', nested: { list: [value] } },
        environment: {},
      },
    });
    const values = parse(file(renderBundle(input, templates), 'values.yaml'));
    expect(values.plain).toBe(value);
    expect(values[value]).toBe('as key');
    expect(values.nested).toEqual({ list: [value] });
    expect(values.evil).toBeUndefined();
  });

  it.each(hostile)('keeps the hostile value %j a string in every object', (value) => {
    const input = bundleInput({
      app: { name: value },
      environment: { name: value, iacPath: value },
      source: { branch: value },
    });
    const bundle = renderBundle(input, templates);
    for (const name of ['helmrelease.yaml', 'source.yaml']) {
      const [object] = objects(bundle, name);
      expect(Object.keys(object ?? {})).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
      expect(object?.metadata.annotations).toEqual(
        expectedProvenance({
          [PROVENANCE.app]: value,
          [PROVENANCE.environment]: value,
          [PROVENANCE.iacPath]: value,
          [PROVENANCE.sourceBranch]: value,
        }),
      );
    }
    const [source] = objects(bundle, 'source.yaml');
    expect(source?.spec?.ref).toEqual({ branch: value, commit: SHA });
  });

  it('keeps __proto__ in values as data', () => {
    const base = JSON.parse('{"__proto__": {"polluted": "yes"}}') as Record<string, unknown>;
    const values = parse(
      file(
        renderBundle(bundleInput({ values: { base, environment: {} } }), templates),
        'values.yaml',
      ),
    );
    expect(Object.keys(values)).toContain('__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('is deterministic: the same input gives byte-identical files', async () => {
    const fresh = loadTemplates();
    for (const kind of Object.keys(CHART_SOURCES)) {
      const first = renderBundle(bundleInput({ app: { chart: CHART_SOURCES[kind] } }), templates);
      const second = renderBundle(bundleInput({ app: { chart: CHART_SOURCES[kind] } }), fresh);
      expect(second).toEqual(first);
      expect(JSON.stringify(second.files)).toBe(JSON.stringify(first.files));
    }
    const plain = bundleInput({ environment: { helmType: 'plain' } });
    expect(JSON.stringify(renderBundle(plain, fresh))).toBe(
      JSON.stringify(renderBundle(plain, templates)),
    );
  });

  it.each([
    [
      'a tag with a slash',
      { imageTagFormat: '{{branch}}' },
      { branch: 'feature/x' },
      /not a valid image tag/,
    ],
    ['a format naming another field', { imageTagFormat: '{{version}}' }, {}, /does not render/],
  ])('refuses %s as the user’s error', (_name, app, source, message) => {
    const input = bundleInput({ app, source });
    expect(() => renderBundle(input, templates)).toThrow(UserError);
    expect(() => renderBundle(input, templates)).toThrow(message);
  });

  it.each([
    ['a namespace', { environment: { namespace: 'Apps_1' } }, ConfigError],
    ['a release name', { environment: { releaseName: 'x'.repeat(54) } }, ConfigError],
    ['a sha', { source: { sha: 'HEAD' } }, UserError],
    [
      'a chart path',
      { app: { chart: { kind: 'app-repo' as const, path: '../../etc' } } },
      UserError,
    ],
    ['an image repository', { app: { imageRepository: 'ghcr.io/x y' } }, UserError],
  ])('refuses an invalid %s', (_name, overrides, type) => {
    expect(() => renderBundle(bundleInput(overrides), templates)).toThrow(type);
  });
});

describe("renderBundle with an operator's templates", () => {
  it('adds provenance to objects of a template that forgot them', async () => {
    const custom = await operatorTemplates({
      'flux/helmrelease.yaml.hbs': [
        'apiVersion: helm.toolkit.fluxcd.io/v2',
        'kind: HelmRelease',
        'metadata:',
        '  name: {{yaml environment.releaseName}}',
        '  annotations:',
        '    team: payments',
        '    dag.dev/source-commit: forged',
        'spec:',
        '  interval: 5m',
        '  chartRef: {kind: OCIRepository, name: {{yaml flux.source.name}} }',
        '---',
        'apiVersion: v1',
        'kind: ConfigMap',
        'metadata: {name: extra}',
        '',
      ].join('\n'),
    });
    const bundle = renderBundle(bundleInput({ app: { chart: CHART_SOURCES.oci } }), custom);
    const [release, extra] = objects(bundle, 'helmrelease.yaml');
    expect(release?.metadata.annotations).toEqual({ team: 'payments', ...expectedProvenance() });
    expect(extra?.metadata.annotations).toEqual(expectedProvenance());
    expect(release?.spec?.interval).toBe('5m');
    // Canonical block style, even where the template wrote flow style.
    expect(file(bundle, 'helmrelease.yaml')).toContain('  chartRef:\n    kind: OCIRepository\n');
  });

  it.each([
    [
      'a document that is not an object',
      { 'flux/helmrelease.yaml.hbs': 'just: data\n' },
      /helmrelease\.yaml\.hbs: not a Kubernetes object \(missing apiVersion, kind, metadata\.name\)/,
    ],
    [
      'a list',
      { 'flux/source.yaml.hbs': '- a\n- b\n' },
      /source\.yaml\.hbs: not a Kubernetes object \(the document is not a mapping\)/,
    ],
    [
      'an object without a name',
      { 'flux/extra.yaml.hbs': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n' },
      /extra\.yaml\.hbs: not a Kubernetes object \(missing metadata\.name\)/,
    ],
    [
      'invalid YAML',
      { 'flux/extra.yaml.hbs': 'a: 1\n b: 2\n' },
      /extra\.yaml\.hbs \(rendered\) line \d+: /,
    ],
    [
      'nothing',
      { 'flux/extra.yaml.hbs': '# nothing\n' },
      /extra\.yaml\.hbs: rendered no YAML document/,
    ],
    [
      'an object file the kustomization does not list',
      { 'flux/extra.yaml.hbs': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' },
      /does not list extra\.yaml under resources/,
    ],
    [
      'a values.yaml template',
      { 'flux/values.yaml.hbs': 'a: 1\n' },
      /values\.yaml is written by DAG/,
    ],
  ])('refuses %s, naming the template', async (_name, files, message) => {
    const custom = await operatorTemplates(files);
    expect(() => renderBundle(bundleInput(), custom)).toThrow(ConfigError);
    expect(() => renderBundle(bundleInput(), custom)).toThrow(message);
  });
});

describe('renderBundle, plain', () => {
  const plain = (overrides: Parameters<typeof bundleInput>[0] = {}) =>
    bundleInput({ ...overrides, environment: { helmType: 'plain', ...overrides.environment } });

  it("renders DAG's default chart", async () => {
    const bundle = renderBundle(plain(), templates);
    expect(Object.keys(bundle.files)).toEqual([
      'Chart.yaml',
      'templates/_helpers.tpl',
      'templates/deployment.yaml',
      'templates/service.yaml',
      'values.yaml',
    ]);
    const chart = parse(file(bundle, 'Chart.yaml'));
    expect(chart).toMatchObject({
      apiVersion: 'v2',
      name: 'my-app',
      version: '0.0.0-g9f86d08',
      appVersion: SHA,
    });
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/);
    expect(chart.annotations).toEqual(expectedProvenance());
    for (const name of ['_helpers.tpl', 'deployment.yaml', 'service.yaml']) {
      const source = await readFile(
        path.join(DAG_TEMPLATES_DIR, 'plain/chart/templates', name),
        'utf8',
      );
      expect(file(bundle, `templates/${name}`)).toBe(source);
    }
  });

  it('treats an empty app chart folder as no chart', () => {
    const bundle = renderBundle(plain({ appChart: {} }), templates);
    expect(Object.keys(bundle.files)).toContain('templates/deployment.yaml');
  });

  it('gives a valid chart version for an all-digit short sha', () => {
    const sha = '0123456789012345678901234567890123456789';
    const chart = parse(file(renderBundle(plain({ source: { sha } }), templates), 'Chart.yaml'));
    expect(chart.version).toBe('0.0.0-g0123456');
    expect(chart.appVersion).toBe(sha);
  });

  it('writes values: chart defaults, then base, then environment, then DAG', () => {
    const values = parse(
      file(
        renderBundle(
          plain({
            values: {
              base: { replicaCount: 3, service: { port: 9090 } },
              environment: { env: [{ name: 'A', value: '1' }] },
            },
          }),
          templates,
        ),
        'values.yaml',
      ),
    );
    expect(values).toMatchObject({
      replicaCount: 3,
      containerPort: 8080,
      service: { enabled: true, type: 'ClusterIP', port: 9090 },
      env: [{ name: 'A', value: '1' }],
      image: { repository: 'ghcr.io/org/my-app', tag: '9f86d08', pullPolicy: 'IfNotPresent' },
      probes: { liveness: { enabled: false }, readiness: { enabled: false } },
      dag: { annotations: expectedProvenance() },
    });
  });

  it('puts dag.annotations on every object and pod template of the default chart', () => {
    const bundle = renderBundle(plain(), templates);
    const count = (text: string) => text.split('.Values.dag.annotations').length - 1;
    const deployment = file(bundle, 'templates/deployment.yaml');
    const service = file(bundle, 'templates/service.yaml');
    // Deployment metadata and its pod template; Service metadata.
    expect(count(deployment)).toBe(2);
    expect(deployment).toMatch(
      /metadata:\n[\s\S]*\{\{- with \.Values\.dag\.annotations \}\}\n {2}annotations:/,
    );
    expect(deployment).toMatch(
      /template:\n {4}metadata:[\s\S]*\.Values\.dag\.annotations[\s\S]*\n {6}annotations:/,
    );
    expect(count(service)).toBe(1);
    expect(deployment).toContain('.Values.image.repository');
    expect(deployment).toContain('.Values.image.tag');
  });

  it("uses the app repo's chart: keeps its files and Chart.yaml, sets appVersion and annotations", () => {
    const appChart = {
      'Chart.yaml':
        '# The app team wrote this.\napiVersion: v2\nname: shop\nversion: 2.1.0 # bumped by hand\nappVersion: "1.0"\nannotations:\n  team: shop\n',
      'values.yaml':
        'replicaCount: 1\nimage:\n  repository: nginx\n  tag: latest\nfeature: {enabled: no}\n',
      'templates/deployment.yaml': 'kind: Deployment\nimage: {{ .Values.image.repository }}\n',
      'templates/_helpers.tpl': '{{- define "x" -}}{{- end }}\n',
      '.helmignore': '*.swp\n',
    };
    const bundle = renderBundle(
      plain({ appChart, values: { base: { replicaCount: 2 }, environment: {} } }),
      templates,
    );
    expect(Object.keys(bundle.files)).toEqual([
      '.helmignore',
      'Chart.yaml',
      'templates/_helpers.tpl',
      'templates/deployment.yaml',
      'values.yaml',
    ]);
    const chartText = file(bundle, 'Chart.yaml');
    expect(chartText).toContain('# The app team wrote this.');
    expect(chartText).toContain('# bumped by hand');
    expect(parse(chartText)).toEqual({
      apiVersion: 'v2',
      name: 'shop',
      version: '2.1.0',
      appVersion: SHA,
      annotations: { team: 'shop', ...expectedProvenance() },
    });
    expect(file(bundle, 'templates/deployment.yaml')).toBe(appChart['templates/deployment.yaml']);
    expect(parse(file(bundle, 'values.yaml'))).toEqual({
      replicaCount: 2,
      image: { repository: 'ghcr.io/org/my-app', tag: '9f86d08' },
      feature: { enabled: false },
      dag: { annotations: expectedProvenance() },
    });
  });

  it("keeps the app's values' image over the default, and the chart's own when DAG knows none", () => {
    const appChart = {
      'Chart.yaml': 'apiVersion: v2\nname: shop\nversion: 2.1.0\n',
      'values.yaml': 'image:\n  repository: nginx\n  tag: latest\n',
    };
    const values = (overrides: Parameters<typeof bundleInput>[0]) =>
      file(renderBundle(plain({ appChart, ...overrides }), templates), 'values.yaml');
    const named = values({
      values: { base: { image: { repository: 'quay.io/shop/web' } }, environment: {} },
    });
    expect(parse(named).image).toEqual({ repository: 'quay.io/shop/web', tag: '9f86d08' });
    const none = values({ app: { defaultImageRepository: null } });
    expect(none).toMatch(/^# DAG set image\.tag only/);
    expect(parse(none).image).toEqual({ repository: 'nginx', tag: '9f86d08' });
  });

  it("refuses to render DAG's default chart with no image repository, saying where to set one", () => {
    const input = plain({ app: { defaultImageRepository: null } });
    expect(() => renderBundle(input, templates)).toThrow(UserError);
    expect(() => renderBundle(input, templates)).toThrow(
      "app my-app names no image repository, and DAG's default chart needs one: set image.repository in the app's values files, or the app's image_repository (dag apps set --image-repository)",
    );
    const named = plain({
      app: { defaultImageRepository: null },
      values: {
        base: { image: { repository: 'git.corp.example:5050/team/my-app' } },
        environment: {},
      },
    });
    expect(parse(file(renderBundle(named, templates), 'values.yaml')).image).toMatchObject({
      repository: 'git.corp.example:5050/team/my-app',
      tag: '9f86d08',
    });
  });

  it.each([
    [
      'a path leaving the chart',
      { 'Chart.yaml': 'name: x\nversion: 1.0.0\n', '../../.github/workflows/x.yml': 'x' },
      /not a safe relative path/,
    ],
    [
      'an absolute path',
      { 'Chart.yaml': 'name: x\nversion: 1.0.0\n', '/etc/passwd': 'x' },
      /not a safe relative path/,
    ],
    ['no Chart.yaml', { 'templates/x.yaml': 'x' }, /has no Chart\.yaml/],
    ['a Chart.yaml that is no chart', { 'Chart.yaml': '- a\n' }, /not a Helm Chart\.yaml/],
    [
      'bad YAML in values.yaml',
      { 'Chart.yaml': 'name: x\nversion: 1.0.0\n', 'values.yaml': 'a: 1\nb: [\n' },
      /^app chart values\.yaml line \d+: /,
    ],
  ])('refuses an app chart with %s', (_name, appChart, message) => {
    expect(() => renderBundle(plain({ appChart }), templates)).toThrow(UserError);
    expect(() => renderBundle(plain({ appChart }), templates)).toThrow(message);
  });
});
