import { describe, expect, it } from 'vitest';
import { maskDiffText, maskPrintedDiff } from '../../src/diff/mask-text.ts';
import { objectChange } from '../../src/diff/object-change.ts';
import { shownDiff } from '../../src/diff/shown-diff.ts';
import { diffObjects } from '../../src/diff/unified.ts';
import { inThread } from '../../src/diff/preview-pool.ts';
import { parseYamlDocuments } from '../../src/render/yaml.ts';
import { PLACEMENTS } from '../fixtures/secrets/placements.ts';
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

  it('gives its diff as a code block shows it, with the counts and fence worked out there', () => {
    const long = 'x'.repeat(2_500);
    const pairs = [
      ...generatePairs(30),
      // Backticks, and a line too long for a code block.
      { live: cm({ a: 'one\r\ntwo', b: '```' }), desired: cm({ a: 'one\rtwo\u0000', b: long }) },
    ];
    for (const { live, desired } of pairs) {
      const { diff, shown } = objectChange({ live, desired });
      const expected = shownDiff(maskDiffText(diffObjects(live, desired).text));
      expect({ code: diff, ...shown }).toEqual(expected);
      expect(diff).not.toMatch(/\n$/);
    }
    const last = shownDiff(
      maskDiffText(diffObjects(pairs.at(-1)!.live, pairs.at(-1)!.desired).text),
    );
    expect(last).toMatchObject({ added: 2, removed: 2, fence: '````' });
    expect(last.code).toMatch(/ … \(508 more characters\)\n/);
  });

  it('masks by line just what the line masker would still find in a diff masked by structure', () => {
    // Every object of the secret catalogue, old against new, created and deleted, and objects
    // with a certificate's or key's base64 body on lines of its own (no PEM header around it).
    const body = 'MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt';
    const pairs: [unknown, unknown][] = [
      [cm({ 'ca.b64': `${body}\nAAAA\n` }), cm({ 'ca.b64': `${body}x\n${body}==\nAAAA\n` })],
      ...generatePairs(20).map(({ live, desired }): [unknown, unknown] => [live, desired]),
    ];
    let masked = 0;
    for (const placement of PLACEMENTS) {
      const old = parseYamlDocuments(placement.text(placement.old), placement.file);
      const next = parseYamlDocuments(placement.text(placement.secret), placement.file);
      next.forEach((doc, i) => pairs.push([old[i] ?? null, doc], [null, doc], [doc, null]));
    }
    for (const [live, desired] of pairs) {
      const text = diffObjects(live, desired).text;
      expect(maskPrintedDiff(text)).toBe(maskDiffText(text));
      if (maskDiffText(text) !== text) masked++;
    }
    expect(pairs.length).toBeGreaterThan(100);
    // Headers aside, the base64 lines are what it masks.
    expect(masked).toBeGreaterThan(0);
    expect(maskPrintedDiff(diffObjects(pairs[0]![0], pairs[0]![1]).text)).not.toContain(body);
  });

  it('masks every line of an object whose keys hold a secret, which the structure keeps', () => {
    const token = `ghp_${'a1B2c3D4e5'.repeat(4)}`;
    const live = cm({ [token]: 'ci-bot', other: '1' });
    const desired = cm({ [token]: 'ci-bot', other: '2' });
    const { diff } = objectChange({ live, desired });
    expect(diffObjects(live, desired).text).toContain(token);
    expect(diff).not.toContain(token);
    expect(diff).toContain('***: ci-bot');
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
