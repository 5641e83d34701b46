import { describe, expect, it } from 'vitest';
import { mergeValues } from '../../src/render/merge-values.ts';

describe('mergeValues', () => {
  it.each([
    [
      'objects merge key by key',
      { a: { x: 1, y: 2 } },
      { a: { y: 3, z: 4 } },
      { a: { x: 1, y: 3, z: 4 } },
    ],
    ['arrays replace', { list: [1, 2, 3] }, { list: [9] }, { list: [9] }],
    ['scalars replace', { a: 1, b: 'x' }, { a: 'one' }, { a: 'one', b: 'x' }],
    ['null replaces', { a: { x: 1 } }, { a: null }, { a: null }],
    ['an object replaces a scalar', { a: 'x' }, { a: { y: 1 } }, { a: { y: 1 } }],
    ['a scalar replaces an object', { a: { y: 1 } }, { a: 2 }, { a: 2 }],
    [
      'deep merge',
      { a: { b: { c: 1, d: [1] } } },
      { a: { b: { d: [2], e: 3 } } },
      { a: { b: { c: 1, d: [2], e: 3 } } },
    ],
    ['empty environment', { a: 1 }, {}, { a: 1 }],
    ['empty base', {}, { a: 1 }, { a: 1 }],
  ])('%s', (_name, base, environment, expected) => {
    expect(mergeValues(base, environment)).toEqual(expected);
  });

  it('keeps the order of first appearance', () => {
    const merged = mergeValues({ b: 1, a: 1 }, { c: 1, a: 2 });
    expect(Object.keys(merged)).toEqual(['b', 'a', 'c']);
  });

  it('does not modify its inputs or share nested objects with them', () => {
    const base = { a: { x: 1 }, list: [{ k: 1 }] };
    const environment = { a: { y: 2 } };
    const merged = mergeValues(base, environment);
    (merged.a as Record<string, unknown>).z = 3;
    ((merged.list as Record<string, unknown>[])[0] as Record<string, unknown>).k = 9;
    expect(base).toEqual({ a: { x: 1 }, list: [{ k: 1 }] });
    expect(environment).toEqual({ a: { y: 2 } });
  });

  it('keeps __proto__ as a plain key and never touches prototypes', () => {
    const hostile = JSON.parse('{"__proto__": {"polluted": true}, "a": {"__proto__": {"x": 1}}}');
    const merged = mergeValues({ a: { b: 1 } }, hostile);
    expect(Object.keys(merged)).toEqual(['a', '__proto__']);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(merged.a as object)).toEqual(['b', '__proto__']);
  });
});
