import { describe, expect, it } from 'vitest';
import { objectChange, objectChanges } from '../../src/diff/object-change.ts';
import { generatePairs } from './generate-objects.ts';

const cm = (data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'n' },
  data,
});

describe('objectChange', () => {
  it.each([
    { name: 'created', live: null, desired: cm({ a: '1' }), change: 'created' },
    { name: 'deleted', live: cm({ a: '1' }), desired: null, change: 'deleted' },
    { name: 'changed', live: cm({ a: '1' }), desired: cm({ a: '2' }), change: 'changed' },
    { name: 'unchanged', live: cm({ a: '1' }), desired: cm({ a: '1' }), change: 'unchanged' },
  ])('$name', ({ live, desired, change }) => {
    const result = objectChange({ live, desired });
    expect(result).toMatchObject({
      key: 'ConfigMap/n/c',
      kind: 'ConfigMap',
      namespace: 'n',
      name: 'c',
      change,
    });
    expect(result.diff === undefined).toBe(change === 'unchanged');
  });

  it('keeps the error of an object that could not be validated', () => {
    expect(
      objectChange({ live: cm({ a: '1' }), desired: cm({ a: '1' }), error: 'denied' }),
    ).toMatchObject({ change: 'unchanged', error: 'denied' });
  });
});

describe('objectChanges', () => {
  it('gives the same results as objectChange, one by one', async () => {
    const pairs = generatePairs(20);
    expect(await objectChanges(pairs)).toEqual(pairs.map((pair) => objectChange(pair)));
  });

  it('lets the event loop run while it works', async () => {
    const pairs = generatePairs(400);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await objectChanges(pairs, { sliceMs: 5 });
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(3);
  });

  it('past its budget, bounds every diff tightly so a pathological batch still ends soon', async () => {
    const lines = (prefix: string) =>
      Array.from({ length: 3_000 }, (_, i) => `${prefix}${i}`).join('\n');
    const pairs = Array.from({ length: 20 }, () => ({
      live: cm({ f: lines('a') }),
      desired: cm({ f: lines('b') }),
    }));
    const started = performance.now();
    const results = await objectChanges(pairs, { budgetMs: 0 });
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(results.every((result) => result.change === 'changed')).toBe(true);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(objectChanges(generatePairs(2), { signal: controller.signal })).rejects.toThrow();
  });
});
