import { describe, expect, it } from 'vitest';
import { oneLine, reasonAndMessage } from '../../src/monitor/reason-text.ts';

describe('oneLine', () => {
  it.each([
    { input: 'plain', max: 500, output: 'plain' },
    { input: 'a\nb\r\nc\td', max: 500, output: 'a b c d' },
    { input: '  spaced   out  ', max: 500, output: 'spaced out' },
    { input: 'bidi\u202eoverride\u0000nul', max: 500, output: 'bidi override nul' },
    { input: 'abcdefghij', max: 5, output: 'abcd…' },
    { input: '😀😀😀😀😀😀', max: 3, output: '😀😀…' },
  ])('$input (max $max) → $output', ({ input, max, output }) => {
    expect(oneLine(input, max)).toBe(output);
  });
});

describe('reasonAndMessage', () => {
  it.each([
    {
      reason: 'UpgradeFailed',
      message: 'Helm upgrade failed',
      output: 'UpgradeFailed: Helm upgrade failed',
    },
    { reason: 'UpgradeFailed', message: 'UpgradeFailed: x', output: 'UpgradeFailed: x' },
    { reason: undefined, message: 'only a message', output: 'only a message' },
    { reason: 'OnlyReason', message: '  ', output: 'OnlyReason' },
    { reason: undefined, message: undefined, output: undefined },
  ])('$reason + $message', ({ reason, message, output }) => {
    expect(reasonAndMessage(reason, message)).toBe(output);
  });
});
