import { describe, expect, it } from 'vitest';
import { validateProposal, type ProposalChange } from '../../src/fix/proposal.ts';
import { precheckProposal, verifyIacProposal, type RenderedFolder } from '../../src/fix/verify.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import type { Environment } from '../../src/model.ts';

/** Fix proposals for the IAC repository: verified at the IAC branch's tip, outside DAG's folders. */

const staging: Environment = {
  id: 1,
  appId: 1,
  name: 'staging',
  branch: 'develop',
  iacId: 1,
  iacPath: 'clusters/staging/my-app',
  clusterId: 1,
  helmType: 'flux',
  helmNamespace: 'apps',
  helmName: null,
  iacBranch: 'main',
  reconciledBranch: null,
  rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
  createdAt: new Date(0),
};

const RENDERED: RenderedFolder[] = [
  { app: 'my-app', environment: 'staging', folder: 'clusters/staging/my-app' },
  { app: 'billing', environment: 'production', folder: 'clusters/production/billing' },
];

const TIP = {
  sha: '3b18e512dba79e4c8300dd08aeb37f8e728b8dad',
  branch: 'main',
  commitUrl: 'https://github.com/org/iac/commit/3b18e512dba79e4c8300dd08aeb37f8e728b8dad',
};

const KUSTOMIZATION = [
  'apiVersion: kustomize.config.k8s.io/v1beta1',
  'kind: Kustomization',
  'resources:',
  '  - my-app',
  '',
].join('\n');

function verify(change: ProposalChange, files: Record<string, string> = {}) {
  const tree: Record<string, string> = {
    'clusters/staging/kustomization.yaml': KUSTOMIZATION,
    'clusters/staging/my-app/release.yaml': 'kind: HelmRelease\n',
    ...files,
  };
  return verifyIacProposal(
    { environment: staging, change, repo: 'org/iac', tip: TIP, rendered: RENDERED },
    {
      reader: {
        readFile: async (path) => tree[path],
        readFolder: async () => undefined,
      },
    },
  );
}

/** Adds a line under `  - <after>` in the kustomization's resources. */
const diff = (after: string) =>
  [
    '--- a/clusters/staging/kustomization.yaml',
    '+++ b/clusters/staging/kustomization.yaml',
    '@@ -3,2 +3,3 @@',
    ' resources:',
    `   - ${after}`,
    '+  - network-policy.yaml',
    '',
  ].join('\n');

describe('verifyIacProposal', () => {
  it('takes a diff to a file outside every folder DAG renders, saying what it checked', async () => {
    const result = await verify({
      kind: 'diff',
      repository: 'iac',
      diff: diff('my-app'),
    });
    expect(result).toMatchObject({
      ok: true,
      where: 'iac-repo',
      iac: { repo: 'org/iac', branch: 'main', sha: TIP.sha },
      bundles: {},
      changedFiles: {
        'clusters/staging/kustomization.yaml': {
          before: KUSTOMIZATION,
          after: KUSTOMIZATION.replace('  - my-app\n', '  - my-app\n  - network-policy.yaml\n'),
        },
      },
    });
    if (!result.ok) return;
    expect(result.checks).toEqual([
      'paths: clusters/staging/kustomization.yaml (in org/iac on main, outside every folder DAG renders there: clusters/production/billing/, clusters/staging/my-app/); every changed YAML file parses',
      'symlinks: not checked (the repository reader does not tell entry types)',
      "scope: staging's IAC repository org/iac only; DAG renders nothing from these files",
      'dry run: not run (DAG does not know which reconciler applies these files)',
    ]);
    expect(result.sourceDiff).toContain('+  - network-policy.yaml');
  });

  it("refuses a file inside any environment's rendered folder (422, naming it)", async () => {
    const result = await verify({
      kind: 'files',
      repository: 'iac',
      files: [{ path: 'clusters/production/billing/patch.yaml', content: 'a: 1\n' }],
    });
    expect(result).toEqual({
      ok: false,
      status: 422,
      errors: [
        {
          field: 'change.files[0].path',
          message:
            '"clusters/production/billing/patch.yaml" is inside clusters/production/billing, the folder DAG renders for billing production: its next deploy would overwrite the change; change the app repository instead',
        },
      ],
    });
  });

  it('refuses a diff that does not apply to the IAC tip (409)', async () => {
    const result = await verify({
      kind: 'diff',
      repository: 'iac',
      diff: diff('other-app'),
    });
    expect(result).toMatchObject({ ok: false, status: 409 });
    if (result.ok) return;
    expect(result.errors[0]?.message).toMatch(
      /^"clusters\/staging\/kustomization.yaml" does not apply to the tip/,
    );
  });

  it('refuses YAML that does not parse (422) and unsafe paths (400)', async () => {
    const bad = await verify({
      kind: 'files',
      repository: 'iac',
      files: [{ path: 'infra/policy.yaml', content: 'a: [1\n' }],
    });
    expect(bad).toMatchObject({ ok: false, status: 422 });
    if (!bad.ok) expect(bad.errors[0]?.field).toBe('change.files[0].path');
    const unsafe = await verify({
      kind: 'files',
      repository: 'iac',
      files: [{ path: 'infra/../.git/config', content: 'x' }],
    });
    expect(unsafe).toMatchObject({ ok: false, status: 400 });
  });
});

describe('an IAC-repository change before the tip is read', () => {
  const app = appFixture({ valuesPath: 'deploy/' });

  it('precheckProposal takes paths outside the app repository and checks their YAML', () => {
    const change = (content: string): ProposalChange => ({
      kind: 'files',
      repository: 'iac',
      files: [{ path: 'infra/policy.yaml', content }],
    });
    expect(precheckProposal({ app, environment: staging, change: change('a: 1\n') })).toBe(
      undefined,
    );
    expect(
      precheckProposal({ app, environment: staging, change: change('a: [1\n') }),
    ).toMatchObject({ ok: false, status: 422 });
  });

  it('the schema takes repository on files and diff changes only', () => {
    const body = (change: object) => ({
      target: { app: 'my-app', environment: 'staging' },
      change,
      title: 'Allow egress to the database',
      rationale: 'Connections time out.',
      agent: { name: 'agent', model: 'model' },
    });
    expect(validateProposal(body({ kind: 'diff', diff: '--- a/x\n', repository: 'iac' })).ok).toBe(
      true,
    );
    expect(
      validateProposal(body({ kind: 'values-patch', patch: {}, repository: 'iac' })),
    ).toMatchObject({ ok: false, errors: [{ field: 'change.repository' }] });
  });
});
