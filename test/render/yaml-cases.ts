// Hard cases for a YAML reader: every YAML 1.1 and 1.2 scalar spelling, quoted and as keys,
// block scalars, odd documents, and small random edits of valid documents (test/render/
// fast-yaml.test.ts compares two readers on them).

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { displayYaml } from '../../src/diff/display-yaml.ts';
import { generatePairs, random } from '../diff/generate-objects.ts';
import { PLACEMENTS } from '../fixtures/secrets/placements.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every YAML file in folders of the repository that hold real Kubernetes and Flux YAML. */
export function repositoryYaml(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.ya?ml$/.test(entry.name)) files.push(full);
    }
  };
  for (const dir of ['deploy', 'test/fixtures']) walk(path.join(ROOT, dir));
  return files.map((file) => readFileSync(file, 'utf8'));
}

/** Each placement of the secret catalogue as YAML, with its old and its secret value. */
export function catalogueTexts(): string[] {
  return PLACEMENTS.flatMap((placement) =>
    [placement.old, placement.secret].map((value) =>
      placement.text(placement.encode?.(value) ?? value),
    ),
  );
}

export const SCALARS = [
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'n', 'N', 'no', 'No', 'NO'],
  ...['true', 'True', 'TRUE', 'false', 'False', 'FALSE', 'on', 'On', 'ON', 'off', 'Off', 'OFF'],
  ...['tRUE', 'nULL', '~', 'null', 'Null', 'NULL', ''],
  ...['0', '-0', '+0', '0777', '0o17', '0O17', '0o8', '0x1F', '0X1f', '0xg', '0b101', '1_000'],
  ...['1:20', '190:20:30', '1.5e3', '1.5E-3', '1e3', '+1.5', '-.5', '.5', '5.', '1.2.3', '1,000'],
  ...['.inf', '-.Inf', '+.INF', '.NaN', '.nan', '.NAN', '-.nan', 'inf', 'NaN'],
  ...['12345678901234567890', '9007199254740993', '1e400', '0.1e-400', '00', '08', '09.5'],
  ...['2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '2002-12-14', '12:30'],
  ...['=', '<<', 'a b', 'a: b', 'a #b', 'a#b', '- a', '-a', '@a', '`a`', '%a', 'a%', 'é', '🙂'],
];

/** Each scalar as a value, a key, a list item, single- and double-quoted. */
export function scalarTexts(): string[] {
  return SCALARS.flatMap((s) => [
    `v: ${s}\n`,
    `${s}: v\n`,
    `- ${s}\n`,
    `list:\n  - ${s}\n  - x\n`,
    `v: '${s}'\n`,
    `v: "${s}"\n`,
    `'${s}': v\n`,
    `"${s}": v\n`,
    `a:\n  ${s}: 1\n  b: ${s}\n`,
  ]);
}

export const TRICKY = [
  'on: push\nyes: 1\noff: [a]\n',
  'text: |\n  line 1\n  evil: true\n',
  'a: |-\n  x\n\n\nb: |+\n  y\n\n\nc: >\n  folded\n  text\n\n  more\nd: >-\n  z\n',
  'a: |2\n   indented\n  b\n',
  'a: |\n\n  leading blank\n',
  'a: >+\n  keep\n\n',
  'a: plain\n  continued\n  lines\n',
  'a: "double\n  quoted\n\n  lines"\n',
  "a: 'single\n  ''quoted'' lines'\n",
  'a: "esc \\t \\n \\x41 \\u00e9 \\U0001F600 \\N \\_ \\L \\P \\/ \\0 \\a"\n',
  'a: "bad \\q escape"\n',
  'a: "unclosed\n',
  'a: 1\na: 2\n',
  '"1": a\n1: b\n',
  'true: a\n"true": b\n',
  '__proto__: {}\nconstructor: 1\n',
  '__proto__:\n  polluted: true\n',
  'a: b: c\n',
  'a:\n  - b\n c: d\n',
  'a:\n- b\n- c\n',
  'a:\n  b: 1\n   c: 2\n',
  '- a\n-b\n',
  '- - a\n  - b\n- - c\n',
  '-\n  a: 1\n- b\n',
  'a: b # comment\n# full line\nc: d#e\n',
  'key with spaces: value with spaces\n',
  '"quoted key": 1\n\'single key\': 2\n',
  'a: []\nb: {}\nc: [ ]\n',
  'a: [1, 2]\n',
  'a: {b: 1}\n',
  'a: &x 1\nb: *x\n',
  'a: !!str 1\n',
  '--- a\n',
  'a: 1\n---\nb: 2\n',
  'a: 1\n...\n',
  '%YAML 1.1\n---\na: yes\n',
  '? a\n: b\n',
  '<<: {a: 1}\n',
  'a:\n\tb: 1\n',
  'a: "x\ty"\n',
  'a: 1\r\nb: 2\r\n',
  '\ufeffa: 1\n',
  'a: 1',
  '',
  '# only a comment\n',
  '~\n',
  'just a string\n',
  '42\n',
  '- a\n- b\n',
  `${'k'.repeat(1100)}: 1\n`,
  `"${'k'.repeat(1100)}": 1\n`,
  `a: ${'v'.repeat(2000)}\n`,
  'a:\n  b:\n    c:\n      d: [\n',
  '"a:b": 1\n"c: d": 2\n',
  'a: -\nb: - x\n',
  'a: ---\nb: ...\n',
  'a: |\n  ---\n  ...\n',
  'a: "#not a comment"\n',
  "a: 'it''s'\n",
  'a: "\\"quoted\\""\n',
  'a: x:y\nb: http://example.com:8080/path?q=1&r=2\n',
  'a: *\n',
  'a: &\n',
  'a: !\n',
  'a: |\n  &anchor in a block\n  *star\n',
  ': empty key\n',
  '- : empty key in a list\n',
  'null: 1\n',
  '~: 1\n',
  'a:\n  null: 1\n',
  'a: @b\n',
  'a: `b\n',
  'a: 1\n  b: 2\n',
  'a:\n  - b: 1\n    c: 2\n  - d\n',
  'a:    \n  b\n',
  'a:\n  b: 1\n[   ]: 2\n',
  '{}: 1\n',
  '- []\n- {}\n',
];

/** Small edits of valid documents: where js-yaml is more lenient than `yaml`, a mutant shows it. */
export function mutants(count: number, seed = 7): string[] {
  const next = random(seed);
  const bases = [
    ...TRICKY,
    displayYaml(generatePairs(2)[0]?.live),
    displayYaml(generatePairs(2)[1]?.desired),
  ];
  const pieces = [
    ' ',
    '  ',
    '\n',
    '-',
    ':',
    ': ',
    '- ',
    '"',
    "'",
    '#',
    '|',
    '>',
    '\\',
    'x',
    '0',
    '[',
    ']',
    '{',
    '}',
    ',',
    '?',
    '~',
    '2',
    '+',
    '.',
    'e',
  ];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let text = bases[Math.floor(next() * bases.length)] ?? '';
    for (let edits = 1 + Math.floor(next() * 3); edits > 0; edits--) {
      const at = Math.floor(next() * (text.length + 1));
      if (next() < 0.4) text = text.slice(0, at) + text.slice(at + 1);
      else
        text =
          text.slice(0, at) + (pieces[Math.floor(next() * pieces.length)] ?? '') + text.slice(at);
    }
    out.push(text);
  }
  return out;
}
