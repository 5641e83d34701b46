import module from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRunSet, checkRunSetInTurns } from '../../src/diff/check-runs.ts';
import type { DiffCommentModel, ObjectDiff } from '../../src/diff/comment-model.ts';
import { displayYaml } from '../../src/diff/display-yaml.ts';
import { MASK_PREFIX } from '../../src/diff/credential-patterns.ts';
import {
  objectChange,
  type ObjectPair,
  type YamlObjectPair,
} from '../../src/diff/object-change.ts';
import { commentModel } from '../../src/diff/split.ts';
import {
  defaultPreviewThreads,
  inThread,
  PreviewError,
  PreviewPool,
} from '../../src/diff/preview-pool.ts';
import { Intake } from '../../src/server/intake.ts';
import { createLogger } from '../../src/log.ts';
import { stopGracefully } from '../../src/shutdown.ts';
import { generatePairs, generatedSecrets } from './generate-objects.ts';

const cm = (data: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'c', namespace: 'n' },
  data,
});

/** Created, changed, deleted, unchanged, failed and empty pairs, with secrets to mask. */
function mixedPairs(): ObjectPair[] {
  const generated = generatePairs(30);
  return generated.map((pair, i): ObjectPair => {
    switch (i % 6) {
      case 0:
        return { live: null, desired: pair.desired };
      case 1:
        return { live: pair.live, desired: null };
      case 2:
        return { live: pair.live, desired: structuredClone(pair.live) };
      case 3:
        return { live: pair.live, desired: pair.desired, error: 'admission webhook denied it' };
      case 4:
        return { live: null, desired: null, error: 'forbidden' };
      default:
        return pair;
    }
  });
}

const yaml = (value: unknown) => (value === null ? null : displayYaml(value));
const asYaml = (pair: ObjectPair): YamlObjectPair => ({
  liveYaml: yaml(pair.live),
  desiredYaml: yaml(pair.desired),
  ...(pair.error ? { error: pair.error } : {}),
});

/** A preview of one environment, `production`, with these objects. */
const productionModel = (objects: ObjectDiff[]): DiffCommentModel => ({
  pr: 7,
  headSha: 'a'.repeat(40),
  environments: [
    {
      environment: 'production',
      iacFiles: [],
      objects,
      validation: { result: 'passed' },
      notes: [],
    },
  ],
});

const pool = new PreviewPool({ threads: 2, batchSize: 4 });
afterAll(() => pool.close());

describe('PreviewPool', () => {
  it('gives what the computation in this thread gives, in order, for every kind of change', async () => {
    const pairs = mixedPairs();
    const expected = await inThread.objectChanges(pairs);
    expect(new Set(expected.map((o) => o.change))).toEqual(
      new Set(['created', 'deleted', 'unchanged', 'changed']),
    );
    expect(expected.filter((o) => o.error)).toHaveLength(10);
    expect(await pool.objectChanges(pairs)).toEqual(expected);
  });

  it('reads pairs given as YAML text the same way, masked', async () => {
    const pairs = mixedPairs();
    const fromYaml = await pool.objectChanges(pairs.map(asYaml));
    expect(fromYaml).toEqual(await inThread.objectChanges(pairs));
    const text = JSON.stringify(fromYaml);
    expect(text).toContain(MASK_PREFIX);
    for (let i = 0; i < 30; i++) {
      for (const secret of generatedSecrets(i)) expect(text).not.toContain(secret);
    }
  });

  it('makes a YAML side that is not one object that entry’s error, not the preview’s', async () => {
    const [result] = await pool.objectChanges([
      { liveYaml: 'a: [1', desiredYaml: displayYaml(cm({ a: '1' })) },
    ]);
    expect(result).toMatchObject({ key: 'ConfigMap/n/c', change: 'unchanged' });
    expect(result?.error).toMatch(/live object/);
  });

  it('takes pairs from an async source', async () => {
    const pairs = mixedPairs();
    async function* source() {
      for (const pair of pairs) yield pair;
    }
    expect(await pool.objectChanges(source())).toEqual(await inThread.objectChanges(pairs));
  });

  it('diffs changed IAC files like the computation in this thread, in path order', async () => {
    const before: Record<string, string> = {};
    const after: Record<string, string> = {};
    for (const [i, pair] of generatePairs(12).entries()) {
      if (i % 3 !== 0) before[`o${String(i).padStart(2, '0')}.yaml`] = displayYaml(pair.live);
      if (i % 3 !== 1) after[`o${String(i).padStart(2, '0')}.yaml`] = displayYaml(pair.desired);
    }
    after['same.yaml'] = before['same.yaml'] = 'a: 1\n';
    const small = new PreviewPool({ threads: 2, batchChars: 5_000 });
    try {
      const expected = await inThread.fileDiffs(before, after, 'apps/web');
      expect(expected.map((f) => f.change)).toContain('created');
      expect(expected.map((f) => f.change)).toContain('deleted');
      expect(await small.fileDiffs(before, after, 'apps/web')).toEqual(expected);
    } finally {
      await small.close();
    }
  });
});

describe('diffs past what a preview can show', () => {
  it('are dropped for their lengths, in order, the same on the pool as in this thread', async () => {
    const pairs = generatePairs(40);
    const whole = await inThread.objectChanges(pairs, { keepDiffChars: Number.MAX_SAFE_INTEGER });
    const lengths = whole.map((o) => o.diff?.length ?? 0);
    // Room for the first ten diffs exactly.
    const room = lengths.slice(0, 10).reduce((a, b) => a + b, 0);
    const kept = await inThread.objectChanges(pairs, { keepDiffChars: room });
    expect(kept.slice(0, 10)).toEqual(whole.slice(0, 10));
    for (const [i, entry] of kept.entries()) {
      if (i < 10) continue;
      expect(entry.diff).toBeUndefined();
      expect(entry.diffOmitted).toBe(lengths[i]);
      expect(entry.change).toBe(whole[i]?.change);
    }
    expect(await pool.objectChanges(pairs, { keepDiffChars: room })).toEqual(kept);
  });

  it('say so where the object is shown, instead of "no diff"', async () => {
    const [entry] = await inThread.objectChanges(generatePairs(1), { keepDiffChars: 0 });
    expect(entry?.diffOmitted).toBeGreaterThan(0);
    const model = {
      pr: 7,
      headSha: 'a'.repeat(40),
      environments: [
        {
          environment: 'production',
          iacFiles: [],
          objects: entry ? [entry] : [],
          validation: { result: 'passed' as const },
          notes: [],
        },
      ],
    };
    const text = (await inThread.checkRuns(model)).main.text;
    expect(text).toMatch(
      /Diff not kept \([\d,]+ characters\): the diffs before it fill every check run/,
    );
    expect(text).not.toContain('No diff available');
  });
});

describe('PreviewPool.checkRuns and comments', () => {
  it('renders like the computation in this thread', async () => {
    const objects = await pool.objectChanges(mixedPairs());
    const model = productionModel(objects);
    const comments = await pool.comments(model);
    expect(comments.bodies.join('')).toContain('svc-0005');
    expect(comments).toEqual(await inThread.comments(model));
    const checkRuns = await pool.checkRuns(model);
    expect(checkRuns.main.text).toContain('svc-0005');
    expect(checkRuns).toEqual(await inThread.checkRuns(model));
  });
});

describe('PreviewPool.comments from the diffs a comment can show', () => {
  it('renders what this thread renders from the whole model, also when a left-out diff would show', async () => {
    const objects = await inThread.objectChanges(generatePairs(200));
    const huge = objectChange({
      live: null,
      desired: {
        ...cm({ big: 'x = 1\n'.repeat(5_000) }),
        metadata: { name: 'huge', namespace: 'n' },
      },
    });
    for (const list of [objects, [huge, ...objects]]) {
      // Small comments: most diffs are left out of what goes to the thread.
      const model = { ...productionModel(list), commentMaxChars: 4_000 };
      expect(commentModel(model)).not.toBe(model);
      expect(await pool.comments(model)).toEqual(await inThread.comments(model));
    }
  });
});

describe('check runs laid out on the event loop', () => {
  it('give the event loop turns while they are laid out, and the same set as checkRunSet', async () => {
    const objects = await inThread.objectChanges(generatePairs(200));
    const model = productionModel(objects);
    // Few small pages: long diffs are split over pages and the rest is listed, each a place where
    // the layout may pause.
    const options = { maxRuns: 4, pageBytes: 6_000 };
    let turns = 0;
    let counting = true;
    const count = () => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const set = await checkRunSetInTurns(model, { ...options, sliceMs: 0 });
    counting = false;
    expect(set).toEqual(checkRunSet(model, options));
    expect(set.unshown).toBeGreaterThan(0);
    expect(turns).toBeGreaterThan(3);
  });
});

describe('PreviewPool threads', () => {
  it('are one per CPU by default, at most four (each holds its own heap)', () => {
    expect(defaultPreviewThreads()).toBe(Math.min(4, availableParallelism()));
  });

  it('load their modules through the compile cache of the process that starts them', async () => {
    const pool = new PreviewPool({
      threads: 1,
      filename: fileURLToPath(
        new URL('../fixtures/workers/compile-cache-worker.ts', import.meta.url),
      ),
    });
    try {
      const [entry] = await pool.objectChanges(generatePairs(1));
      expect(entry?.name).not.toBe('none');
      expect(entry?.name).toBe(module.getCompileCacheDir());
    } finally {
      await pool.close();
    }
  });
});

describe('PreviewPool failures', () => {
  const failing = () =>
    new PreviewPool({
      threads: 1,
      batchSize: 1,
      filename: fileURLToPath(
        new URL('../fixtures/workers/failing-preview-worker.ts', import.meta.url),
      ),
    });

  it('turns an error thrown in the worker into a PreviewError', async () => {
    const broken = failing();
    try {
      await expect(broken.objectChanges(generatePairs(3))).rejects.toThrow(
        /worker thread failed: the worker gave up/,
      );
      await expect(broken.fileDiffs({}, { 'a.yaml': 'a: 1\n' }, 'x')).rejects.toBeInstanceOf(
        PreviewError,
      );
    } finally {
      await broken.close();
    }
  });

  it('turns a worker that dies into a PreviewError, and keeps working afterwards', async () => {
    const broken = failing();
    try {
      await expect(
        broken.objectChanges([{ live: null, desired: cm({ a: '1' }), error: 'exit' }]),
      ).rejects.toBeInstanceOf(PreviewError);
      await expect(broken.objectChanges(generatePairs(1))).rejects.toThrow(/the worker gave up/);
    } finally {
      await broken.close();
    }
  });

  it('fails work given after it was closed, instead of waiting forever', async () => {
    const closed = new PreviewPool({ threads: 1 });
    await closed.close();
    await expect(closed.objectChanges(generatePairs(1))).rejects.toBeInstanceOf(PreviewError);
  });
});

describe('stopping DAG', () => {
  it('closes the preview pool', async () => {
    let closed = 0;
    await stopGracefully(
      {
        intake: new Intake(),
        db: { close: async () => {} } as never,
        log: createLogger({ level: 'silent' }),
        previewPool: {
          close: async () => {
            closed++;
          },
        },
      },
      1_000,
    );
    expect(closed).toBe(1);
  });
});
