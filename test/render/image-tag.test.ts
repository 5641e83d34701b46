import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { renderImageTag } from '../../src/render/image-tag.ts';

const fields = {
  sha: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b',
  shortSha: '9f86d08',
  branch: 'main',
};

describe('renderImageTag', () => {
  it.each([
    ['{{sha}}', fields.sha],
    ['{{shortSha}}', '9f86d08'],
    ['{{branch}}-{{shortSha}}', 'main-9f86d08'],
    ['v1.2.3', 'v1.2.3'],
    ['sha-{{sha}}', `sha-${fields.sha}`],
  ])('%s -> %s', (format, expected) => {
    expect(renderImageTag(format, fields)).toBe(expected);
  });

  it.each([
    [
      'a branch with a slash',
      '{{branch}}',
      { ...fields, branch: 'feature/x' },
      /not a valid image tag/,
    ],
    ['a leading dot', '.{{shortSha}}', fields, /not a valid image tag/],
    ['a leading dash', '-{{shortSha}}', fields, /not a valid image tag/],
    ['empty', '', fields, /not a valid image tag/],
    ['too long', '{{sha}}{{sha}}{{sha}}{{sha}}', fields, /not a valid image tag/],
    ['a newline', '{{branch}}', { ...fields, branch: 'x\nevil' }, /not a valid image tag/],
    ['an unknown field', '{{tag}}', fields, /does not render.*"tag" not defined/],
    ['an unknown helper', '{{upper sha}}', fields, /does not render/],
    ['a template that does not compile', '{{#if sha}}', fields, /does not render/],
    ['a prototype lookup', '{{sha.constructor}}', fields, /does not render|not a valid image tag/],
  ])('refuses %s', (_name, format, input, message) => {
    expect(() => renderImageTag(format, input)).toThrow(UserError);
    expect(() => renderImageTag(format, input)).toThrow(message);
  });

  it('does not see the helpers of the bundle templates', () => {
    expect(() => renderImageTag('{{yaml sha}}', fields)).toThrow(UserError);
  });
});
