import { describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT, parseCommands } from '../../src/commands/parse.ts';

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
    ['/deploy prod;rm', 'expects at most one environment', '/deploy [environment]'],
    [
      '/deplyo staging',
      '/deplyo is not a DAG command',
      '/diff [environment|all], /deploy [environment], /promote [from] [to], /help',
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
