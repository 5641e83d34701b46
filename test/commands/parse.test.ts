import { describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT, READ_LIMITS, parseCommands } from '../../src/commands/parse.ts';

describe('parseCommands', () => {
  it.each([
    ['/diff', [{ kind: 'diff', target: undefined }]],
    ['/diff staging', [{ kind: 'diff', target: 'staging' }]],
    ['  /DIFF    Staging  ', [{ kind: 'diff', target: 'staging' }]],
    ['/diff all', [{ kind: 'diff', target: 'all' }]],
    ['/deploy', [{ kind: 'deploy', environment: undefined }]],
    ['/deploy production', [{ kind: 'deploy', environment: 'production' }]],
    ['/promote', [{ kind: 'promote', from: undefined, to: undefined }]],
    ['/promote staging production', [{ kind: 'promote', from: 'staging', to: 'production' }]],
    ['/help', [{ kind: 'help' }]],
    ['/status', [{ kind: 'status', environment: undefined }]],
    ['/Status production', [{ kind: 'status', environment: 'production' }]],
    ['/dag diff staging', [{ kind: 'diff', target: 'staging' }]],
    ['/dag', [{ kind: 'help' }]],
    ['Looks good!\n/diff staging\nthanks', [{ kind: 'diff', target: 'staging' }]],
    [
      '/diff staging\r\n/deploy staging',
      [
        { kind: 'diff', target: 'staging' },
        { kind: 'deploy', environment: 'staging' },
      ],
    ],
    ['no commands here', []],
    ['see /diff in the docs', []],
    ['```\n/deploy production\n```', []],
    ['> /deploy production', []],
    ['~~~\n/deploy production\n~~~\n/diff', [{ kind: 'diff', target: undefined }]],
    ['/usr/local/bin is a path', []],
  ])('%j', (body, commands) => {
    expect(parseCommands(body)).toEqual({ commands, mistakes: [] });
  });

  it.each([
    [
      '/diff staging production',
      'expects at most one environment (or all)',
      '/diff [environment|all]',
    ],
    ['/deploy a b', 'expects at most one environment', '/deploy [environment]'],
    ['/promote a b c', 'expects at most two environments', '/promote [from] [to]'],
    ['/status a b', 'expects at most one environment', '/status [environment]'],
    ['/deploy prod;rm', 'expects at most one environment', '/deploy [environment]'],
    [
      '/deplyo staging',
      '/deplyo is not a DAG command',
      '/diff [environment|all], /deploy [environment], /promote [from] [to], /status [environment], /help',
    ],
  ])('explains %j', (body, problem, usage) => {
    const parsed = parseCommands(body);
    expect(parsed.commands).toEqual([]);
    expect(parsed.mistakes).toEqual([{ line: body, problem, usage }]);
  });
});

describe('commands per comment', () => {
  const lines = (n: number) => Array.from({ length: n }, () => '/deploy staging').join('\n');

  it(`runs up to ${MAX_COMMANDS_PER_COMMENT} commands from one comment`, () => {
    const parsed = parseCommands(lines(MAX_COMMANDS_PER_COMMENT));
    expect(parsed.commands).toHaveLength(MAX_COMMANDS_PER_COMMENT);
    expect(parsed.tooMany).toBeUndefined();
  });

  it('returns none from a comment with more, only how many it holds', () => {
    expect(parseCommands(lines(1_000))).toEqual({ commands: [], mistakes: [], tooMany: 1_000 });
    // Mistakes are commands too: they would each take a line of the answer.
    const mixed = `${lines(MAX_COMMANDS_PER_COMMENT)}\n/deplyo staging`;
    expect(parseCommands(mixed)).toEqual({
      commands: [],
      mistakes: [],
      tooMany: MAX_COMMANDS_PER_COMMENT + 1,
    });
  });

  it('does not count lines that are not commands', () => {
    const body = [
      lines(MAX_COMMANDS_PER_COMMENT),
      '```',
      lines(50),
      '```',
      '> /deploy production',
      '/usr/local/bin is a path',
    ].join('\n');
    expect(parseCommands(body).commands).toHaveLength(MAX_COMMANDS_PER_COMMENT);
  });
});

/**
 * Which lines are paragraph lines, as GitHub's Markdown (CommonMark) reads a comment. The
 * inputs follow the examples of the CommonMark spec section each title names.
 */
describe('commands only in paragraphs', () => {
  const deploy = (environment: string) => ({ kind: 'deploy', environment });
  const diff = { kind: 'diff', target: undefined };
  it.each([
    // Indented code blocks
    ['Indented code blocks: four spaces make code', '    /deploy staging', []],
    ['Indented code blocks: a tab makes code', '\t/deploy staging', []],
    ['Indented code blocks: a tab after spaces reaches the tab stop', '  \t/deploy staging', []],
    [
      'Indented code blocks: one to three spaces are a paragraph',
      '   /deploy staging',
      [deploy('staging')],
    ],
    ['Indented code blocks: code goes on over blank lines', '    make\n\n    /deploy staging', []],
    [
      'Indented code blocks: a less indented line ends the code',
      '    /deploy production\n/deploy staging',
      [deploy('staging')],
    ],
    [
      'Indented code blocks: cannot interrupt a paragraph',
      'Please run\n    /deploy staging',
      [deploy('staging')],
    ],
    [
      'Indented code blocks: after a heading, indentation is code',
      '# Deploy\n    /deploy staging',
      [],
    ],
    [
      'Indented code blocks: list item content comes first',
      '- item\n\n    /deploy staging',
      [deploy('staging')],
    ],
    ['Indented code blocks: code in a list item', '- item\n\n      /deploy staging', []],
    // Fenced code blocks
    ['Fenced code blocks: with an info string', '```sh\n/deploy production\n```\n/diff', [diff]],
    ['Fenced code blocks: tildes with an info string', '~~~ text\n/deploy production\n~~~', []],
    [
      'Fenced code blocks: a shorter fence does not close',
      '````\n/deploy production\n```\n````\n/diff',
      [diff],
    ],
    ['Fenced code blocks: tildes do not close backticks', '```\n~~~\n/deploy production\n```', []],
    [
      'Fenced code blocks: an unclosed fence runs to the end',
      '```\n/deploy production\n\n/deploy staging\n',
      [],
    ],
    ['Fenced code blocks: indented up to three spaces', '   ```\n/deploy production\n   ```', []],
    [
      'Fenced code blocks: four spaces are code, not a fence',
      '    ```\n/deploy staging',
      [deploy('staging')],
    ],
    [
      'Fenced code blocks: a fence in a quote ends with it',
      '> ```\n> /deploy production\n\n/deploy staging',
      [deploy('staging')],
    ],
    [
      'Fenced code blocks: a fence in a list item ends with it',
      '- ```\n  /deploy production\n\n/deploy staging',
      [deploy('staging')],
    ],
    // Block quotes
    ['Block quotes: without a space after >', '>/deploy production', []],
    ['Block quotes: indented', '   > /deploy production', []],
    ['Block quotes: a lazy continuation line', '> please\n/deploy production', []],
    ['Block quotes: lazy in a nested quote', '> > please\n/deploy production', []],
    ['Block quotes: lazy in a list item', '- item\n  > please\n  /deploy production', []],
    [
      'Block quotes: a blank line ends the quote',
      '> please\n\n/deploy staging',
      [deploy('staging')],
    ],
    ['Block quotes: code is never lazy', '> ```\n/deploy staging', [deploy('staging')]],
    // HTML blocks
    ['HTML blocks: run to a blank line', '<details>\n/deploy production\n</details>', []],
    [
      'HTML blocks: a blank line ends them',
      '<details>\n\n/deploy staging\n\n</details>',
      [deploy('staging')],
    ],
    ['HTML blocks: any tag on its own line starts one', '<span>\n/deploy production', []],
    [
      'HTML blocks: such a tag cannot interrupt a paragraph',
      'Hi\n<span>\n/deploy staging',
      [deploy('staging')],
    ],
    [
      'HTML blocks: a comment runs over blank lines',
      '<!--\n\n/deploy production\n\n-->\n/diff',
      [diff],
    ],
    ['HTML blocks: <pre> runs over blank lines', '<pre>\n\n/deploy production\n</pre>', []],
    // Setext headings
    ['Setext headings: an underline makes a heading', '/deploy production\n---', []],
    ['Setext headings: = underline', 'Please\n/deploy production\n===', []],
    ['Setext headings: not after a blank line', '/deploy staging\n\n---', [deploy('staging')]],
    ['Setext headings: - - - is a thematic break', '/deploy staging\n- - -', [deploy('staging')]],
    // List items and paragraphs
    ['List items: the first line starts with the marker', '- /deploy production', []],
    ['List items: an ordered marker too', '1. /deploy production', []],
    ['List items: a paragraph line in an item', '- item\n  /deploy staging', [deploy('staging')]],
    ['List items: a lazy line in an item', '- item\n/deploy staging', [deploy('staging')]],
    ['Paragraphs: a line after text, indented', 'I agree.\n  /deploy staging', [deploy('staging')]],
    ['Link reference definitions: a destination on the next line', '[docs]:\n/deploy', []],
    [
      'Link reference definitions: not one with more after it',
      '[docs]:\n/deploy staging',
      [deploy('staging')],
    ],
    // Line endings
    [
      'Line endings: \\r\\n around a fence',
      '```\r\n/deploy production\r\n```\r\n/deploy staging',
      [deploy('staging')],
    ],
    [
      'Line endings: \\r\\n after code',
      '    /deploy production\r\n/deploy staging',
      [deploy('staging')],
    ],
    ['Line endings: a lone \\r', '    /deploy production\r/deploy staging', [deploy('staging')]],
    ['A byte order mark', '\uFEFF/deploy staging', [deploy('staging')]],
  ])('%s', (_title, body, commands) => {
    expect(parseCommands(body)).toEqual({ commands, mistakes: [] });
  });
});

describe('how much of a comment is read', () => {
  const text = (n: number) => 'some text\n'.repeat(n);
  const unreadable = (line: string) => ({
    commands: [],
    mistakes: [
      {
        line,
        problem: expect.stringContaining('too long or too nested') as unknown as string,
        usage:
          '/diff [environment|all], /deploy [environment], /promote [from] [to], /status [environment], /help',
      },
    ],
  });

  it(`reads up to ${READ_LIMITS.lines} lines, to the last command's paragraph`, () => {
    const at = `${text(READ_LIMITS.lines - 1)}/deploy staging`;
    expect(parseCommands(at).commands).toEqual([{ kind: 'deploy', environment: 'staging' }]);
    // What follows the last command's paragraph is not read.
    const after = `/deploy staging\n\n${text(10 * READ_LIMITS.lines)}`;
    expect(parseCommands(after).commands).toEqual([{ kind: 'deploy', environment: 'staging' }]);
  });

  it('runs nothing from a comment past the limits, and says why', () => {
    expect(parseCommands(`${text(READ_LIMITS.lines)}/deploy staging`)).toEqual(
      unreadable('/deploy staging'),
    );
    const nested = `${'> '.repeat(READ_LIMITS.markers + 1)}quote`;
    expect(parseCommands(`/diff\n\n${nested}\n\n/deploy staging`)).toEqual(unreadable('/diff'));
    const long = `${'x'.repeat(READ_LIMITS.chars)}\n/deploy staging`;
    expect(parseCommands(long)).toEqual(unreadable('/deploy staging'));
    // A path is no command: there is nothing to refuse.
    expect(parseCommands(`${text(READ_LIMITS.lines)}/usr/local/bin`)).toEqual({
      commands: [],
      mistakes: [],
    });
  });

  // micromark's work grows with the square of the lines and of the nesting, and inline
  // Markdown can be far worse (65,536 characters of `*a` take it over a minute): each of these
  // worst shapes at the limits is read (not refused), with inline Markdown off. How long that
  // takes is not asserted here (43-172 ms when measured); the test timeout bounds a hang.
  const last = '/deploy staging';
  const lines = READ_LIMITS.lines - 2;
  const { markers, chars } = READ_LIMITS;
  it.each([
    ['setext headings', `${'a\n=\n'.repeat(lines / 2)}${last}`],
    ['a lazy quote', `> a\n${'a\n'.repeat(lines)}${last}`],
    ['a lazy list item', `- a\n${'a\n'.repeat(lines)}${last}`],
    ['closed quotes', `${'> a\n\n'.repeat(lines / 2)}${last}`],
    ['deeply nested quotes', `${'> '.repeat(markers)}a\n${'a\n'.repeat(lines)}${last}`],
    ['deeply nested lists', `${'1. '.repeat(markers)}a\n${'a\n'.repeat(lines)}${last}`],
    ['emphasis', `${'*a'.repeat(chars / 2 - 10)}\n${last}`],
    ['brackets', `${'['.repeat(chars - 20)}\n${last}`],
  ])('reads %s at the limits', (_name, body) => {
    const parsed = parseCommands(body);
    expect(parsed.mistakes).toEqual([]); // read, not refused
  });
});
