import { diffArrays } from 'diff';
import { describe, expect, it } from 'vitest';
import { diffLines, MAX_COMPONENTS } from '../../src/diff/line-diff.ts';
import { displayYaml } from '../../src/diff/display-yaml.ts';
import { generatePairs, random } from './generate-objects.ts';

const lines = (text: string) => text.slice(0, -1).split('\n');

describe('diffLines', () => {
  it("gives jsdiff's diffArrays changes, object for object, on random line lists", () => {
    const next = random(23);
    let compared = 0;
    let gaveUp = 0;
    for (let round = 0; round < 4_000; round++) {
      // A small alphabet, so that lines repeat and many paths tie.
      const alphabet = 1 + Math.floor(next() * 6);
      const line = () => `l${Math.floor(next() * alphabet)}`;
      const old = Array.from({ length: Math.floor(next() * 50) }, line);
      const edited =
        next() < 0.1
          ? Array.from({ length: Math.floor(next() * 50) }, line)
          : old.filter(() => next() > 0.2).map((l) => (next() > 0.85 ? line() : l));
      for (let i = Math.floor(next() * 5); i > 0; i--) {
        edited.splice(Math.floor(next() * (edited.length + 1)), 0, line());
      }
      const maxEditLength = next() < 0.3 ? 1 + Math.floor(next() * 8) : 2_000;
      const options = { timeout: 60_000, maxEditLength };
      const expected = diffArrays(old, edited, options);
      expect(diffLines(old, edited, options)).toStrictEqual(expected);
      compared++;
      if (expected === undefined) gaveUp++;
    }
    expect(compared).toBe(4_000);
    // Both sides of the edit-length cap were compared.
    expect(gaveUp).toBeGreaterThan(100);
    expect(compared - gaveUp).toBeGreaterThan(2_000);
  });

  it("gives jsdiff's changes on generated objects, with long runs of lines both sides share", () => {
    for (const pair of generatePairs(40)) {
      const live = lines(displayYaml(pair.live, { sortKeys: true }));
      const desired = lines(displayYaml(pair.desired, { sortKeys: true }));
      const options = { timeout: 60_000, maxEditLength: 2_000 };
      expect(diffLines(live, desired, options)).toStrictEqual(diffArrays(live, desired, options));
      expect(diffLines(desired, live, options)).toStrictEqual(diffArrays(desired, live, options));
    }
  });

  it('gives up past the time allowed, as jsdiff does', () => {
    const old = Array.from({ length: 3_000 }, (_, i) => `old ${i}`);
    const next = Array.from({ length: 3_000 }, (_, i) => `new ${i}`);
    expect(diffLines(old, next, { timeout: 0, maxEditLength: 1e9 })).toBeUndefined();
  });

  it('gives up rather than make more than MAX_COMPONENTS components', () => {
    // Entirely different: 6,000 edits, which a search makes some 18 million components for.
    const old = Array.from({ length: 3_000 }, (_, i) => `old ${i}`);
    const next = Array.from({ length: 3_000 }, (_, i) => `new ${i}`);
    expect(diffLines(old, next, { timeout: 60_000, maxEditLength: 1e9 })).toBeUndefined();
    // Within the default cap of 2,000 edits it never gives up for that reason.
    expect(2 * Array.from({ length: 2_000 }, (_, i) => i + 2).reduce((a, b) => a + b)).toBeLessThan(
      MAX_COMPONENTS,
    );
  });

  it('keeps its working memory small after a large diff', () => {
    const old = Array.from({ length: 2_000 }, (_, i) => `a ${i}`);
    const next = Array.from({ length: 2_000 }, (_, i) => `b ${i}`);
    const changes = diffLines(old, next, { timeout: 60_000, maxEditLength: 4_000 });
    expect(changes?.map((change) => [change.removed, change.added, change.count])).toEqual([
      [true, false, 2_000],
      [false, true, 2_000],
    ]);
    // A small diff afterwards still gives jsdiff's answer (the buffers were made anew).
    expect(diffLines(['x', 'y'], ['x', 'z'], { timeout: 1_000, maxEditLength: 10 })).toStrictEqual(
      diffArrays(['x', 'y'], ['x', 'z'], { timeout: 1_000, maxEditLength: 10 }),
    );
  });
});
