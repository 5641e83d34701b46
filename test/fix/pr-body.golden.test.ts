// Golden Markdown of the fix pull request's description and DAG's person-pushed comment
// (test/golden/pr-bodies/fix-*.md), rendered and masked as publishFixPullRequest does.
// Update: `npx vitest run test/fix/pr-body.golden.test.ts -u`.

import { describe, expect, it } from 'vitest';
import type { EnvironmentDiff } from '../../src/diff/comment-model.ts';
import {
  fixBranch,
  parseFixMetadata,
  renderFixBody,
  renderFixMetadata,
  type FixBody,
} from '../../src/fix/pr-body.ts';
import { personPushedNote } from '../../src/fix/publish.ts';
import { masker, proposal, REGISTERED, request, TOKEN, verified } from './publish-fixture.ts';

const golden = (name: string) => `../golden/pr-bodies/${name}.md`;
const GITHUB_BODY = 65_536;
const HEAD = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

function body(over: Partial<FixBody> = {}): FixBody {
  const input = request();
  return {
    metadata: { v: 1, proposal: 7, fingerprint: input.fingerprint, pushedHead: HEAD },
    noun: 'pull request',
    proposal: proposal(),
    app: 'my-app',
    environment: 'staging',
    where: { repo: 'octo-org/my-app', head: fixBranch('my-app', 'staging'), base: 'develop' },
    iacPath: 'clusters/staging/my-app',
    tokenName: 'sre-agent-prod',
    verified: verified(),
    ...over,
  };
}

/** What DAG sends: rendered within the limit, then masked again as a whole. */
function published(input: FixBody, maxChars = GITHUB_BODY): string {
  const mask = masker();
  return mask(renderFixBody(input, maxChars, mask));
}

describe('the fix pull request body', () => {
  it('small: every section, secrets masked', async () => {
    const text = published(body());
    expect(text).not.toContain(REGISTERED);
    expect(text).not.toContain(TOKEN);
    // The agent's text is shown in a text fence, where Markdown and HTML stay inert.
    expect(text).toMatch(/```text\n[^`]*<script>alert\(1\)<\/script>\n```/);
    expect(text).toContain('_No live diff: DAG did not dry-run this change');
    expect(parseFixMetadata(text)).toEqual(body().metadata);
    await expect(text).toMatchFileSnapshot(golden('fix-small'));
  });

  it('with the live dry-run diff: counts, masked object diffs, and the objects past the room listed', async () => {
    const live: EnvironmentDiff = {
      environment: 'staging',
      iacFiles: [],
      validation: { result: 'passed' },
      notes: [],
      objects: [
        {
          key: 'ConfigMap/apps/my-app-values-5g7c8b9d2k',
          kind: 'ConfigMap',
          namespace: 'apps',
          name: 'my-app-values-5g7c8b9d2k',
          change: 'created',
          diff: `@@ -0,0 +1,6 @@\n+data:\n+  values.yaml: |\n+    resources:\n+      limits:\n+        memory: 512Mi\n+    token: ${TOKEN}\n`,
        },
        {
          key: 'HelmRelease.helm.toolkit.fluxcd.io/apps/my-app',
          kind: 'HelmRelease',
          namespace: 'apps',
          name: 'my-app',
          change: 'changed',
          diff: '@@ -1,4 +1,4 @@\n   valuesFrom:\n   - kind: ConfigMap\n-    name: my-app-values-8t2m4h6f9c\n+    name: my-app-values-5g7c8b9d2k\n',
        },
        // Past the room the section has: named, not shown.
        ...Array.from({ length: 3 }, (_, i) => ({
          key: `ConfigMap/apps/big-${i}`,
          kind: 'ConfigMap',
          namespace: 'apps',
          name: `big-${i}`,
          change: 'changed' as const,
          diff: `@@ -1,300 +1,300 @@\n${Array.from({ length: 300 }, (_, j) => `-k${j}: ${'x'.repeat(30)}\n+k${j}: ${'y'.repeat(30)}\n`).join('')}`,
        })),
        {
          key: 'ConfigMap/apps/same',
          kind: 'ConfigMap',
          namespace: 'apps',
          name: 'same',
          change: 'unchanged' as const,
        },
      ],
    };
    const text = published(body({ verified: { ...verified(), live } }));
    expect(text).not.toContain(TOKEN);
    expect(text).toContain('**Objects:** 1 created, 4 changed, 0 deleted, 1 unchanged');
    expect(text).toContain('my-app-values-5g7c8b9d2k');
    expect(text).toContain('2 more objects, not shown in full');
    expect(text).toContain('big-2');
    await expect(text).toMatchFileSnapshot(golden('fix-live'));
  });

  it('cut to fit: the largest sections give way to a note, the metadata and footer stay', async () => {
    const big = proposal();
    big.rationale = 'The working set grows with each request burst.\n'.repeat(200);
    const text = published(body({ proposal: big }), 6_000);
    expect(text.length).toBeLessThanOrEqual(6_000);
    expect(text).toContain('_Cut: it does not fit in this description');
    expect(text).toContain('DAG never merges or applies this');
    expect(parseFixMetadata(text)?.pushedHead).toBe(HEAD);
    await expect(text).toMatchFileSnapshot(golden('fix-cut'));
  });

  it('the comment when a person pushed to the branch', async () => {
    await expect(personPushedNote('dag/fix/my-app/staging', 7)).toMatchFileSnapshot(
      golden('fix-person-pushed'),
    );
  });

  it("on GitLab: a merge request, in GitLab's words throughout", async () => {
    const text = published(body({ noun: 'merge request' }), 1_000_000);
    expect(text).not.toContain('pull request');
    await expect(text).toMatchFileSnapshot(golden('fix-small-gitlab'));
    const note = personPushedNote('dag/fix/my-app/staging', 7, 'merge request');
    expect(note).toContain('no longer updates this merge request');
    expect(note).not.toContain('pull request');
  });
});

describe('the fix metadata', () => {
  const metadata = {
    v: 1 as const,
    proposal: 7,
    fingerprint: 'f'.repeat(64),
    pushedHead: HEAD,
  };

  it('reads back what DAG wrote, among other text', () => {
    const text = `before\n${renderFixMetadata(metadata)}\nafter`;
    expect(parseFixMetadata(text)).toEqual(metadata);
    expect(parseFixMetadata(renderFixMetadata({ ...metadata, stoppedAt: HEAD }))).toEqual({
      ...metadata,
      stoppedAt: HEAD,
    });
  });

  it.each([
    ['no marker', 'a body a person wrote'],
    ['invalid JSON', '<!-- dag:fix {"v":1,"proposal":7,} -->'],
    ['oversized', `<!-- dag:fix ${JSON.stringify({ ...metadata, pad: 'x'.repeat(5_000) })} -->`],
    ['an unknown key', `<!-- dag:fix ${JSON.stringify({ ...metadata, extra: 1 })} -->`],
    [
      'a head that is no sha',
      `<!-- dag:fix ${JSON.stringify({ ...metadata, pushedHead: 'main' })} -->`,
    ],
    ['another version', `<!-- dag:fix ${JSON.stringify({ ...metadata, v: 2 })} -->`],
    ['a marker inside a line', `x <!-- dag:fix ${JSON.stringify(metadata)} -->`],
  ])('ignores %s', (_name, text) => {
    expect(parseFixMetadata(text)).toBeNull();
  });

  it('writes nothing that can close the HTML comment early', () => {
    const text = renderFixMetadata(metadata);
    expect(text.slice('<!-- '.length, -' -->'.length)).not.toMatch(/-->|<|>/);
  });
});

describe('the fix branch', () => {
  it.each([
    ['my-app', 'staging', 'dag/fix/my-app/staging'],
    ['My App', 'prod..eu/1', 'dag/fix/my-app/prod.eu-1'],
    ['..', '---', 'dag/fix/x/x'],
    ['a'.repeat(300), 'staging', `dag/fix/${'a'.repeat(60)}/staging`],
  ])('%s, %s → %s', (app, env, branch) => {
    expect(fixBranch(app, env)).toBe(branch);
  });
});
