import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { displayYaml } from '../../src/diff/display-yaml.ts';
import { readBlockYaml } from '../../src/render/block-yaml.ts';
import { parseYamlDocuments } from '../../src/render/yaml.ts';
import { generatePairs, random } from '../diff/generate-objects.ts';
import { catalogueTexts, mutants, repositoryYaml, scalarTexts, TRICKY } from './yaml-cases.ts';

/** Each generated object as `displayYaml`, the `yaml` library and kubectl (indentless) print it. */
function generatedTexts(count: number): string[] {
  return generatePairs(count).flatMap((pair) =>
    [pair.live, pair.desired].flatMap((object) => [
      displayYaml(object, { sortKeys: true }),
      displayYaml(object),
      stringify(object, { aliasDuplicateObjects: false }),
      stringify(object, { aliasDuplicateObjects: false, indentSeq: false }),
    ]),
  );
}

/** Block scalars, sequences and scalars in every place they may sit. */
const SHAPES = [
  'a: |\n  x\n',
  'a: |-\n  x\n',
  'a: |+\n  x\n',
  'a: |\n  x\n\n',
  'a: |-\n  x\n\n',
  'a: |+\n  x\n\n',
  'a: |+\n  x\n\n\n',
  'a: |\n  x\n\n\nb: 1\n',
  'a: |-\n  x\n\n\nb: 1\n',
  'a: |+\n  x\n\n\nb: 1\n',
  'a: |\n\n  x\n',
  'a: |\n\n\n  x\n  y\n',
  'a: |\n  x\n\n  y\n',
  'a: |\n  x\n    y\n  z\n',
  'a: |\n x\nb: 1\n',
  'a:\n  b: |\n    x\n  c: 1\n',
  'a:\n  b: |\n   x\n  c: 1\n',
  'a:\n- |\n x\n- y\n',
  'a:\n  - |\n   x\n  - |-\n   y\n',
  'a:\n- b: |\n   x\n  c: 1\n',
  'a:\n  - b: |\n     x\n    c: |+\n     y\n\n  - z\n',
  'a:\n- b\n- c: 1\n  d:\n  - e\n  f: 2\n',
  [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    '  name: x',
    'spec:',
    '  containers:',
    '  - args:',
    '    - --a',
    '    command:',
    '    - sh',
    '    - -c',
    '    - |',
    '      echo "a: b" # c',
    '',
    '      exit 0',
    '    image: nginx:1.27',
    '    ports:',
    '    - containerPort: 80',
    '      protocol: TCP',
    '  volumes: []',
    'status: {}',
    '',
  ].join('\n'),
  'a:\n  - b\n  - c: 1\n    d:\n    - e\n    f: 2\nb: 3\n',
  'a:\n-   b: 1\n    c: 2\n',
  'a:\nb:\n  c:\nd: 1\n',
  'a:\n  b:\n',
  'a:\n- b:\n- c:\n  d:\n',
  'a:    1\nb:  x y\n',
  'a: x]y\nb: x}\nc: a,b\nd: x:y\ne: a#b\nf: "a#"\n',
  'a: {}\nb: []\nc:\n- {}\n- []\n',
  'a: "\\u00e9\\n\\t\\/\\\\\\"\\b\\f\\r"\nb: "\\ud83d\\ude00"\nc: "\\ud800"\n',
  "a: 'it''s'\nb: ''\nc: \"\"\n",
  '.dockerconfigjson: e30=\n',
  'a.b/c-d_e: 1\n_x: 2\n/y: 3\n9z: 4\n1-2: 5\n2001-12-14: 6\n',
  'a: -1\nb: -0\nc: +0\nd: 0o17\ne: 0x1F\nf: 1e3\ng: .5\nh: -.inf\ni: .nan\nj: 12345678901234567890\n',
  'a: ~\nb: null\nc: Null\nd: NULL\ne: nULL\nf: true\ng: False\nh: tRUE\ni: yes\nj: on\n',
  'a: --config=/etc\nb: -x\nc: <<\nd: =\ne: ~x\nf: a  b\n',
  `${'k'.repeat(999)}: 1\n`,
  'constructor: 1\ntoString: 2\nhasOwnProperty: 3\n',
];

/** Texts the reader must leave to the slower readers. */
const REFUSED = [
  // Anchors, aliases, tags, merge keys.
  'a: &x 1\nb: *x\n',
  'a: !!str 1\n',
  'a: !x y\n',
  '<<: {a: 1}\n',
  'a:\n  <<: x\n',
  // Flow collections with content, comments, document markers, directives.
  'a: {b: 1}\n',
  'a: [1, 2]\n',
  'a: [1]\n',
  'a: [ ]\n',
  'a: {}x\n',
  'a: b # c\n',
  '# c\na: b\n',
  'a: b\n# c\n',
  'a:\n  # c\n  b: 1\n',
  'a: #c\n',
  '---\na: 1\n',
  'a: 1\n---\nb: 2\n',
  'a: 1\n...\n',
  '%YAML 1.2\n---\na: 1\n',
  // Tabs, CR, trailing spaces, empty lines, control and Unicode line-break characters.
  'a:\tb\n',
  'a: b\tc\n',
  'a: |\n  b\tc\n',
  'a: 1\r\n',
  'a: 1 \n',
  'a: \n',
  'a:\n  b: 1 \n',
  'a: |\n  x \n',
  'a: |\n  x\n  \n  y\n',
  'a: 1\n\nb: 2\n',
  'a: 1\n\n',
  '\na: 1\n',
  'a: b\u0085c\n',
  'a: b\u2028c\n',
  '\ufeffa: 1\n',
  'a: "b\u0007"\n',
  'a: 1',
  '',
  // Duplicate and special keys, keys that are not strings.
  'a: 1\na: 2\n',
  'a:\n  b: 1\n  b: 2\n',
  '__proto__: 1\n',
  'a:\n  __proto__:\n    x: 1\n',
  '1: a\n',
  '0x1: a\n',
  '1.5: a\n',
  '.inf: a\n',
  '.nan: a\n',
  'true: a\n',
  'False: a\n',
  'null: a\n',
  'NULL: a\n',
  '~: a\n',
  ': a\n',
  '...: a\n',
  // Quoted and complex keys.
  '"a": 1\n',
  "'a': 1\n",
  '? a\n: b\n',
  'a b: 1\n',
  '- a: 1\n',
  '[a]: 1\n',
  // Scalars over several lines, folded and unusual block scalars.
  'a: b\n  c\n',
  'a:\n  b\n',
  'a: "b\n  c"\n',
  "a: 'b\n  c'\n",
  'a: "b"\n  c\n',
  'a: >\n  b\n',
  'a: >-\n  b\n',
  'a: |2\n  b\n',
  'a: |-2\n  b\n',
  'a: |\n\n   b\n  c\n',
  'a: | # c\n  b\n',
  'a: |\nb: 1\n',
  'a: |\n',
  'a: |+\n\n',
  // Plain values that hold `: ` or ` #`, or start with an indicator.
  'a: b: c\n',
  'a: b #c\n',
  'a: b:\n',
  'a: - b\n',
  'a: -\n',
  'a: ?\n',
  'a: ? b\n',
  'a: :b\n',
  'a: ,b\n',
  'a: %b\n',
  'a: @b\n',
  'a: `b\n',
  'a: |b\n',
  'a: >b\n',
  'a: ]\n',
  'a: }\n',
  // Escapes JSON does not read as YAML does.
  'a: "\\x41"\n',
  'a: "\\U0001F600"\n',
  'a: "\\N"\n',
  'a: "\\_"\n',
  'a: "\\0"\n',
  'a: "\\ "\n',
  'a: "\\u12"\n',
  'a: "x" y\n',
  // Sequences: empty and nested entries, bad indentation.
  'a:\n- \n',
  'a:\n-\n',
  'a:\n- - b\n',
  'a:\n  -\n    b: 1\n',
  'a:\n  - b\n c: 1\n',
  'a:\n  - b\n   c\n',
  'a:\n  - b: 1\n   c: 2\n',
  'a:\n  b: 1\n   c: 2\n',
  'a:\n    b: 1\n  c: 2\n',
  ' a: 1\n',
  'a: 1\n b: 2\n',
  // Long keys, roots that are not mappings.
  `${'k'.repeat(1100)}: 1\n`,
  `${'k'.repeat(1000)}: 1\n`,
  `${'k'.repeat(1024)}: 1\n`,
  '- a\n- b\n',
  '- |\n x\n',
  'a\n',
  '42\n',
  '"a"\n',
  '{}\n',
];

/** Small random edits of the shapes above: most leave the subset, some stay in it. */
function shapeMutants(count: number, seed = 11): string[] {
  const next = random(seed);
  const pieces = [' ', '  ', '\n', '\n\n', '-', ':', ': ', '- ', '\n- ', '\n  ', '"', "'", "''"];
  pieces.push('#', ' #', '|', '|-', '|+', '>', '\\', '\\n', 'x', 'a:', '0', '-0', '1', '.inf');
  pieces.push(
    'true',
    'null',
    'N',
    '~',
    '[',
    ']',
    '{',
    '}',
    '{}',
    '[]',
    ',',
    '?',
    '\t',
    '__proto__',
  );
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let text = SHAPES[Math.floor(next() * SHAPES.length)] ?? '';
    for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
      const at = Math.floor(next() * (text.length + 1));
      const piece = next() < 0.35 ? '' : (pieces[Math.floor(next() * pieces.length)] ?? '');
      text = text.slice(0, at) + piece + text.slice(piece === '' ? at + 1 : at);
    }
    out.push(text);
  }
  return out;
}

/** The reader's value, when it gives one, is exactly what `parseYamlDocuments` gives. */
function expectAgrees(text: string): unknown {
  const fast = readBlockYaml(text);
  if (fast !== undefined) {
    const documents = parseYamlDocuments(text, 'x');
    expect(documents, JSON.stringify(text)).toHaveLength(1);
    expect(fast, JSON.stringify(text)).toStrictEqual(documents[0]);
  }
  return fast;
}

describe('readBlockYaml', () => {
  it('reads every generated diff object as displayYaml, the `yaml` library and kubectl print it', () => {
    const texts = generatedTexts(100);
    // kubectl's style: a sequence in its key's column.
    expect(texts.some((text) => /^( *)[^ \n][^\n]*:\n\1- /m.test(text))).toBe(true);
    for (const text of texts) {
      expect(expectAgrees(text), text).toBeDefined();
    }
  });

  it('reads each shape of the subset, exactly as parseYamlDocuments does', () => {
    for (const text of SHAPES) {
      expect(expectAgrees(text), JSON.stringify(text)).toBeDefined();
    }
  });

  it('refuses everything outside the subset', () => {
    for (const text of REFUSED) {
      expect(readBlockYaml(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('agrees with parseYamlDocuments on the secret catalogue', () => {
    for (const text of catalogueTexts()) expectAgrees(text);
  });

  it('agrees with parseYamlDocuments on the repository’s Kubernetes and Flux YAML', () => {
    const texts = repositoryYaml();
    expect(texts.length).toBeGreaterThan(0);
    for (const text of texts) expectAgrees(text);
  });

  it('agrees with parseYamlDocuments on every tricky scalar and document', () => {
    for (const text of [...scalarTexts(), ...TRICKY]) expectAgrees(text);
  });

  it('agrees with parseYamlDocuments on thousands of small edits of valid documents', () => {
    for (const text of mutants(4_000)) expectAgrees(text);
    const edited = shapeMutants(10_000);
    // Enough of them stay in the subset for the comparison to mean something.
    expect(edited.filter((text) => expectAgrees(text) !== undefined).length).toBeGreaterThan(1_000);
  });
});
