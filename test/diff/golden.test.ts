// Golden files for every shape of diff comment and check run a reader sees (test/golden/diff):
// a change to the rendering shows in the diff of the pull request that made it.
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { checkRunSet, DIFF_CHECK, mainSummary } from '../../src/diff/check-runs.ts';
import type { DiffCommentModel, ObjectDiff } from '../../src/diff/comment-model.ts';
import { renderDiffComments } from '../../src/diff/split.ts';
import { objectChange } from '../../src/diff/object-change.ts';
import { unifiedDiff } from '../../src/diff/unified.ts';
import { expectBalanced } from './markdown-checks.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const b64 = (text: string) => Buffer.from(text).toString('base64');

const deployment = (name: string, image: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: 'shop' },
  spec: {
    replicas,
    template: { spec: { containers: [{ name, image, env: [{ name: 'LOG', value: 'info' }] }] } },
  },
});

const web = objectChange({
  live: deployment('web', 'registry.example.com/web:1.4.0', 2),
  desired: deployment('web', 'registry.example.com/web:1.5.0', 3),
});
const api = objectChange({
  live: null,
  desired: deployment('api', 'registry.example.com/api:2', 1),
});
const secret = objectChange({
  live: {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'shop' },
    data: { password: b64('old-Zq8#vLr2'), user: b64('app') },
  },
  desired: {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db', namespace: 'shop' },
    data: { password: b64('new-Zq8#vLr2'), user: b64('app') },
  },
});

const values = unifiedDiff('image:\n  tag: 1.4.0\n', 'image:\n  tag: 1.5.0\n', {
  path: 'clusters/staging/shop/values.yaml',
}).text;

const model = (objects: ObjectDiff[], extra: Partial<DiffCommentModel> = {}): DiffCommentModel => ({
  pr: 12,
  headSha: SHA,
  environments: [
    {
      environment: 'staging',
      iacFiles: [{ path: 'clusters/staging/shop/values.yaml', change: 'changed', diff: values }],
      objects,
      validation: { result: 'passed' },
      notes: [],
    },
  ],
  ...extra,
});

/** Many objects over two environments: several comments and several (small) check runs. */
function large(): DiffCommentModel {
  const objects = (environment: string) =>
    Array.from({ length: 12 }, (_, i) =>
      objectChange({
        live: deployment(`${environment}-svc-${i}`, `registry.example.com/svc:${i}`, 1),
        desired: deployment(`${environment}-svc-${i}`, `registry.example.com/svc:${i + 1}`, 2),
      }),
    );
  return {
    pr: 12,
    headSha: SHA,
    environments: ['staging', 'production'].map((environment) => ({
      environment,
      iacFiles: [],
      objects: objects(environment),
      validation: { result: 'passed' as const },
      notes: [],
    })),
  };
}

/**
 * What `runDiff` posts for the model, as one Markdown file: each check run (name, title,
 * summary, text), then each comment part. Check-run pages of `pageBytes` and comments of
 * `maxChars` make the split shapes small enough to read.
 */
function rendered(
  preview: DiffCommentModel,
  options: { pageBytes?: number; maxRuns?: number; maxChars?: number } = {},
): string {
  const set = checkRunSet(preview, options);
  const url = (name: string) => `https://github.com/org/shop/runs/${encodeURIComponent(name)}`;
  const links = [
    { name: DIFF_CHECK, url: url(DIFF_CHECK), holds: set.main.holds },
    ...set.parts.map((part) => ({ name: part.name, url: url(part.name), holds: part.holds })),
  ];
  const withLinks = {
    ...preview,
    checkRuns: { parts: links, unshown: set.unshown, unlisted: set.unlisted },
  };
  const comments = renderDiffComments(
    withLinks,
    options.maxChars ? { maxChars: options.maxChars } : {},
  ).bodies;
  const runs = [
    {
      name: DIFF_CHECK,
      title: set.main.title,
      summary: mainSummary(withLinks),
      text: set.main.text,
    },
    ...set.parts,
  ];
  const out: string[] = [];
  for (const run of runs) {
    expectBalanced(run.summary);
    expectBalanced(run.text);
    out.push(
      `<!-- check run: ${run.name} — ${run.title} -->`,
      '<!-- summary -->',
      run.summary,
      '<!-- text -->',
      run.text,
    );
  }
  comments.forEach((body, index) => {
    expectBalanced(body);
    out.push(`<!-- comment part ${index + 1} -->`, body);
  });
  return `${out.join('\n')}\n`;
}

describe('golden diff comments and check runs', () => {
  it('small: one comment, dag/diff alone', async () => {
    await expect(rendered(model([web, api]))).toMatchFileSnapshot('../golden/diff/small.md');
  });

  it('masked: a Secret and a values file, secrets shown as markers', async () => {
    const text = rendered(model([secret]));
    expect(text).not.toContain(b64('new-Zq8#vLr2'));
    await expect(text).toMatchFileSnapshot('../golden/diff/masked.md');
  });

  it('split: several comment parts and several check runs, linked', async () => {
    const text = rendered(large(), { pageBytes: 3_000, maxChars: 8_000 });
    expect(text).toContain('dag/diff part 3');
    await expect(text).toMatchFileSnapshot('../golden/diff/split.md');
  });

  it('cut: past the cap of check runs, the last lists what is shown nowhere', async () => {
    const text = rendered(large(), { pageBytes: 3_000, maxRuns: 2, maxChars: 8_000 });
    expect(text).toContain('**Cut:**');
    await expect(text).toMatchFileSnapshot('../golden/diff/cut.md');
  });

  it('error: a failed dry-run, and objects that errored in a validation that otherwise passed', async () => {
    const failed = model([{ ...web, error: 'admission webhook "policy" denied the request' }], {});
    failed.environments[0]!.validation = {
      result: 'failed',
      reason: 'Deployment "web" is invalid: spec.replicas: Invalid value: -1',
    };
    const missing = model([
      web,
      { ...api, change: 'created', diff: undefined, error: 'namespaces "shop" not found' },
    ]);
    missing.environments[0]!.environment = 'production';
    const both: DiffCommentModel = {
      ...failed,
      environments: [...failed.environments, ...missing.environments],
    };
    const text = rendered(both);
    expect(text).toContain('⚠️ incomplete: 1 object could not be dry-run');
    expect(text).not.toContain('✅ passed · ⚠️');
    await expect(text).toMatchFileSnapshot('../golden/diff/error.md');
  });

  it('outdated: the head moved on while the preview was computed', async () => {
    const text = rendered(model([web], { outdated: true }));
    expect(text).toContain('⚠️ **Outdated:**');
    await expect(text).toMatchFileSnapshot('../golden/diff/outdated.md');
  });
});
