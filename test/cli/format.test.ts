import { describe, expect, it } from 'vitest';
import { formatTable } from '../../src/cli/output.ts';
import { iacPath, quote } from '../../src/cli/validate.ts';

describe('formatTable', () => {
  it('aligns columns, upper-cases headers and shows empty cells as -', () => {
    const table = formatTable(
      ['id', 'name', 'token'],
      [
        [1, 'prod-iac', 'set'],
        [12, 'x', null],
      ],
    );
    expect(table).toBe(['ID  NAME      TOKEN', '1   prod-iac  set', '12  x         -'].join('\n'));
  });

  it('keeps each row on one line', () => {
    expect(formatTable(['a', 'b'], [['x\ny', new Date('2025-01-02T03:04:05.678Z')]])).toBe(
      'A    B\nx y  2025-01-02T03:04:05Z',
    );
  });
});

describe('validation helpers', () => {
  it.each([
    ['https://user:secret@gitlab.com/o/r', 'https://***@gitlab.com/o/r'],
    ['line\nbreak', 'line?break'],
    ['x'.repeat(200), `${'x'.repeat(117)}...`],
  ])('quote(%j)', (input, expected) => {
    expect(quote(input)).toBe(expected);
  });

  it.each([
    ['clusters/staging/my-app/', 'clusters/staging/my-app'],
    ['apps', 'apps'],
  ])('iacPath(%j) = %j', (input, expected) => {
    expect(iacPath(input)).toBe(expected);
  });

  it.each(['/abs', 'a/../b', './a', 'a b', ''])('iacPath(%j) is refused', (input) => {
    expect(() => iacPath(input)).toThrow(/invalid IAC path/);
  });
});
