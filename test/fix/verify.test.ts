import { beforeAll, describe, expect, it } from 'vitest';
import type { ProposalChange } from '../../src/fix/proposal.ts';
import {
  verifyProposal,
  type EntryKind,
  type VerifyDeps,
  type VerifyFailure,
  type Verified,
} from '../../src/fix/verify.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates, type Templates } from '../../src/render/templates.ts';
import { parseValuesFile } from '../../src/render/yaml.ts';
import { fluxSchemaCheck } from '../../src/fix/live-check.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import type { App, Environment } from '../../src/model.ts';

let templates: Templates;
beforeAll(() => {
  templates = loadTemplates();
});

const app = appFixture({ valuesPath: 'deploy/' });

function env(id: number, name: string, helmType: 'flux' | 'plain' = 'flux'): Environment {
  return {
    id,
    appId: 1,
    name,
    branch: name === 'production' ? 'main' : 'develop',
    iacId: 1,
    iacPath: `clusters/${name}/my-app`,
    clusterId: 1,
    helmType,
    helmNamespace: 'apps',
    helmName: null,
    iacBranch: null,
    reconciledBranch: null,
    rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
    createdAt: new Date(0),
  };
}

const staging = env(1, 'staging');
const production = env(2, 'production');
const preview = env(3, 'preview', 'plain');
const otherAppsEnv = { ...env(4, 'staging'), appId: 2 };

const STAGING_VALUES = [
  '# Staging: small and cheap.',
  'resources:',
  '  limits:',
  '    memory: 128Mi # OOMKilled at peak',
  '    cpu: 500m',
  'replicaCount: 1',
  '',
].join('\n');

function repoFiles(): Record<string, string> {
  return {
    'deploy/values.yaml': 'image:\n  repository: ghcr.io/org/my-app\nreplicaCount: 1\n',
    'deploy/values-staging.yaml': STAGING_VALUES,
    'deploy/values-production.yaml': 'replicaCount: 3\n',
    'deploy/chart/Chart.yaml': 'apiVersion: v2\nname: my-app\nversion: 1.0.0\n',
    'deploy/chart/values.yaml': 'replicaCount: 1\n',
    'deploy/chart/templates/deployment.yaml':
      'kind: Deployment\nreplicas: {{ .Values.replicaCount }}\n',
    'src/index.ts': 'export {};\n',
  };
}

const TIP = {
  sha: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
  branch: 'develop',
  commitUrl: 'https://github.com/org/my-app/commit/9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
};

type Options = {
  files?: Record<string, string>;
  kinds?: Record<string, EntryKind>;
  environments?: Environment[];
} & Partial<Omit<VerifyDeps, 'reader' | 'store'>>;

/** An app repository in memory at the tip; entry types only when `kinds` is given. */
function deps(options: Options = {}): VerifyDeps {
  const files = options.files ?? repoFiles();
  const { kinds, environments, ...rest } = options;
  return {
    reader: {
      readFile: async (path) => files[path],
      readFolder: async (folder) => {
        const prefix = `${folder}/`;
        const inside = Object.entries(files).filter(([p]) => p.startsWith(prefix));
        return inside.length
          ? Object.fromEntries(inside.map(([p, c]) => [p.slice(prefix.length), c]))
          : undefined;
      },
      ...(kinds
        ? {
            entryKind: async (path: string) =>
              kinds[path] ??
              (files[path] !== undefined
                ? 'file'
                : Object.keys(files).some((p) => p.startsWith(`${path}/`))
                  ? 'folder'
                  : undefined),
          }
        : {}),
    },
    tools: { render: (input) => renderBundle(input, templates), parseValues: parseValuesFile },
    store: {
      listEnvironments: async () => environments ?? [staging, production, preview, otherAppsEnv],
    },
    ...rest,
  };
}

const verify = (change: ProposalChange, options: Options = {}, target = staging) =>
  verifyProposal({ app, environment: target, change, tip: TIP }, deps(options));

async function verified(change: ProposalChange, options: Options = {}, target = staging) {
  const result = await verify(change, options, target);
  if (!result.ok) throw new Error(`refused: ${JSON.stringify(result)}`);
  return result as Verified;
}

async function refused(change: ProposalChange, options: Options = {}, target = staging) {
  const result = await verify(change, options, target);
  if (result.ok) throw new Error('expected a refusal');
  return result as VerifyFailure;
}

/** DAG's own check of flux bundles against the Flux CRD schemas. */
const fluxProblems = fluxSchemaCheck();

const memoryPatch: ProposalChange = {
  kind: 'values-patch',
  patch: { resources: { limits: { memory: '256Mi', cpu: null } } },
};

describe('verifyProposal: values patch', () => {
  it('patches the environment values file, keeping its comments, and renders only it anew', async () => {
    const result = await verified(memoryPatch, { validateBundle: fluxProblems });
    expect(result.where).toBe('app-repo');
    expect(Object.keys(result.changedFiles)).toEqual(['deploy/values-staging.yaml']);
    const file = result.changedFiles['deploy/values-staging.yaml'];
    expect(file?.before).toBe(STAGING_VALUES);
    await expect(file?.after).toMatchFileSnapshot(
      '../golden/fix/values-patch.values-staging.yaml.txt',
    );
    await expect(result.sourceDiff).toMatchFileSnapshot('../golden/fix/values-patch.diff.txt');
    expect(result.unchangedEnvironments).toEqual(['production', 'preview']);
    const bundle = result.bundles.staging;
    expect(bundle?.before?.['values.yaml']).toContain('memory: 128Mi');
    expect(bundle?.after['values.yaml']).toContain('memory: 256Mi');
    expect(bundle?.after['values.yaml']).not.toContain('cpu:');
    expect(result.checks).toContain(
      "render: staging renders with the deploy's renderer and validates",
    );
    expect(result.checks).toContain('scope: production, preview render unchanged');
    expect(result.checks).toContain('dry run: not run (no cluster given)');
  });

  it('creates the environment values file when the repository has none', async () => {
    const files = repoFiles();
    delete files['deploy/values-production.yaml'];
    const result = await verified(
      { kind: 'values-patch', patch: { replicaCount: 4, flags: { beta: 'yes' } } },
      { files },
      production,
    );
    expect(result.changedFiles['deploy/values-production.yaml']).toEqual({
      before: null,
      after: 'replicaCount: 4\nflags:\n  beta: "yes"\n',
    });
    expect(result.sourceDiff).toMatch(
      /^--- \/dev\/null\n\+\+\+ b\/deploy\/values-production\.yaml\n/,
    );
  });

  it('patches the base values with base, and says which environments it reaches', async () => {
    const result = await verified({ kind: 'values-patch', patch: { replicaCount: 2 }, base: true });
    expect(Object.keys(result.changedFiles)).toEqual(['deploy/values.yaml']);
    expect(result.changedFiles['deploy/values.yaml']?.after).toBe(
      'image:\n  repository: ghcr.io/org/my-app\nreplicaCount: 2\n',
    );
    // staging and production set replicaCount themselves; the plain preview reads the base.
    expect(result.unchangedEnvironments).toEqual(['production']);
    expect(result.checks).toContain(
      'scope: production render unchanged; preview change too (base)',
    );
  });

  it('refuses a patch that changes nothing (422)', async () => {
    const result = await refused({ kind: 'values-patch', patch: { replicaCount: 1 } });
    expect(result).toEqual({
      ok: false,
      status: 422,
      errors: [{ field: 'change', message: 'changes nothing at the tip' }],
    });
  });

  it('refuses when the current values file is no values file (422, naming the file)', async () => {
    const files = { ...repoFiles(), 'deploy/values-staging.yaml': '- a\n- b\n' };
    const result = await refused(memoryPatch, { files });
    expect(result.status).toBe(422);
    expect(result.errors).toEqual([
      {
        field: 'change.patch',
        message:
          'deploy/values-staging.yaml line 1: the top level of a values file must be a mapping, found a sequence',
      },
    ]);
  });
});

describe('verifyProposal: whole files', () => {
  it('replaces the environment values file', async () => {
    const content = 'resources:\n  limits:\n    memory: 512Mi\nreplicaCount: 2\n';
    const result = await verified({
      kind: 'files',
      files: [{ path: 'deploy/values-staging.yaml', content }],
    });
    expect(result.changedFiles).toEqual({
      'deploy/values-staging.yaml': { before: STAGING_VALUES, after: content },
    });
    await expect(result.sourceDiff).toMatchFileSnapshot('../golden/fix/files.diff.txt');
    expect(result.unchangedEnvironments).toEqual(['production', 'preview']);
  });

  it("changes the app's chart with base, and renders the plain environment with it", async () => {
    const template = 'kind: Deployment\nreplicas: {{ .Values.replicaCount }}\nlabels: {}\n';
    const result = await verified(
      {
        kind: 'files',
        files: [{ path: 'deploy/chart/templates/deployment.yaml', content: template }],
        base: true,
      },
      {},
      preview,
    );
    expect(result.bundles.preview?.after['templates/deployment.yaml']).toBe(template);
    // Flux environments point Flux at the chart in git: their bundles do not hold it.
    expect(result.unchangedEnvironments).toEqual(['staging', 'production']);
  });

  it.each([
    ['a parent folder', '../values-staging.yaml', 400, 'contains ..'],
    ['.. inside', 'deploy/../deploy/values-staging.yaml', 400, 'contains ..'],
    ['an absolute path', '/deploy/values-staging.yaml', 400, 'is absolute'],
    ['a drive letter', 'C:/deploy/values-staging.yaml', 400, 'is absolute'],
    [
      'a backslash',
      'deploy\\values-staging.yaml',
      400,
      'contains a backslash; use / between folders',
    ],
    ['.git', 'deploy/chart/.git/config', 400, 'is inside .git'],
    ['.GIT', 'deploy/chart/.GIT/hooks/pre-commit', 400, 'is inside .git'],
    ['NUL', 'deploy/values-staging.yaml\0.txt', 400, 'contains a NUL character'],
    ['a newline', 'deploy/values-staging.yaml\nx', 400, 'contains a control character'],
    ['./', './deploy/values-staging.yaml', 400, 'is not normalized (empty or . part)'],
    ['//', 'deploy//values-staging.yaml', 400, 'is not normalized (empty or . part)'],
    [
      'a lone surrogate',
      'deploy/\uD800.yaml',
      400,
      'is not valid Unicode (it has no UTF-8 encoding)',
    ],
    [
      'too long a path',
      `deploy/chart/${'x'.repeat(600)}`,
      413,
      'is 613 characters long; the limit is 512',
    ],
    [
      'a file outside values and chart',
      'src/index.ts',
      422,
      "is not a file DAG renders this environment from; allowed: deploy/values-staging.yaml, deploy/values.yaml (base), or a file under deploy/chart/ (the app's chart)",
    ],
    [
      "another environment's values",
      'deploy/values-production.yaml',
      422,
      "is not a file DAG renders this environment from; allowed: deploy/values-staging.yaml, deploy/values.yaml (base), or a file under deploy/chart/ (the app's chart)",
    ],
    [
      'the base values without base',
      'deploy/values.yaml',
      422,
      'is the base values, read by every environment; set change.base to true if the change is meant for every environment',
    ],
    [
      'the chart without base',
      'deploy/chart/values.yaml',
      422,
      "is the app's chart, read by every environment; set change.base to true if the change is meant for every environment",
    ],
  ])('refuses %s (%i)', async (_name, path, status, message) => {
    const result = await refused({ kind: 'files', files: [{ path, content: 'a: 1\n' }] });
    expect(result).toEqual({
      ok: false,
      status,
      errors: [{ field: 'change.files[0].path', message: `${JSON.stringify(path)} ${message}` }],
    });
  });

  it('allows no chart files when the app has no chart of its own', async () => {
    const helmApp: App = {
      ...app,
      chart: { ...app.chart, source: 'helm', repoUrl: 'https://charts.example.com', name: 'x' },
    };
    const result = await verifyProposal(
      {
        app: helmApp,
        environment: staging,
        change: {
          kind: 'files',
          files: [{ path: 'deploy/chart/values.yaml', content: '' }],
          base: true,
        },
        tip: TIP,
      },
      deps(),
    );
    expect(result).toMatchObject({
      status: 422,
      errors: [
        {
          message:
            '"deploy/chart/values.yaml" is not a file DAG renders this environment from; allowed: deploy/values-staging.yaml, deploy/values.yaml (base)',
        },
      ],
    });
  });

  it('refuses a path through a symlink or onto a folder where the reader tells entry types (422)', async () => {
    const change: ProposalChange = {
      kind: 'files',
      files: [{ path: 'deploy/chart/templates/x.yaml', content: 'kind: X\n' }],
      base: true,
    };
    expect(await refused(change, { kinds: { 'deploy/chart': 'symlink' } })).toEqual({
      ok: false,
      status: 422,
      errors: [
        {
          field: 'change.files[0].path',
          message:
            '"deploy/chart/templates/x.yaml": deploy/chart is a symlink in the repository; only regular files are written',
        },
      ],
    });
    const onto = await refused(change, { kinds: { 'deploy/chart/templates/x.yaml': 'folder' } });
    expect(onto.errors[0]?.message).toContain('is a folder in the repository');
    const ok = await verified(change, { kinds: {} });
    expect(ok.checks).toContain(
      'symlinks: no changed path is or goes through a symlink or submodule',
    );
  });

  it('says when symlinks could not be checked', async () => {
    const result = await verified(memoryPatch);
    expect(result.checks).toContain(
      'symlinks: not checked (the repository reader does not tell entry types)',
    );
  });

  it.each([
    ['unclosed flow', 'resources: [\n', 'deploy/values-staging.yaml line 2: '],
    [
      'a list',
      '- 1\n',
      'deploy/values-staging.yaml line 1: the top level of a values file must be a mapping, found a sequence',
    ],
    [
      'two documents',
      'a: 1\n---\nb: 2\n',
      'deploy/values-staging.yaml: a values file must hold one YAML document, found 2',
    ],
    [
      'a duplicate key',
      'a: 1\na: 2\n',
      'deploy/values-staging.yaml line 2: Map keys must be unique',
    ],
  ])('refuses a values file with %s (422)', async (_name, content, message) => {
    const result = await refused({
      kind: 'files',
      files: [{ path: 'deploy/values-staging.yaml', content }],
    });
    expect(result.status).toBe(422);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.field).toBe('change.files[0].path');
    expect(result.errors[0]?.message.startsWith(message)).toBe(true);
  });

  it('refuses a chart YAML file that does not parse, but leaves templates to the renderer', async () => {
    const bad = await refused({
      kind: 'files',
      files: [{ path: 'deploy/chart/Chart.yaml', content: 'name: [\n' }],
      base: true,
    });
    expect(bad.status).toBe(422);
    expect(bad.errors[0]?.message).toMatch(/^deploy\/chart\/Chart\.yaml line \d+: /);
  });

  it('refuses a change with which the target environment does not render (422, the reason)', async () => {
    const result = await refused(
      { kind: 'files', files: [{ path: 'deploy/chart/Chart.yaml', content: '- a\n' }], base: true },
      {},
      preview,
    );
    expect(result.status).toBe(422);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.field).toBe('change');
    expect(result.errors[0]?.message).toMatch(
      /^preview does not render with the change: .*not a Helm Chart\.yaml/,
    );
  });

  it('refuses a base change with which another environment stops rendering (422, naming it)', async () => {
    const result = await refused({
      kind: 'files',
      files: [{ path: 'deploy/chart/Chart.yaml', content: '- a\n' }],
      base: true,
    });
    expect(result.status).toBe(422);
    expect(result.errors[0]?.message).toMatch(/^preview does not render with the change: /);
  });

  it('refuses a changed file over the size cap (413)', async () => {
    const content = `a: "${'x'.repeat(1024 * 1024)}"\n`;
    const result = await refused({
      kind: 'files',
      files: [{ path: 'deploy/values-staging.yaml', content }],
    });
    expect(result.status).toBe(413);
    expect(result.errors[0]?.message).toMatch(
      /^"deploy\/values-staging\.yaml" would be \d+ bytes; the limit is 1048576$/,
    );
  });
});

describe('verifyProposal: unified diff', () => {
  const stagingDiff = [
    'diff --git a/deploy/values-staging.yaml b/deploy/values-staging.yaml',
    '--- a/deploy/values-staging.yaml',
    '+++ b/deploy/values-staging.yaml',
    '@@ -1,6 +1,6 @@',
    ' # Staging: small and cheap.',
    ' resources:',
    '   limits:',
    '-    memory: 128Mi # OOMKilled at peak',
    '+    memory: 256Mi # raised after OOMKills',
    '     cpu: 500m',
    ' replicaCount: 1',
    '',
  ].join('\n');

  it('applies to the tip and gives the changed file', async () => {
    const result = await verified({ kind: 'diff', diff: stagingDiff });
    const after = result.changedFiles['deploy/values-staging.yaml']?.after;
    await expect(after).toMatchFileSnapshot('../golden/fix/diff.values-staging.yaml.txt');
    await expect(result.sourceDiff).toMatchFileSnapshot('../golden/fix/diff.diff.txt');
  });

  it('creates and deletes chart files with base', async () => {
    const diff = [
      '--- /dev/null',
      '+++ b/deploy/chart/templates/service.yaml',
      '@@ -0,0 +1,2 @@',
      '+kind: Service',
      '+port: {{ .Values.port | default 80 }}',
      '--- a/deploy/chart/values.yaml',
      '+++ /dev/null',
      '@@ -1 +0,0 @@',
      '-replicaCount: 1',
      '',
    ].join('\n');
    const result = await verified({ kind: 'diff', diff, base: true }, {}, preview);
    expect(result.changedFiles).toEqual({
      'deploy/chart/templates/service.yaml': {
        before: null,
        after: 'kind: Service\nport: {{ .Values.port | default 80 }}\n',
      },
      'deploy/chart/values.yaml': { before: 'replicaCount: 1\n', after: null },
    });
    expect(Object.keys(result.bundles.preview?.after ?? {})).toContain('templates/service.yaml');
  });

  it('refuses a diff that does not apply to the tip (409, with the failing hunk)', async () => {
    const files = {
      ...repoFiles(),
      'deploy/values-staging.yaml': STAGING_VALUES.replace('128Mi', '192Mi'),
    };
    const result = await refused({ kind: 'diff', diff: stagingDiff }, { files });
    expect(result).toEqual({
      ok: false,
      status: 409,
      errors: [
        {
          field: 'change.diff',
          message: [
            '"deploy/values-staging.yaml" does not apply to the tip: hunk @@ -1,6 +1,6 @@ does not match:',
            ' # Staging: small and cheap.',
            ' resources:',
            '   limits:',
            '-    memory: 128Mi # OOMKilled at peak',
            '+    memory: 256Mi # raised after OOMKills',
            '     cpu: 500m',
            ' replicaCount: 1',
          ].join('\n'),
        },
      ],
    });
  });

  it('masks credentials in an echoed hunk', async () => {
    const diff = [
      '--- a/deploy/values-staging.yaml',
      '+++ b/deploy/values-staging.yaml',
      '@@ -1 +1 @@',
      '-password: hunter2-not-there',
      '+password: hunter3-not-there',
      '',
    ].join('\n');
    const result = await refused({ kind: 'diff', diff });
    expect(result.status).toBe(409);
    expect(result.errors[0]?.message).not.toContain('hunter');
  });

  const header = (old: string, now: string) =>
    `--- ${old}\n+++ ${now}\n@@ -1 +1 @@\n-a: 1\n+a: 2\n`;
  it.each([
    [
      'a parent folder',
      header('a/../etc/passwd', 'b/../etc/passwd'),
      400,
      '"../etc/passwd" contains ..',
    ],
    ['an absolute path', header('/etc/passwd', '/etc/passwd'), 400, '"/etc/passwd" is absolute'],
    ['.git', header('a/.git/config', 'b/.git/config'), 400, '".git/config" is inside .git'],
    [
      'a file outside',
      header('a/src/index.ts', 'b/src/index.ts'),
      422,
      '"src/index.ts" is not a file DAG renders',
    ],
    [
      'a rename',
      header('a/deploy/values-staging.yaml', 'b/deploy/chart/values.yaml'),
      422,
      'is renamed or copied',
    ],
    [
      'a symlink',
      'diff --git a/deploy/chart/templates/x.yaml b/deploy/chart/templates/x.yaml\nnew file mode 120000\n--- /dev/null\n+++ b/deploy/chart/templates/x.yaml\n@@ -0,0 +1 @@\n+/etc/passwd\n\\ No newline at end of file\n',
      422,
      'has mode 120000; only regular files (100644) are accepted, no symlinks',
    ],
    ['no diff at all', 'just words\n', 400, 'changes no file'],
    ['a broken hunk', '--- a/x\n+++ b/x\n@@ -1 +1 @@\nzzz\n', 400, 'is not a unified diff'],
    [
      'a created file that exists',
      '--- /dev/null\n+++ b/deploy/values-staging.yaml\n@@ -0,0 +1 @@\n+a: 1\n',
      409,
      'is created by the diff but exists at the tip',
    ],
    [
      'an edit of a missing file',
      header('a/deploy/chart/x.yaml', 'b/deploy/chart/x.yaml'),
      409,
      'does not exist at the tip',
    ],
  ])('refuses %s (%i)', async (_name, diff, status, message) => {
    const result = await refused({ kind: 'diff', diff, base: true });
    expect(result.status).toBe(status);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.field).toBe('change.diff');
    expect(result.errors[0]?.message).toContain(message);
  });

  it('refuses a diff whose result is no values file (422)', async () => {
    const diff = header(
      'a/deploy/values-production.yaml',
      'b/deploy/values-production.yaml',
    ).replace('-a: 1\n+a: 2', '-replicaCount: 3\n+replicaCount: [3');
    const result = await refused({ kind: 'diff', diff }, {}, production);
    expect(result.status).toBe(422);
    expect(result.errors[0]?.message).toMatch(/^deploy\/values-production\.yaml line \d+: /);
  });
});

describe('verifyProposal: scope, schemas, dry run', () => {
  it('refuses a change that reaches an environment it does not target, naming it (422)', async () => {
    // With DAG's renderer only base values and the chart reach other environments, and the path
    // rules ask for base first; the render comparison is the backstop behind them. A second row
    // for the same environment name (which the store does not allow) reads the same values file.
    const twin = { ...env(5, 'staging'), iacPath: 'clusters/eu/my-app' };
    const result = await refused(memoryPatch, { environments: [staging, production, twin] });
    expect(result).toEqual({
      ok: false,
      status: 422,
      errors: [
        {
          field: 'change',
          message:
            'changes the bundle of staging, which the proposal does not target; set change.base to true if the change is meant for every environment',
        },
      ],
    });
  });

  it("refuses a bundle the schema check rejects (422), and passes DAG's own flux bundles", async () => {
    expect((await verified(memoryPatch, { validateBundle: fluxProblems })).ok).toBe(true);
    const result = await refused(memoryPatch, {
      validateBundle: async (target) =>
        target.name === 'staging' ? ['/spec/interval must match pattern'] : [],
    });
    expect(result).toEqual({
      ok: false,
      status: 422,
      errors: [
        {
          field: 'change',
          message: "staging's bundle does not validate: /spec/interval must match pattern",
        },
      ],
    });
  });

  it('refuses what the cluster refuses in a dry run (422, masked)', async () => {
    const seen: string[] = [];
    const result = await refused(memoryPatch, {
      dryRun: async (_app, target, files) => {
        seen.push(`${target.name}:${Object.keys(files).join(',')}`);
        return {
          status: 'failed',
          errors: [
            'ConfigMap "my-app-values" is invalid: token=ghp_abcdefghijklmnopqrstuvwxyz0123456789',
          ],
        };
      },
    });
    expect(seen).toEqual([
      'staging:helmrelease.yaml,kustomization.yaml,kustomizeconfig.yaml,source.yaml,values.yaml',
    ]);
    expect(result.status).toBe(422);
    expect(result.errors[0]?.message).toContain(
      "the cluster refuses staging's bundle in a server-side dry run: ConfigMap",
    );
    expect(result.errors[0]?.message).not.toContain('ghp_abcdef');
  });

  it('records a passed or impossible dry run', async () => {
    const passed = await verified(memoryPatch, { dryRun: async () => ({ status: 'passed' }) });
    expect(passed.checks).toContain(
      "dry run: the cluster accepts staging's objects (server-side, dryRun=All)",
    );
    const away = await verified(memoryPatch, {
      dryRun: async () => ({ status: 'unreachable', reason: 'cluster prod-eu did not answer' }),
    });
    expect(away.checks).toContain('dry run: not run (cluster prod-eu did not answer)');
  });

  it('refuses an environment of another app (404)', async () => {
    const result = await refused(memoryPatch, {}, otherAppsEnv);
    expect(result).toEqual({
      ok: false,
      status: 404,
      errors: [{ field: 'target.environment', message: 'app my-app has no environment staging' }],
    });
  });
});
