// Golden Markdown of the promotion pull request's description (test/golden/pr-bodies/*.md),
// rendered by renderPromotionBody and masked as publish() does, from input shaped like the
// seeds' d1 layout (podinfo, staging → production, components/podinfo/<env> in d1-apps).
// Update: `npx vitest run test/workflows/promotion-body.golden.test.ts -u`.

import { describe, expect, it } from 'vitest';
import type { EnvironmentDiff } from '../../src/diff/comment-model.ts';
import { SecretMasker } from '../../src/log.ts';
import {
  parsePromotionMetadata,
  renderPromotionBody,
  type PromotionBody,
} from '../../src/workflows/promotion-body.ts';

const golden = (name: string) => `../golden/pr-bodies/${name}.md`;

/** GitHub's limit for a pull request body (GitHubPlatform.maxBodyLength). */
const GITHUB_BODY = 65_536;

const SOURCE = '3f9c2a7e5b1d4c6a8e0f2b4d6c8a0e2f4b6d8c0a';
const TARGET = '9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b';
const TOKEN = 'ghp_R3aLl00kingT0kenF0rTheGoldenTestsXyZ12';

const valuesDiff = [
  '--- components/podinfo/production/values.yaml',
  '+++ components/podinfo/production/values.yaml',
  '@@ -1,4 +1,4 @@',
  ' image:',
  '   repository: ghcr.io/stefanprodan/podinfo',
  '-  tag: 6.7.0',
  '+  tag: 6.7.1',
  ' replicaCount: 3',
].join('\n');

function preview(over: Partial<EnvironmentDiff> = {}): EnvironmentDiff {
  return {
    environment: 'production',
    iacFiles: [
      { path: 'components/podinfo/production/values.yaml', change: 'changed', diff: valuesDiff },
    ],
    objects: [],
    validation: { result: 'passed' },
    notes: [],
    ...over,
  };
}

const commit = (i: number, title: string, author = 'mira-k') => ({
  sha: `${i.toString(16).padStart(2, '0')}${SOURCE.slice(2)}`,
  title,
  author,
  url: `https://github.com/acme/podinfo/commit/${i}`,
});

function body(over: Partial<PromotionBody> = {}): PromotionBody {
  return {
    noun: 'pull request',
    metadata: {
      v: 1,
      route: 3,
      strategy: 'folder',
      from: 'staging',
      to: 'production',
      source: SOURCE,
      target: TARGET,
      appRepo: {
        provider: 'github',
        fullName: 'acme/podinfo',
        webUrl: 'https://github.com/acme/podinfo',
        installationId: 41,
      },
    },
    app: 'podinfo',
    from: 'staging',
    to: 'production',
    strategy: 'folder',
    where: {
      repo: 'd1-apps',
      head: 'dag/promote/podinfo/staging-to-production',
      base: 'main',
      path: 'components/podinfo/production',
    },
    source: { sha: SOURCE, url: `https://github.com/acme/podinfo/commit/${SOURCE}` },
    target: { sha: TARGET, url: `https://github.com/acme/podinfo/commit/${TARGET}` },
    commits: {
      commits: [
        commit(1, 'feat: retry budget for the backend client'),
        commit(2, 'fix(api): return 503 while draining', 'j.ortega'),
        commit(
          3,
          ':rocket: release 6.7.1 (see https://github.com/acme/podinfo/releases) for @platform-team, closes #12',
        ),
      ],
      totalCommits: 3,
      files: [],
      url: `https://github.com/acme/podinfo/compare/${TARGET}...${SOURCE}`,
    },
    files: [{ path: 'components/podinfo/production/values.yaml', change: 'modified' }],
    preview: preview(),
    ...over,
  };
}

/** What DAG sends: rendered within the provider's limit, then masked (publish()). */
function published(input: PromotionBody, maxChars = GITHUB_BODY): string {
  const masker = new SecretMasker();
  masker.add(TOKEN);
  const mask = (text: string) => masker.mask(text);
  const text = mask(renderPromotionBody(input, maxChars, mask));
  expect(text.length).toBeLessThanOrEqual(maxChars);
  expect(parsePromotionMetadata(text)).toEqual(input.metadata);
  return text;
}

describe('promotion pull request body', () => {
  it('small: a folder promotion of three commits and one file', async () => {
    await expect(published(body())).toMatchFileSnapshot(golden('promotion-small'));
  });

  it('small: an iac-branch promotion (d1: main into the branch production reconciles), nothing deployed by DAG in the target yet', async () => {
    const base = body();
    const text = published(
      body({
        metadata: { ...base.metadata, strategy: 'iac-branch', target: null },
        strategy: 'iac-branch',
        where: { repo: 'd1-apps', head: 'main', base: 'production', reconciled: 'production' },
        target: { sha: null, url: null },
        commits: undefined,
        commitsNote: 'production has no release by DAG yet: its commits cannot be listed.',
      }),
    );
    await expect(text).toMatchFileSnapshot(golden('promotion-iac-branch'));
  });

  it('health: the source environment as cluster monitoring sees it, healthy or failed', async () => {
    const healthy = published(
      body({
        preview: undefined,
        sourceHealth: {
          phase: 'healthy',
          liveCommit: SOURCE,
          since: '2026-12-06T10:04:31.000Z',
          reason: null,
        },
      }),
    );
    await expect(healthy).toMatchFileSnapshot(golden('promotion-health'));
    const failed = published(
      body({
        preview: undefined,
        sourceHealth: {
          phase: 'failed',
          liveCommit: TARGET,
          since: '2026-12-06T10:09:02.000Z',
          reason: 'Deployment podinfo: pod podinfo-7c9d-x2k9p: CrashLoopBackOff <back-off 5m0s>',
        },
      }),
    );
    expect(failed).toContain(
      `| staging health | **failed** on <code>${TARGET.slice(0, 12)}</code> since 2026-12-06 10:09 UTC: Deployment podinfo: pod podinfo-7c9d-x2k9p: CrashLoopBackOff &lt;back-off 5m0s&gt; |`,
    );
  });

  it('masked: a registered secret in a commit title and in the preview', async () => {
    const leaked = [
      '--- components/podinfo/production/values.yaml',
      '+++ components/podinfo/production/values.yaml',
      '@@ -1,2 +1,2 @@',
      ' registry:',
      `-  token: ${TOKEN}`,
      '+  tokenSecretRef: podinfo-registry',
    ].join('\n');
    const text = published(
      body({
        commits: {
          commits: [commit(1, `chore: drop the inline token ${TOKEN}`)],
          totalCommits: 1,
          files: [],
          url: `https://github.com/acme/podinfo/compare/${TARGET}...${SOURCE}`,
        },
        preview: preview({
          iacFiles: [
            { path: 'components/podinfo/production/values.yaml', change: 'changed', diff: leaked },
          ],
        }),
      }),
    );
    // Nor escaped (ghp&#95;…): the title is masked before it is escaped.
    expect(text).not.toContain(TOKEN.slice(4));
    await expect(text).toMatchFileSnapshot(golden('promotion-masked'));
  });

  it('cut: 35 commits and 130 files listed up to their caps; the preview does not fit', async () => {
    const commits = Array.from({ length: 20 }, (_, i) =>
      commit(i + 1, `chore(deps): bump module ${i + 1}`, 'renovate[bot]'),
    );
    const files = Array.from({ length: 130 }, (_, i) => ({
      path: `components/podinfo/production/configmap-${String(i).padStart(3, '0')}.yaml`,
      change: 'added' as const,
    }));
    const text = published(
      body({
        commits: {
          commits,
          totalCommits: 35,
          files: [],
          url: `https://github.com/acme/podinfo/compare/${TARGET}...${SOURCE}`,
        },
        files,
      }),
      // The preview gives way first: a description too small for it says so.
      12_000,
    );
    await expect(text).toMatchFileSnapshot(golden('promotion-cut'));
  });

  it('error: the preview could not validate on the cluster, and an object failed', async () => {
    const text = published(
      body({
        preview: preview({
          validation: {
            result: 'failed',
            reason: 'the server-side dry-run of 1 object failed',
          },
          objects: [
            {
              key: 'HelmRelease.helm.toolkit.fluxcd.io/podinfo/podinfo',
              kind: 'HelmRelease',
              namespace: 'podinfo',
              name: 'podinfo',
              change: 'changed',
              error:
                'admission webhook "validation.helm.toolkit.fluxcd.io" denied the request: spec.chart.spec.version: Invalid value: "6.7.x": must be a semver range',
            },
          ],
          notes: ['helm not available: chart objects not rendered'],
        }),
      }),
    );
    await expect(text).toMatchFileSnapshot(golden('promotion-error'));
  });
});
