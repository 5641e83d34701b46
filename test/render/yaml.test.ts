import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { UserError } from '../../src/errors.ts';
import {
  dumpYaml,
  MAX_VALUES_BYTES,
  parseValuesFile,
  parseYamlDocuments,
} from '../../src/render/yaml.ts';

const FILE = 'deploy/values-staging.yaml';

function billionLaughs(): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  const names = 'bcdefghi'.split('');
  let previous = 'a';
  for (const name of names) {
    lines.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(',')}]`);
    previous = name;
  }
  return `${lines.join('\n')}\n`;
}

describe('parseValuesFile', () => {
  it.each([
    ['an empty file', '', {}],
    ['only comments', '# nothing here\n', {}],
    ['an explicit null', '~\n', {}],
    ['a mapping', 'a: 1\nb: {c: [1, 2]}\n', { a: 1, b: { c: [1, 2] } }],
    // Helm reads values as YAML 1.1 (go-yaml v2); DAG must read them the same way.
    ['1.1 booleans', 'a: yes\nb: off\nc: on\n', { a: true, b: false, c: true }],
    ['1.1 octal', 'mode: 0644\n', { mode: 420 }],
    [
      'no sexagesimal numbers (go-yaml v2 has none)',
      'ports: 8080:80\ntime: 12:30\n',
      { ports: '8080:80', time: '12:30' },
    ],
    ['timestamps stay strings', 'date: 2024-01-02\n', { date: '2024-01-02' }],
    ['merge keys', 'x: &x {a: 1}\nz:\n  <<: *x\n  b: 2\n', { x: { a: 1 }, z: { a: 1, b: 2 } }],
    // The Norway problem, as Helm has it too: sigs.k8s.io/yaml turns a boolean key into "true".
    ['a 1.1 boolean key', 'on: push\n', { true: 'push' }],
    ['a few aliases', 'a: &a [1]\nb: *a\nc: *a\n', { a: [1], b: [1], c: [1] }],
    ['keys with colons', '"a: b": 1\n"c:d": 2\n', { 'a: b': 1, 'c:d': 2 }],
    ['multi-line strings', 'text: |\n  line 1\n  evil: true\n', { text: 'line 1\nevil: true\n' }],
  ])('reads %s', (_name, text, expected) => {
    expect(parseValuesFile(text, FILE)).toEqual(expected);
  });

  it.each([
    ['a flow mapping left open', 'a: 1\nb: 2\nc: {d: [1, 2\n', / line \d+: /],
    ['a bad indentation', 'a: 1\nb:\n  c: 1\n d: 2\n', / line 4: /],
    ['a duplicate key', 'a: 1\nb: 2\na: 3\n', / line 3: Map keys must be unique/],
    ['a tab indentation', 'a:\n\tb: 1\n', / line 2: /],
  ])('names the file and line of %s', (_name, text, message) => {
    expect(() => parseValuesFile(text, FILE)).toThrow(UserError);
    expect(() => parseValuesFile(text, FILE)).toThrow(new RegExp(`^${FILE}${message.source}`));
  });

  it('names line 3 for an error on line 3', () => {
    expect(() => parseValuesFile('a: 1\nb: 2\nc: d: e\n', FILE)).toThrow(
      /^deploy\/values-staging\.yaml line 3: /,
    );
  });

  it.each([
    ['a sequence', '- 1\n- 2\n', /top level of a values file must be a mapping, found a sequence/],
    ['a scalar', 'hello\n', /must be a mapping, found a string/],
    ['two documents', 'a: 1\n---\nb: 2\n', /one YAML document, found 2/],
    ['an unresolved alias', 'a: *nowhere\n', /deploy\/values-staging\.yaml/],
    ['an unknown tag', 'a: !!binary aGVsbG8=\n', /line 1: /],
    ['a custom tag', 'a: !vault secret\n', /line 1: /],
  ])('refuses %s', (_name, text, message) => {
    expect(() => parseValuesFile(text, FILE)).toThrow(UserError);
    expect(() => parseValuesFile(text, FILE)).toThrow(message);
  });

  it('refuses a billion-laughs file', () => {
    expect(() => parseValuesFile(billionLaughs(), FILE)).toThrow(UserError);
    expect(() => parseValuesFile(billionLaughs(), FILE)).toThrow(/alias/);
  });

  it('refuses a file over the size limit before parsing it', () => {
    const text = `a: "${'x'.repeat(MAX_VALUES_BYTES)}"\n`;
    expect(() => parseValuesFile(text, FILE)).toThrow(/limit is 1048576 bytes/);
  });

  it('turns pathological nesting into a UserError', () => {
    const depth = 100_000;
    const text = `a: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
    expect(() => parseValuesFile(text, FILE)).toThrow(UserError);
  });
});

describe('dumpYaml', () => {
  it.each([
    'x\nevil: true',
    '{{',
    '{{#each}}',
    '*alias',
    '&anchor',
    'a: b',
    '- item',
    '# comment',
    'yes',
    'on',
    'y',
    'NO',
    '0644',
    '0o14',
    '12:30',
    '1_000',
    '1e3',
    '.5',
    '~',
    'null',
    '2024-01-02',
    ' leading space',
    'trailing space ',
    'line 1\nline 2\n',
    '%TAG',
    '!tag',
    '"quoted"',
    "'single'",
    '@at',
    '`tick',
    '|',
    '>',
    '',
  ])('keeps %j a string for YAML 1.1 and 1.2 readers', (value) => {
    const text = dumpYaml({ key: value });
    expect(parse(text, { version: '1.2' })).toEqual({ key: value });
    expect(parse(text, { version: '1.1' })).toEqual({ key: value });
  });

  it('writes block style, no line folding and no anchors', () => {
    const shared = { a: 1 };
    const long = 'x'.repeat(300);
    const text = dumpYaml({ one: shared, two: shared, long });
    expect(text).toBe(`one:\n  a: 1\ntwo:\n  a: 1\nlong: ${long}\n`);
  });
});

describe('parseYamlDocuments', () => {
  it('returns each non-empty document', () => {
    expect(parseYamlDocuments('a: 1\n---\n---\nb: 2\n', 'x.yaml')).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('reads Kubernetes YAML as 1.2 (kustomize and Flux read it with go-yaml v3)', () => {
    expect(parseYamlDocuments('a: yes\n', 'x.yaml')).toEqual([{ a: 'yes' }]);
  });

  it('names the source and line on bad YAML', () => {
    expect(() => parseYamlDocuments('a: 1\nb: [\n', 'flux/helmrelease.yaml.hbs')).toThrow(
      /^flux\/helmrelease\.yaml\.hbs line \d+: /,
    );
  });

  it('refuses billion laughs', () => {
    expect(() => parseYamlDocuments(billionLaughs(), 'x.yaml')).toThrow(/alias/);
  });
});
