import { describe, expect, it } from 'vitest';
import { objectChange } from '../../src/diff/object-change.ts';
import { inThread } from '../../src/diff/preview-pool.ts';
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

  it('calls sides equal but for the order of their keys unchanged', () => {
    const desired = {
      data: { b: '2', a: '1' },
      metadata: { namespace: 'n', name: 'c' },
      kind: 'ConfigMap',
      apiVersion: 'v1',
    };
    expect(objectChange({ live: cm({ a: '1', b: '2' }), desired })).toEqual({
      key: 'ConfigMap/n/c',
      kind: 'ConfigMap',
      namespace: 'n',
      name: 'c',
      change: 'unchanged',
    });
  });

  it('keeps the error of an object that could not be validated', () => {
    expect(
      objectChange({ live: cm({ a: '1' }), desired: cm({ a: '1' }), error: 'denied' }),
    ).toMatchObject({ change: 'unchanged', error: 'denied' });
  });
});

describe('inThread.objectChanges', () => {
  it('gives the same results as objectChange, one by one', async () => {
    const pairs = generatePairs(20);
    expect(await inThread.objectChanges(pairs)).toEqual(pairs.map((pair) => objectChange(pair)));
  });

  it('past its budget, bounds every diff tightly so a pathological batch still ends soon', async () => {
    // Every tenth of 3,000 lines changes: 600 edits, within the usual bound, past the late one.
    const lines = (changed: string) =>
      Array.from({ length: 3_000 }, (_, i) => (i % 10 === 0 ? `${changed}${i}` : `same${i}`)).join(
        '\n',
      );
    const pairs = [{ live: cm({ f: lines('a') }), desired: cm({ f: lines('b') }) }];
    const hunks = (diff: string | undefined) => diff?.match(/^@@ /gm)?.length;
    const [bounded] = await inThread.objectChanges(pairs, { budgetMs: -1 });
    const [unbounded] = await inThread.objectChanges(pairs);
    // Late: one hunk replacing the whole object; on time: a hunk per changed line.
    expect(bounded?.change).toBe('changed');
    expect(hunks(bounded?.diff)).toBe(1);
    expect(hunks(unbounded?.diff)).toBe(300);
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      inThread.objectChanges(generatePairs(2), { signal: controller.signal }),
    ).rejects.toThrow();
  });
});
