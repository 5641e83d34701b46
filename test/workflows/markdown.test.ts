import { describe, expect, it } from 'vitest';
import {
  COMMENT_LIMITS,
  MAX_CODE_SPAN_CHARS,
  code,
  fitComment,
} from '../../src/workflows/markdown.ts';

describe('code', () => {
  it('cuts long text, and keeps its fence longer than any backtick run', () => {
    expect(code('a`b')).toBe('``a`b``');
    const long = code('x'.repeat(10_000));
    expect(long).toBe(`\`${'x'.repeat(MAX_CODE_SPAN_CHARS - 1)}…\``);
  });
});

describe('fitComment', () => {
  it('leaves a body that fits as it is', () => {
    expect(fitComment('short', 'github')).toBe('short');
  });

  it.each(['github', 'gitlab'] as const)(
    "cuts a longer body at a line break, within %s's limit, saying how much is left out",
    (provider) => {
      const line = 'a line of the answer\n';
      const body = line.repeat(Math.ceil((COMMENT_LIMITS[provider] * 2) / line.length));
      const fitted = fitComment(body, provider);
      expect(fitted.length).toBeLessThanOrEqual(COMMENT_LIMITS[provider] - 200);
      expect(fitted.length).toBeGreaterThan(COMMENT_LIMITS[provider] - 600);
      expect(fitted).toMatch(
        /a line of the answer\n\n_… \d+ more characters did not fit in one comment\._$/,
      );
    },
  );

  it('closes a code fence the cut leaves open, and never splits a character', () => {
    const body = `Output:\n\`\`\`\`yaml\n${'é😀\n'.repeat(40_000)}\`\`\`\`\n`;
    const fitted = fitComment(body, 'github');
    expect(fitted.length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
    expect(fitted).toMatch(/😀\n````\n\n_… \d+ more characters/);
    expect(fitted).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });
});
