import { isDeepStrictEqual } from 'node:util';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  displayYaml,
  displayYamlLines,
  displayYamlPairLines,
} from '../../src/diff/display-yaml.ts';
import { objectRef } from '../../src/diff/object-ref.ts';
import { diffObjects, unifiedDiff, unifiedLineDiff } from '../../src/diff/unified.ts';
import { generatePairs, random } from './generate-objects.ts';

const lines = (count: number, prefix: string) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${i}`).join('\n') + '\n';

describe('unifiedDiff', () => {
  it.each([
    {
      name: 'equal texts give no diff',
      old: 'a\nb\n',
      new: 'a\nb\n',
      expected: '',
    },
    {
      name: 'one changed line, with context',
      old: 'a\nb\nc\nd\ne\n',
      new: 'a\nb\nC\nd\ne\n',
      expected: '--- a/f.yaml\n+++ b/f.yaml\n@@ -1,5 +1,5 @@\n a\n b\n-c\n+C\n d\n e\n',
    },
    {
      name: 'a created file',
      old: '',
      new: 'x\ny\n',
      expected: '--- a/f.yaml\n+++ b/f.yaml\n@@ -0,0 +1,2 @@\n+x\n+y\n',
    },
    {
      name: 'a deleted file',
      old: 'x\n',
      new: '',
      expected: '--- a/f.yaml\n+++ b/f.yaml\n@@ -1,1 +0,0 @@\n-x\n',
    },
    {
      name: 'no newline at the end',
      old: 'a\nb',
      new: 'a\nc',
      expected:
        '--- a/f.yaml\n+++ b/f.yaml\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n',
    },
  ])('$name', ({ old, new: next, expected }) => {
    expect(unifiedDiff(old, next, { path: 'f.yaml' }).text).toBe(expected);
  });

  it('honours the context option and counts lines', () => {
    const old = lines(20, 'l');
    const next = old.replace('l-10\n', 'L-10\n');
    const diff = unifiedDiff(old, next, { path: 'f', context: 1 });
    expect(diff.text).toContain('@@ -10,3 +10,3 @@\n l-9\n-l-10\n+L-10\n l-11\n');
    expect(diff).toMatchObject({ added: 1, removed: 1, fallback: false });
  });

  it('keeps control characters in a header from forging diff lines', () => {
    const diff = unifiedDiff('a\n', 'b\n', { path: 'x\n+++ evil' });
    expect(diff.text.split('\n').slice(0, 2)).toEqual([
      '--- a/x\\x0a+++ evil',
      '+++ b/x\\x0a+++ evil',
    ]);
  });

  it('falls back to a whole-file replacement, quickly, when jsdiff gives up', () => {
    // 20,000 lines, every one different: an edit distance of 40,000 lines. Unbounded, jsdiff
    // would take minutes; with the caps it gives up and returns undefined.
    const old = lines(20_000, 'old');
    const next = lines(20_000, 'new');
    const started = performance.now();
    const diff = unifiedDiff(old, next, { path: 'big.yaml' });
    const elapsed = performance.now() - started;
    expect(diff.fallback).toBe(true);
    expect(diff).toMatchObject({ added: 20_000, removed: 20_000 });
    expect(elapsed).toBeLessThan(3_000);
    const body = diff.text.split('\n');
    expect(body.slice(0, 3)).toEqual([
      '--- a/big.yaml',
      '+++ b/big.yaml',
      '@@ -1,20000 +1,20000 @@',
    ]);
    expect(body[3]).toBe('-old-0');
    expect(body[20_002]).toBe('-old-19999');
    expect(body[20_003]).toBe('+new-0');
  });

  it('falls back when the timeout passes first', () => {
    const old = lines(3_000, 'a');
    const next = lines(3_000, 'b');
    const started = performance.now();
    const diff = unifiedDiff(old, next, { path: 'f', timeoutMs: 5, maxEditLength: 1e9 });
    expect(diff.fallback).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('unifiedLineDiff', () => {
  /** Texts of `count` lines from a small alphabet, so that lines repeat and changes cluster. */
  function randomText(next: () => number, count: number): string[] {
    return Array.from({ length: count }, () => `line ${Math.floor(next() * 6)}`);
  }
  const text = (lines: string[]) => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);

  it('gives exactly the diff unifiedDiff gives of the same lines as texts', () => {
    const next = random(7);
    let compared = 0;
    for (let round = 0; round < 600; round++) {
      const old = randomText(next, Math.floor(next() * 40));
      const edited = old
        .filter(() => next() > 0.15)
        .map((line) => (next() > 0.9 ? `${line}'` : line));
      for (let i = Math.floor(next() * 4); i > 0; i--) {
        edited.splice(Math.floor(next() * (edited.length + 1)), 0, `new ${i}`);
      }
      for (const options of [
        { path: 'x' },
        { path: 'x', context: 0 },
        { path: 'x', context: 1 },
        { path: 'x', context: 5, oldHeader: 'live/x', newHeader: 'desired/x' },
        { path: 'x', maxEditLength: 2 },
      ]) {
        expect(unifiedLineDiff(old, edited, options)).toStrictEqual(
          unifiedDiff(text(old), text(edited), options),
        );
        compared++;
      }
    }
    expect(compared).toBe(3_000);
  });

  it('gives exactly the diff unifiedDiff gives of generated objects, created and deleted too', () => {
    for (const pair of generatePairs(60)) {
      const live = displayYaml(pair.live, { sortKeys: true });
      const desired = displayYaml(pair.desired, { sortKeys: true });
      const split = (t: string) => t.slice(0, -1).split('\n');
      for (const [a, b] of [
        [live, desired],
        ['', desired],
        [live, ''],
      ] as const) {
        expect(
          unifiedLineDiff(a === '' ? [] : split(a), b === '' ? [] : split(b), { path: 'p' }),
        ).toStrictEqual(unifiedDiff(a, b, { path: 'p' }));
      }
    }
  });
});

describe('diffObjects', () => {
  const deployment = (image: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: 'prod', ...extra },
    spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image }] } } },
  });

  it('has kubectl-diff-style headers and YAML bodies', () => {
    const diff = diffObjects(deployment('web:1'), deployment('web:2'));
    expect(diff.text).toBe(
      [
        '--- live/Deployment/prod/web',
        '+++ desired/Deployment/prod/web',
        '@@ -8,5 +8,5 @@',
        '   template:',
        '     spec:',
        '       containers:',
        '-        - image: web:1',
        '+        - image: web:2',
        '           name: app',
        '',
      ].join('\n'),
    );
  });

  it('ignores key order', () => {
    const live = deployment('web:1');
    const reordered = {
      spec: live.spec,
      metadata: live.metadata,
      kind: live.kind,
      apiVersion: live.apiVersion,
    };
    expect(diffObjects(live, reordered).text).toBe('');
  });

  it('diffs a created and a deleted object against nothing', () => {
    const created = diffObjects(null, deployment('web:1'));
    expect(
      created.text.startsWith(
        '--- live/Deployment/prod/web\n+++ desired/Deployment/prod/web\n@@ -0,0 +1,',
      ),
    ).toBe(true);
    expect(created.removed).toBe(0);
    const deleted = diffObjects(deployment('web:1'), null);
    expect(deleted.added).toBe(0);
    expect(deleted.text).toContain('-kind: Deployment');
  });

  it('masks secrets before diffing', () => {
    const secret = (value: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { token: Buffer.from(value).toString('base64') },
    });
    const diff = diffObjects(secret('one'), secret('two'));
    expect(diff.text).toContain('-  token: "*** (old value)"');
    expect(diff.text).toContain('+  token: "*** (value changed)"');
    expect(diff.text).not.toContain(Buffer.from('one').toString('base64'));
  });

  it.each([
    [
      {
        kind: 'ClusterRole',
        apiVersion: 'rbac.authorization.k8s.io/v1',
        metadata: { name: 'view' },
      },
      'ClusterRole.rbac.authorization.k8s.io/view',
      'ClusterRole/view',
    ],
    [
      { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'db', namespace: 'prod' } },
      'Secret/prod/db',
      'Secret/prod/db',
    ],
    [{ metadata: 5 }, 'Unknown/(unnamed)', 'Unknown/(unnamed)'],
    [null, 'Unknown/(unnamed)', 'Unknown/(unnamed)'],
  ])('objectRef(%j)', (object, key, path) => {
    expect(objectRef(object)).toMatchObject({ key, path });
  });
});

describe('displayYaml', () => {
  it.each([
    [
      'strings that look like other types',
      {
        a: 'yes',
        b: 'No',
        c: 'null',
        d: '0644',
        e: '12:30',
        f: '1e3',
        g: '1.0.1',
        h: '.inf',
        i: '~',
        j: '',
      },
    ],
    [
      'indicators and separators',
      {
        a: '- x',
        b: 'a: b',
        c: 'a #b',
        d: '#x',
        e: '*x',
        f: '&x',
        g: '!x',
        h: '%x',
        i: '@x',
        j: '`x',
        k: '{x}',
        l: '[x]',
        m: 'x:',
        n: ' x',
        o: 'x ',
        p: '"x"',
        q: "'x'",
        r: '|x',
        s: '>x',
        t: '?x',
        u: '<<',
      },
    ],
    [
      'plain-looking values',
      {
        image: 'registry.example.com/a/b:1.2@sha256:00ff',
        url: 'http://x.y:80/p?q=1',
        cpu: '100m',
        mem: '256Mi',
        pct: '25%',
      },
    ],
    [
      'multi-line strings',
      {
        a: 'x\ny\n',
        b: 'x\ny',
        c: 'x\ny\n\n',
        d: ' lead\nx\n',
        e: 'trail \nx',
        f: 'x\n  indented\n\ny\n',
        g: 'x\r\ny\n',
        h: 'tab\tx\ny\n',
        i: 'x\ny \n',
      },
    ],
    [
      'special keys',
      { 'app.kubernetes.io/name': 1, 'a b': 2, 'a: b': 3, '': 4, '- x': 5, yes: 6, '0': 7 },
    ],
    [
      'nesting',
      {
        list: [[1, [2]], [], {}, { a: [] }, null, true, 1.5, -3],
        map: { empty: {}, list: [{ a: 1, b: [{ c: 'd\ne\n' }] }] },
      },
    ],
    [
      'control characters and unicode',
      { a: 'x\u0000y', b: 'line\u2028sep', c: 'héllo wörld', d: '\ufeffbom', e: 'emoji 🚀' },
    ],
  ])('%s read back as the same value (YAML 1.1 and 1.2)', (_label, value) => {
    const text = displayYaml(value);
    for (const version of ['1.1', '1.2'] as const) {
      expect(parse(text, { version }), `${version}:\n${text}`).toEqual(value);
    }
  });

  it('reads back the generated Deployments and ConfigMaps', () => {
    for (const { live, desired } of generatePairs(20)) {
      for (const value of [live, desired]) {
        expect(isDeepStrictEqual(parse(displayYaml(value), { version: '1.1' }), value)).toBe(true);
      }
    }
  });
});

describe('displayYamlPairLines', () => {
  const sorted = { sortKeys: true } as const;
  const alone = (a: unknown, b: unknown) => [
    displayYamlLines(a, sorted),
    displayYamlLines(b, sorted),
  ];

  /** A value from a small alphabet of keys and scalars, so that two of them share parts. */
  function randomValue(next: () => number, depth: number): unknown {
    const pick = next();
    if (depth > 0 && pick < 0.35) {
      const entries: [string, unknown][] = [];
      for (let i = Math.floor(next() * 5); i > 0; i--) {
        const key = ['a', 'b', 'c', 'd', 'e', '- x', 'a b', '__proto__'][Math.floor(next() * 8)]!;
        entries.push([key, randomValue(next, depth - 1)]);
      }
      // (fromEntries: a `__proto__` key is an own key, as the YAML readers make it.)
      return Object.fromEntries(entries);
    }
    if (depth > 0 && pick < 0.55) {
      return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(next, depth - 1));
    }
    const scalars = [1, 2, 'x', 'y', 'two\nlines\n', 'two\nlines', '', null, true, Number.NaN];
    return next() < 0.05 ? undefined : scalars[Math.floor(next() * scalars.length)];
  }

  /** `value` with some of its parts replaced, dropped or added. */
  function edit(next: () => number, value: unknown, depth: number): unknown {
    if (next() < 0.1) return randomValue(next, depth);
    if (Array.isArray(value)) {
      const out = value.map((item) => edit(next, item, depth - 1));
      if (next() < 0.2) out.splice(Math.floor(next() * (out.length + 1)), 0, randomValue(next, 1));
      if (next() < 0.2) out.splice(Math.floor(next() * out.length), 1);
      return out;
    }
    if (value !== null && typeof value === 'object') {
      const out: [string, unknown][] = [];
      for (const [key, item] of Object.entries(value)) {
        if (next() < 0.15) continue;
        out.push([key, edit(next, item, depth - 1)]);
      }
      if (next() < 0.2) out.push([['b', 'f', 'a0'][Math.floor(next() * 3)]!, randomValue(next, 1)]);
      return Object.fromEntries(out);
    }
    return value;
  }

  it('prints each side exactly as displayYamlLines prints it alone', () => {
    const next = random(11);
    const container = (value: unknown) =>
      value !== null && typeof value === 'object' && Object.keys(value).length > 0;
    let paired = 0;
    for (let round = 0; round < 3_000; round++) {
      const a = randomValue(next, 4);
      const b = edit(next, a, 4);
      expect(displayYamlPairLines(a, b), JSON.stringify([a, b])).toStrictEqual(alone(a, b));
      if (container(a) && container(b)) paired++;
    }
    // Most pairs are walked together, not printed apart by the fallback.
    expect(paired).toBeGreaterThan(1_000);
  });

  it('prints generated objects, and each against a created or deleted one, as alone', () => {
    for (const { live, desired } of generatePairs(60)) {
      for (const [a, b] of [
        [live, desired],
        [desired, live],
        [live, live],
        [{ ...live, spec: [live.spec] }, desired],
      ]) {
        expect(displayYamlPairLines(a, b)).toStrictEqual(alone(a, b));
      }
    }
  });
});
