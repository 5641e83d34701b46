import { describe, expect, it } from 'vitest';
import { applyMergePatch, patchValuesText } from '../../src/fix/merge-patch.ts';

describe('applyMergePatch', () => {
  // The examples of RFC 7386, appendix A.
  it.each([
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ])('%j patched with %j is %j', (target, patch, result) => {
    expect(applyMergePatch(target, patch)).toEqual(result);
  });

  it('sets __proto__ as a key, not a prototype', () => {
    const out = applyMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as object;
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });
});

describe('patchValuesText', () => {
  it('keeps comments, quotes strings YAML 1.1 would misread', () => {
    const before = '# top\nfeature: off # for now\nimage:\n  tag: v1\n';
    const { text, keptComments } = patchValuesText(
      before,
      { feature: 'yes', image: { tag: 'v2' } },
      'v.yaml',
    );
    expect(keptComments).toBe(true);
    expect(text).toBe('# top\nfeature: "yes" # for now\nimage:\n  tag: v2\n');
  });

  it('writes afresh (without comments) when an edit would change what an alias shares', () => {
    const before = '# c\nbase: &b 1\ncopy: *b\n';
    const { text, values, keptComments } = patchValuesText(before, { base: 2 }, 'v.yaml');
    expect(values).toEqual({ base: 2, copy: 1 });
    expect(keptComments).toBe(false);
    expect(text).toBe('base: 2\ncopy: 1\n');
  });
});
