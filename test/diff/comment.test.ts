import { describe, expect, it } from 'vitest';
import type { DiffCommentModel, ObjectDiff } from '../../src/diff/comment.ts';
import { markOutdated, parseDiffComment } from '../../src/diff/comment-read.ts';
import { environmentBlocks, outdatedWarning, renderDiffComment } from '../../src/diff/comment.ts';
import { objectChange } from '../../src/diff/object-change.ts';
import { renderDiffComments } from '../../src/diff/split.ts';
import { escapeInline, fenceFor } from '../../src/diff/markdown.ts';
import { unifiedDiff } from '../../src/diff/unified.ts';
import { expectBalanced, structure } from './markdown-checks.ts';

const object = (
  name: string,
  change: ObjectDiff['change'],
  extra: Partial<ObjectDiff> = {},
): ObjectDiff => ({
  key: `Deployment.apps/prod/${name}`,
  kind: 'Deployment',
  namespace: 'prod',
  name,
  change,
  diff:
    change === 'unchanged'
      ? undefined
      : `--- live/x\n+++ desired/x\n@@ -1,1 +1,1 @@\n-a: 1\n+a: 2\n`,
  ...extra,
});

const model = (overrides: Partial<DiffCommentModel> = {}): DiffCommentModel => ({
  pr: 42,
  headSha: '0123456789abcdef0123456789abcdef01234567',
  environments: [
    {
      environment: 'staging',
      iacFiles: [
        {
          path: 'clusters/staging/web/values.yaml',
          change: 'changed',
          diff: unifiedDiff('image: web:1\n', 'image: web:2\n', {
            path: 'clusters/staging/web/values.yaml',
          }).text,
        },
      ],
      objects: [
        object('web', 'changed'),
        object('api', 'created'),
        object('old', 'deleted'),
        object('same', 'unchanged'),
        object('worker', 'changed'),
      ],
      validation: { result: 'passed' },
      notes: [],
    },
    {
      environment: 'production',
      iacFiles: [],
      objects: [
        object('web', 'changed'),
        object('broken', 'unchanged', { error: 'admission webhook denied the request' }),
      ],
      validation: { result: 'skipped', reason: 'cluster unreachable' },
      notes: ['helm not available: chart objects not rendered'],
    },
  ],
  ...overrides,
});

describe('renderDiffComment', () => {
  it('starts with the hidden markers, then the summary table with the counts', () => {
    const body = renderDiffComment(model());
    const lines = body.split('\n');
    expect(lines[0]).toBe('<!-- dag:diff pr=42 part=1/1 -->');
    expect(lines[1]).toMatch(/^<!-- dag:state \{.*\} -->$/);
    expect(body).toContain(
      '| Environment | IAC files | Created | Changed | Deleted | Unchanged | Server-side validation |',
    );
    expect(body).toContain('| staging | 1 | 1 | 2 | 1 | 1 | ✅ passed |');
    expect(body).toContain(
      '| production | 0 | 0 | 1 | 0 | 1 | ⏭️ skipped: cluster unreachable · ⚠️ 1 object could not be dry-run |',
    );
    expect(body.indexOf('| staging |')).toBeLessThan(body.indexOf('### staging'));
  });

  it('has one collapsible section per IAC file and per changed object, each with a diff fence', () => {
    const body = renderDiffComment(model());
    expectBalanced(body);
    // staging: 1 file + 4 objects (not the unchanged one); production: 1 changed + 1 with error.
    expect(structure(body).details).toBe(7);
    expect(body).toContain(
      '<details><summary><b>changed</b> Deployment <code>prod/web</code> (+1 −1)</summary>\n\n```diff\n--- live/x\n',
    );
    expect(body).toContain(
      '<details><summary>📄 <b>changed</b> <code>clusters/staging/web/values.yaml</code> (+1 −1)</summary>',
    );
    expect(body).not.toContain('prod/same');
    expect(body).toContain('**Error:**\n\n```text\nadmission webhook denied the request\n```');
    expect(body).toContain('- helm not available: chart objects not rendered');
  });

  it('warns when the preview is outdated', () => {
    expect(renderDiffComment(model({ outdated: true }))).toContain(
      '**Outdated:** <code>0123456789ab</code>',
    );
    expect(renderDiffComment(model())).not.toContain('Outdated');
  });

  it('escapes hostile names, paths, reasons and notes outside the fences', () => {
    const hostile = 'x</details><script>alert(1)</script>';
    const body = renderDiffComment(
      model({
        environments: [
          {
            environment: 'prod | <b>boom</b>\n# heading',
            iacFiles: [{ path: '[link](https://evil.example)`code`', change: 'created', diff: '' }],
            objects: [
              object(hostile, 'changed', {
                namespace: '@everyone',
                kind: '<img src=x onerror=alert(1)>',
              }),
              object('e', 'changed', { error: '```\n</details>\n<script>x</script>' }),
            ],
            validation: { result: 'failed', reason: '</summary></details><h1>owned</h1>' },
            notes: ['**bold** _em_ <br> ![img](https://evil.example/x.png)'],
          },
        ],
      }),
    );
    expectBalanced(body);
    const outside = structure(body).outside;
    expect(outside).not.toMatch(/<script|<img|<h1|<br>|<b>boom|\]\(https/i);
    expect(outside).not.toContain('`code`');
    expect(outside).not.toMatch(/@everyone/);
    expect(outside).not.toMatch(/^# heading/m);
    expect(body).toContain('x&lt;/details&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
    // Inside its fence the error keeps its text, and the fence outruns its backticks.
    expect(body).toContain('````text\n```\n</details>\n<script>x</script>\n````');
  });

  it("knows each block's size in UTF-8 bytes without measuring its text", () => {
    const cm = (data: Record<string, string>) => ({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'ç-☃', namespace: 'n' },
      data,
    });
    const objects: ObjectDiff[] = [
      objectChange({ live: cm({ a: 'é 🚀', b: '```' }), desired: cm({ a: 'ü', b: '`' }) }),
      objectChange({ live: null, desired: cm({ a: '1' }) }),
      objectChange({ live: cm({ a: '1' }), desired: cm({ a: '2' }), error: 'denied: ☃' }),
      object('raw', 'changed', { diff: '--- a\n+++ b\n@@ -1 +1 @@\n-ü\n+`x`\n\n' }),
      object('failed', 'unchanged', { error: 'the webhook said ❌' }),
      object('omitted', 'changed', { diff: undefined, diffOmitted: 70_000 }),
      object('empty', 'created', { diff: '' }),
    ];
    const environment = { ...model().environments[0]!, objects };
    const blocks = environmentBlocks(environment, (lines) => `… ${lines} more`);
    expect(blocks.map((block) => block.kind)).toEqual([
      'environment',
      'iac-file',
      ...objects.map(() => 'object'),
    ]);
    for (const block of blocks) expect(block.bytes).toBe(Buffer.byteLength(block.text, 'utf8'));
  });

  it('chooses a fence longer than any backtick run in the diff', () => {
    const diff = '--- a\n+++ b\n@@ -1,1 +1,1 @@\n-``````\n+```` x `` y\n';
    const body = renderDiffComment(
      model({
        environments: [
          {
            environment: 'e',
            iacFiles: [],
            objects: [object('web', 'changed', { diff })],
            validation: { result: 'passed' },
            notes: [],
          },
        ],
      }),
    );
    expectBalanced(body);
    expect(body).toContain('```````diff\n--- a\n');
    expect(fenceFor('a ``` b ````` c')).toBe('``````');
    expect(fenceFor('none')).toBe('```');
  });

  it('neutralises carriage returns, which CommonMark reads as line breaks', () => {
    const diff = '--- a\n+++ b\n@@ -1,1 +1,1 @@\n-x\r```\r</details>\n+y\r\n';
    const body = renderDiffComment(
      model({
        environments: [
          {
            environment: 'e',
            iacFiles: [],
            objects: [object('w', 'changed', { diff })],
            validation: { result: 'passed' },
            notes: [],
          },
        ],
      }),
    );
    expect(body).not.toContain('\r');
    expectBalanced(body);
  });

  it('says when there is nothing to show', () => {
    const body = renderDiffComment(model({ environments: [] }));
    expect(body).toContain('_This pull request changes no environment._');
  });
});

describe('escapeInline', () => {
  it.each([
    ['plain-name.v1', 'plain-name.v1'],
    ['a<b>&"\'', 'a&lt;b&gt;&amp;"\''],
    ['*_`[]()|#!~\\', '&#42;&#95;&#96;&#91;&#93;()&#124;#\u200b!&#126;&#92;'],
    ['https://x', 'https:\u200b//x'],
    ['@admin', '@\u200badmin'],
    ['two\nlines\r\u2028here', 'two lines here'],
  ])('%j', (input, expected) => {
    expect(escapeInline(input)).toBe(expected);
  });

  it('cuts long text', () => {
    expect(escapeInline('x'.repeat(500), 10)).toBe(`${'x'.repeat(9)}…`);
  });
});

describe('parseDiffComment', () => {
  it('reads back what renderDiffComment wrote', () => {
    const state = parseDiffComment(renderDiffComment(model({ outdated: true })));
    expect(state).toEqual({
      pr: 42,
      part: 1,
      parts: 1,
      headSha: '0123456789abcdef0123456789abcdef01234567',
      outdated: true,
      level: 'single',
      environments: [
        {
          name: 'staging',
          created: 1,
          changed: 2,
          deleted: 1,
          unchanged: 1,
          errors: 0,
          iacFiles: 1,
          validation: 'passed',
        },
        {
          name: 'production',
          created: 0,
          changed: 1,
          deleted: 0,
          unchanged: 1,
          errors: 1,
          iacFiles: 0,
          validation: 'skipped',
        },
      ],
    });
  });

  it('keeps hostile environment names inside the hidden comment', () => {
    const name = 'x --> <script>alert(1)</script> <!-- y';
    const body = renderDiffComment(
      model({
        environments: [
          {
            environment: name,
            iacFiles: [],
            objects: [],
            validation: { result: 'passed' },
            notes: [],
          },
        ],
      }),
    );
    const stateLine = body.split('\n')[1] ?? '';
    const json = stateLine.slice('<!-- dag:state '.length, -' -->'.length);
    expect(json).not.toMatch(/[<>&-]/);
    expect(stateLine.indexOf('-->')).toBe(stateLine.length - 3);
    expect(parseDiffComment(body)?.environments[0]?.name).toBe(name);
  });

  it.each([
    ['another comment', 'LGTM'],
    ['a marker that is not first', 'hi\n<!-- dag:diff pr=1 part=1/1 -->\n<!-- dag:state {} -->'],
    ['no state', '<!-- dag:diff pr=1 part=1/1 -->\nhello'],
    ['broken JSON', '<!-- dag:diff pr=1 part=1/1 -->\n<!-- dag:state {"v":1 -->'],
    ['a state of the wrong shape', '<!-- dag:diff pr=1 part=1/1 -->\n<!-- dag:state {"v":2} -->'],
    ['a part beyond the parts', renderDiffComment(model()).replace('part=1/1', 'part=3/2')],
  ])('ignores %s', (_label, body) => {
    expect(parseDiffComment(body)).toBeNull();
  });
});

describe('markOutdated', () => {
  const next = 'f'.repeat(40);
  const coming = (old: string) => outdatedWarning(old, true);

  it('turns a preview into the outdated one DAG would render, state included', () => {
    const marked = markOutdated(renderDiffComment(model()), next, coming);
    expect(marked).toBe(renderDiffComment(model({ outdated: true })));
    expect(parseDiffComment(marked ?? '')?.outdated).toBe(true);
  });

  it('marks every part of a split preview, changing nothing else', () => {
    const fresh = renderDiffComments(model(), { maxChars: 1_500 }).bodies;
    expect(fresh.length).toBeGreaterThan(1);
    for (const body of fresh) {
      const marked = markOutdated(body, next, coming) ?? '';
      const before = parseDiffComment(body);
      expect(parseDiffComment(marked)).toEqual({ ...before, outdated: true });
      const lines = marked.split('\n');
      expect(lines.slice(3, 5)).toEqual(['', coming(model().headSha)]);
      expect([...lines.slice(2, 3), ...lines.slice(5)]).toEqual(body.split('\n').slice(2));
    }
  });

  it('says how to ask for a new preview when none is coming', () => {
    const marked = markOutdated(renderDiffComment(model()), next, (old) =>
      outdatedWarning(old, false),
    );
    expect(marked).toContain(
      '> ⚠️ **Outdated:** <code>0123456789ab</code> is no longer the head of this pull request; comment `/diff` for a preview of the new head.',
    );
  });

  it.each([
    ['the preview of the head itself', renderDiffComment(model()), model().headSha],
    ['one outdated already', renderDiffComment(model({ outdated: true })), next],
    ['another comment', 'LGTM', next],
  ])('leaves %s alone', (_label, body, head) => {
    expect(markOutdated(body, head, coming)).toBeNull();
  });
});
