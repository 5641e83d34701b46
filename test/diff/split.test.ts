import { beforeAll, describe, expect, it } from 'vitest';
import type { DiffCommentModel, EnvironmentDiff, ObjectDiff } from '../../src/diff/comment.ts';
import { parseDiffComment } from '../../src/diff/comment-read.ts';
import { objectChange } from '../../src/diff/object-change.ts';
import {
  commentModel,
  LEFT_OUT_DIFF,
  MAX_COMMENT_CHARS,
  MAX_COMMENT_PARTS,
  renderDiffComments,
} from '../../src/diff/split.ts';
import { generatePairs, random } from './generate-objects.ts';
import { expectBalanced } from './markdown-checks.ts';

const SHA = 'f'.repeat(40);

const environment = (name: string, objects: ObjectDiff[]): EnvironmentDiff => ({
  environment: name,
  iacFiles: [],
  objects,
  validation: { result: 'passed' },
  notes: [],
});

/** The entry of a ConfigMap `n/<name>` the preview creates. */
const createdConfigMap = (name: string, data: Record<string, string>): ObjectDiff =>
  objectChange({
    live: null,
    desired: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'n' }, data },
  });

const modelOf = (...environments: EnvironmentDiff[]): DiffCommentModel => ({
  pr: 7,
  headSha: SHA,
  environments,
});

/**
 * How many files and objects the bodies account for: shown in a `<details>` section (whole or
 * cut), named in a list, or counted in a `- … and N more` line. Must equal the number changed.
 */
function accounted(bodies: string[]): number {
  let total = 0;
  for (const body of bodies) {
    total +=
      body.match(/^<details><summary>(?:📄 )?<b>(?:created|changed|deleted|unchanged)<\/b>/gm)
        ?.length ?? 0;
    total +=
      body.match(/^- (?:[^<\n]*: )?(?:📄 )?<b>(?:created|changed|deleted|unchanged)<\/b>/gm)
        ?.length ?? 0;
    for (const more of body.matchAll(/^- … and (\d+) more$/gm)) total += Number(more[1]);
  }
  return total;
}

function expectWellFormed(bodies: string[], limit = MAX_COMMENT_CHARS) {
  bodies.forEach((body, index) => {
    expect(body.length, `part ${index + 1}`).toBeLessThanOrEqual(limit);
    expectBalanced(body);
    const state = parseDiffComment(body);
    expect(state?.part).toBe(index + 1);
    expect(state?.parts).toBe(bodies.length);
    expect(state?.headSha).toBe(SHA);
  });
}

describe('renderDiffComments', () => {
  let objects2000: ObjectDiff[];
  let yamlChars = 0;

  beforeAll(() => {
    const pairs = generatePairs(2_000);
    objects2000 = pairs.map((pair) => objectChange(pair));
    yamlChars = JSON.stringify(pairs).length;
  });

  it('(a) puts a small preview in one comment', () => {
    const model = modelOf(environment('staging', objects2000.slice(0, 5)));
    const { level, bodies } = renderDiffComments(model);
    expect(level).toBe('single');
    expect(bodies).toHaveLength(1);
    expectWellFormed(bodies);
    for (const object of objects2000.slice(0, 5)) expect(bodies[0]).toContain(object.diff);
  });

  it('(b) splits at object boundaries, summary in the first part only, nothing lost', () => {
    const objects = objects2000.slice(0, 120);
    const model = modelOf(
      environment('staging', objects.slice(0, 60)),
      environment('production', objects.slice(60)),
    );
    const { level, bodies } = renderDiffComments(model);
    expect(level).toBe('split');
    expect(bodies.length).toBeGreaterThan(1);
    expect(bodies.length).toBeLessThanOrEqual(MAX_COMMENT_PARTS);
    expectWellFormed(bodies);
    expect(bodies[0]).toContain('| Environment |');
    for (const body of bodies.slice(1)) {
      expect(body).not.toContain('| Environment |');
      expect(body).toMatch(/^### (staging|production) \(continued\)$/m);
    }
    bodies.forEach((body, i) => expect(body).toContain(`_Part ${i + 1} of ${bodies.length}`));
    // Every object's whole diff, in exactly one part.
    for (const object of objects) {
      expect(
        bodies.filter((body) => body.includes(object.diff ?? '?')),
        object.key,
      ).toHaveLength(1);
    }
    expect(accounted(bodies)).toBe(120);
  });

  it('(c) 2,000 changed objects (~19 MB of YAML): one comment per environment, every part within limits', () => {
    expect(yamlChars).toBeGreaterThan(10_000_000);
    const model = modelOf(
      environment('staging', objects2000.slice(0, 700)),
      environment('production', objects2000.slice(700, 1_400)),
      environment('canary', objects2000.slice(1_400)),
    );
    const { level, bodies } = renderDiffComments(model);
    expect(level).toBe('per-environment');
    expect(bodies).toHaveLength(3);
    expectWellFormed(bodies);
    expect(accounted(bodies)).toBe(2_000);
    expect(bodies[0]).toContain('| staging | 0 | 0 | 700 | 0 | 0 | ✅ passed |');
    expect(bodies[1]).toMatch(/^### production$/m);
    // Each comment shows whole diffs first, then names the rest.
    expect(bodies[0]).toContain(objects2000[0]?.diff);
    expect(bodies[0]).toMatch(/<summary>\d+ more not shown here/);
  });

  it('(c) the 2,000 objects in one environment', () => {
    const { level, bodies } = renderDiffComments(modelOf(environment('production', objects2000)));
    expect(level).toBe('per-environment');
    expectWellFormed(bodies);
    expect(accounted(bodies)).toBe(2_000);
  });

  it('(d) more environments than parts: the summary and the list of changed objects', () => {
    const environments = Array.from({ length: 12 }, (_, i) =>
      environment(`env-${i}`, objects2000.slice(i * 160, (i + 1) * 160)),
    );
    const { level, bodies } = renderDiffComments(modelOf(...environments));
    expect(level).toBe('summary');
    expect(bodies).toHaveLength(1);
    expectWellFormed(bodies);
    expect(accounted(bodies)).toBe(12 * 160);
    expect(bodies[0]).toContain(
      'See the **dag/diff** check runs (linked under **Full diff**) for the diffs',
    );
    for (let i = 0; i < 12; i++) expect(bodies[0]).toMatch(new RegExp(`^### env-${i}$`, 'm'));
  });

  it('cuts a single object whose diff alone is over the limit, inside its fence', () => {
    const big = Array.from({ length: 6_000 }, (_, i) => `line ${i}: ${'x'.repeat(40)}`).join('\n');
    const huge = createdConfigMap('huge', { file: `${big}\n` });
    const total = (huge.diff ?? '').trimEnd().split('\n').length;
    expect(huge.diff?.length).toBeGreaterThan(MAX_COMMENT_CHARS * 4);
    const model = modelOf(environment('staging', [objects2000[0]!, huge, objects2000[1]!]));
    const { level, bodies } = renderDiffComments(model);
    expect(level).toBe('split');
    expectWellFormed(bodies);
    const all = bodies.join('\n');
    const note = /^… (\d+) lines omitted, see the dag\/diff check runs$/m.exec(all);
    expect(note).not.toBeNull();
    const shown = all
      .slice(all.indexOf('--- live/ConfigMap/n/huge'), note?.index)
      .trimEnd()
      .split('\n').length;
    expect(shown + Number(note?.[1])).toBe(total);
    expect(all).toContain(objects2000[0]?.diff);
    expect(all).toContain(objects2000[1]?.diff);
    expect(accounted(bodies)).toBe(3);
  });

  it.each([2_000, 5_000, 20_000, 60_000])('never exceeds maxChars=%i, nor throws', (maxChars) => {
    const hostile = 'x'.repeat(5_000);
    const model = modelOf(environment(hostile, objects2000.slice(0, 40)), {
      ...environment('e', [
        {
          key: 'k',
          kind: hostile,
          namespace: hostile,
          name: hostile,
          change: 'changed',
          diff: '`'.repeat(10_000),
          error: hostile,
        },
      ]),
      notes: Array(100).fill(hostile),
    });
    const { bodies } = renderDiffComments(model, { maxChars });
    for (const body of bodies) {
      expect(body.length).toBeLessThanOrEqual(maxChars);
      expectBalanced(body);
    }
  });

  it('diffs and renders hostile values quickly', () => {
    const hostile = {
      kind: 'ConfigMap',
      metadata: { name: 'h', namespace: 'n' },
      data: {
        newlines: `a${'\n'.repeat(100_000)}b`,
        spaces: `x${' '.repeat(100_000)}y`,
        backticks: '`'.repeat(50_000),
        line: 'z'.repeat(500_000),
      },
    };
    const changed = objectChange({ live: null, desired: hostile });
    const model = modelOf(environment('e', [changed]));
    const { bodies } = renderDiffComments(model);
    for (const body of bodies) {
      expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
      expectBalanced(body);
    }
  });

  it('survives hundreds of environments', () => {
    const environments = Array.from({ length: 600 }, (_, i) =>
      environment(`environment-number-${i}`, objects2000.slice(i, i + 2)),
    );
    const { level, bodies } = renderDiffComments(modelOf(...environments));
    expect(level).toBe('summary');
    for (const body of bodies) {
      expect(body.length).toBeLessThanOrEqual(MAX_COMMENT_CHARS);
      expectBalanced(body);
    }
  });

  it('renders from the diffs a comment can show (commentModel) what it renders from them all', () => {
    // Random previews at random limits: the comments of the lean model are those of the whole
    // one, or show LEFT_OUT_DIFF (then the whole model is rendered instead).
    const next = random(11);
    const pick = (n: number) => Math.floor(next() * n);
    const huge = createdConfigMap('huge', { big: 'x = 1\n'.repeat(20_000) });
    let same = 0;
    let shown = 0;
    for (let run = 0; run < 120; run++) {
      const options = { maxChars: 1_500 + pick(20_000), maxParts: 1 + pick(6) };
      const environments = Array.from({ length: 1 + pick(3) }, (_, i) => {
        const start = pick(1_500);
        const objects = objects2000.slice(start, start + pick(400));
        return environment(`env-${i}`, next() < 0.2 ? [huge, ...objects] : objects);
      });
      const model = modelOf(...environments);
      const lean = commentModel(model, options);
      if (lean === model) continue;
      const bodies = renderDiffComments(lean, options).bodies;
      if (bodies.some((body) => body.includes(LEFT_OUT_DIFF))) {
        shown++;
        continue;
      }
      expect(bodies).toEqual(renderDiffComments(model, options).bodies);
      same++;
    }
    expect(same).toBeGreaterThan(60);
    expect(shown).toBeGreaterThan(0);
  });

  it('leaves the model as it is when every diff can show', () => {
    const model = modelOf(environment('e', objects2000.slice(0, 5)));
    expect(commentModel(model)).toBe(model);
  });
});
