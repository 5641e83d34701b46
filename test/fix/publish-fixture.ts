// A verified fix proposal for my-app's staging, shaped as verifyProposal returns one, shared by
// the PR body's golden test and publishFixPullRequest's provider tests.

import { maskText } from '../../src/diff/mask-text.ts';
import { proposalFingerprint, type Proposal } from '../../src/fix/proposal.ts';
import type { PublishFixRequest } from '../../src/fix/publish.ts';
import type { Verified } from '../../src/fix/verify.ts';
import { SecretMasker } from '../../src/log.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import type { Environment } from '../../src/model.ts';

/** A registered secret (SecretMasker) and a credential-shaped one (maskText): neither is shown. */
export const REGISTERED = 'hunter2-registered-db-password';
export const TOKEN = 'ghp_R3aLl00kingT0kenF0rTheGoldenTestsXyZ12';

export const TIP = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

export function masker(): (text: string) => string {
  const secrets = new SecretMasker();
  secrets.add(REGISTERED);
  return (text) => maskText(secrets.mask(text));
}

export const app = appFixture({
  repoUrl: 'https://github.com/octo-org/my-app',
  valuesPath: 'deploy/',
});

export const staging: Environment = {
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
  iacBranch: null,
  reconciledBranch: null,
  rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
  createdAt: new Date(0),
};

const BEFORE = 'resources:\n  limits:\n    memory: 128Mi\nreplicaCount: 1\n';
const AFTER = 'resources:\n  limits:\n    memory: 512Mi\nreplicaCount: 1\n';

const release = (memory: string) =>
  [
    'apiVersion: helm.toolkit.fluxcd.io/v2',
    'kind: HelmRelease',
    'metadata:',
    '  name: my-app',
    '  namespace: apps',
    'spec:',
    '  values:',
    '    resources:',
    '      limits:',
    `        memory: ${memory}`,
    `    databaseUrl: postgres://app:${REGISTERED}@db:5432/app`,
    '',
  ].join('\n');

export function proposal(memory = '512Mi'): Proposal {
  return {
    target: { app: 'my-app', environment: 'staging' },
    change: { kind: 'values-patch', patch: { resources: { limits: { memory } } } },
    title: `Raise my-app's memory limit in staging to ${memory}`,
    rationale: `The pod is OOMKilled at peak: its working set reaches 127Mi of 128Mi.\nRaising the limit to ${memory} leaves room; requests stay as they are.`,
    evidence: [
      {
        kind: 'event',
        text: 'Warning  OOMKilling  pod/my-app-7d9f  Memory cgroup out of memory: Killed process 4321 (node)',
      },
      {
        kind: 'log',
        text: `connecting with postgres://app:${REGISTERED}@db:5432/app\nGITHUB_TOKEN=${TOKEN}\n[@team-leads](https://evil.example) <script>alert(1)</script>`,
      },
    ],
    agent: { name: 'sre-agent', model: 'claude-sonnet-4' },
  };
}

export function verified(memory = '512Mi'): Verified {
  const after = AFTER.replace('512Mi', memory);
  return {
    ok: true,
    where: 'app-repo',
    changedFiles: { 'deploy/values-staging.yaml': { before: BEFORE, after } },
    sourceDiff: [
      '--- deploy/values-staging.yaml',
      '+++ deploy/values-staging.yaml',
      '@@ -1,4 +1,4 @@',
      ' resources:',
      '   limits:',
      '-    memory: 128Mi',
      `+    memory: ${memory}`,
      // A line as an unmasked diff would have it: the body masks it again.
      ` # password: ${REGISTERED}`,
      '',
    ].join('\n'),
    bundles: {
      staging: {
        before: { 'helmrelease.yaml': release('128Mi') },
        after: { 'helmrelease.yaml': release(memory) },
      },
      production: {
        before: { 'helmrelease.yaml': release('1Gi') },
        after: { 'helmrelease.yaml': release('1Gi') },
      },
    },
    unchangedEnvironments: ['production'],
    checks: [
      'paths: deploy/values-staging.yaml is staging values',
      'render: staging renders with the change (flux)',
      'scope: production render unchanged',
      'dry run: not run (no cluster given)',
    ],
  };
}

export function request(memory = '512Mi', proposalId = 7): PublishFixRequest {
  const p = proposal(memory);
  return {
    proposalId,
    fingerprint: proposalFingerprint(p),
    proposal: p,
    app,
    environment: staging,
    verified: verified(memory),
    sender: { tokenId: 3, tokenName: 'sre-agent-prod' },
    tip: { sha: TIP },
  };
}
