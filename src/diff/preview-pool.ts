import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { withCompileCache } from '../compile-cache.ts';
import { TransientError } from '../errors.ts';
import type { DiffCommentModel, IacFileDiff, ObjectDiff } from './comment-model.ts';
import { keepDiffsWithin, type ObjectPair, type YamlObjectPair } from './object-change.ts';
import * as work from './preview-worker.ts';
import {
  checkRunSet,
  checkRunSetInTurns,
  SHOWABLE_DIFF_CHARS,
  type CheckRunSet,
} from './check-runs.ts';
import type { FilesTask, ObjectsTask } from './preview-worker.ts';
import { commentModel, LEFT_OUT_DIFF, type DiffComments } from './split.ts';
import type { DiffObjectsOptions } from './unified.ts';

export type ObjectChangesOptions = DiffObjectsOptions & {
  /**
   * Time for the whole preview (default 20 s). Past it, each diff gets only a few milliseconds and
   * a small edit length, so a pathological preview still ends soon (as whole-object replacements).
   */
  budgetMs?: number;
  /**
   * Characters of diff text kept, in order (default SHOWABLE_DIFF_CHARS, what the check runs
   * can show); later diffs are dropped for their lengths (`keepDiffsWithin`).
   */
  keepDiffChars?: number;
  signal?: AbortSignal;
};

/** Where a diff preview's CPU work runs: a worker-thread pool in DAG, the caller's thread in tests. */
export interface PreviewCompute {
  /** Each pair's entry (`objectChange`), in the order given. */
  objectChanges(
    pairs: Iterable<ObjectPair | YamlObjectPair> | AsyncIterable<ObjectPair | YamlObjectPair>,
    options?: ObjectChangesOptions,
  ): Promise<ObjectDiff[]>;
  /** The changed files of an IAC folder, masked and diffed (`fileDiffs`). */
  fileDiffs(
    before: Record<string, string>,
    after: Record<string, string>,
    folder: string,
  ): Promise<IacFileDiff[]>;
  /** The preview spread over check runs (`checkRunSet`). */
  checkRuns(model: DiffCommentModel): Promise<CheckRunSet>;
  /** The preview as DAG's sticky comments (`renderDiffComments`). */
  comments(model: DiffCommentModel): Promise<DiffComments>;
}

/**
 * The preview failed for want of a result, not because of the objects (a worker thread threw or
 * died, or DAG is stopping): trying again later may succeed.
 */
export class PreviewError extends TransientError {}

const LATE = { timeoutMs: 5, maxEditLength: 200 } as const;

function boundsAt(started: number, budgetMs: number, options: DiffObjectsOptions) {
  return performance.now() - started > budgetMs ? { ...options, ...LATE } : options;
}

/**
 * The work in the caller's thread: for tests, the CLI and small inputs. It holds the event loop
 * for as long as it runs.
 */
export const inThread: PreviewCompute = {
  async objectChanges(pairs, options = {}) {
    const {
      budgetMs = 20_000,
      keepDiffChars = SHOWABLE_DIFF_CHARS,
      signal,
      ...diffOptions
    } = options;
    const started = performance.now();
    const out: ObjectDiff[] = [];
    let diffChars = 0;
    for await (const pair of pairs) {
      signal?.throwIfAborted();
      const [entry] = work.objects({
        pairs: [pair],
        options: boundsAt(started, budgetMs, diffOptions),
        keepDiffs: diffChars <= keepDiffChars,
      });
      if (!entry) continue;
      diffChars += entry.diff?.length ?? 0;
      out.push(entry);
    }
    return keepDiffsWithin(out, keepDiffChars);
  },
  fileDiffs(before, after, folder) {
    return Promise.resolve(work.files({ before, after, folder }));
  },
  checkRuns(model) {
    return Promise.resolve(checkRunSet(model));
  },
  comments(model) {
    return Promise.resolve(work.comments(model));
  },
};

export type PreviewPoolOptions = {
  /** Worker threads (default `defaultPreviewThreads()`: one per CPU, at most four). */
  threads?: number;
  /**
   * Object pairs per task (default 25). At most two tasks per thread are out at a time, so this
   * bounds the YAML and objects in flight: with 100, two threads held about 30 MB more. With the
   * 32 MB young generation, 25 took some 6% less time than 10 for 2,000 objects (fewer tasks to
   * hand over; five alternating runs), and 50 no less than 25.
   */
  batchSize?: number;
  /** Characters of file text per task (default 4 MB). */
  batchChars?: number;
  /**
   * Each thread's V8 heap, in MB (default 192): garbage from parsing is collected early instead of
   * growing the process. A task that needs more fails with a PreviewError.
   */
  maxHeapMb?: number;
  /** The worker module (tests substitute a failing one). */
  filename?: string;
};

/**
 * One thread per CPU, at most MAX_DEFAULT_THREADS. The threads run at a lower priority than the
 * event loop (Linux: `niceIncrement`), so they use what CPU the event loop leaves; the cap bounds
 * the memory of a large preview (each thread holds its own heap, about 45 MB while it works)
 * whatever the machine. `DAG_DIFF_THREADS` sets any other number.
 */
export function defaultPreviewThreads(): number {
  return Math.min(MAX_DEFAULT_THREADS, Math.max(1, availableParallelism()));
}

const MAX_DEFAULT_THREADS = 4;

/**
 * The diff preview's CPU work (YAML parsing, normalizing, masking, diffing) on a pool of worker
 * threads, so that webhook intake and `/healthz` never wait for it. Work goes out in batches, at
 * most two per thread at a time, so memory stays bounded whatever the size of the preview. One
 * pool per DAG process (src/service.ts), closed when DAG stops.
 */
export class PreviewPool implements PreviewCompute {
  readonly #pool: Piscina;
  readonly #batchSize: number;
  readonly #batchChars: number;
  readonly #inFlight: number;
  #closed = false;

  constructor(options: PreviewPoolOptions = {}) {
    const threads = Math.max(1, Math.floor(options.threads ?? defaultPreviewThreads()));
    this.#batchSize = Math.max(1, options.batchSize ?? 25);
    this.#batchChars = Math.max(1, options.batchChars ?? 4_000_000);
    this.#inFlight = threads * 2;
    this.#pool = new Piscina({
      filename: options.filename ?? fileURLToPath(new URL('./preview-worker.ts', import.meta.url)),
      minThreads: 0,
      maxThreads: threads,
      idleTimeout: 30_000,
      maxQueue: 'auto',
      // Each thread is handed its next batch while it works on one (the two a thread may have
      // out): it starts that one as soon as it has sent its results, instead of waiting for the
      // event loop to take them and hand it the next. With two threads on two CPUs, where the
      // event loop takes its share too, 2,000 objects took some 10% less time.
      concurrentTasksPerWorker: 2,
      // Lower priority than the event loop's thread (Linux): webhooks and probes come first.
      niceIncrement: 10,
      // Threads read DAG's modules from the compile cache: faster to start, and without the
      // type stripper's memory in each thread.
      env: withCompileCache(process.env),
      resourceLimits: {
        maxOldGenerationSizeMb: options.maxHeapMb ?? 192,
        // Garbage from parsing and printing dies young; with room for more of it, it is
        // collected less often. 32 MB: some 15% less CPU for 2,000 objects than with 16 MB (five
        // alternating runs) and 25% less than with 8 MB, for a 10,000-object preview's peak RSS
        // some 25 MB higher (264-272 MB on two CPUs).
        maxYoungGenerationSizeMb: 32,
      },
    });
  }

  async objectChanges(
    pairs: Iterable<ObjectPair | YamlObjectPair> | AsyncIterable<ObjectPair | YamlObjectPair>,
    options: ObjectChangesOptions = {},
  ): Promise<ObjectDiff[]> {
    const {
      budgetMs = 20_000,
      keepDiffChars = SHOWABLE_DIFF_CHARS,
      signal,
      ...diffOptions
    } = options;
    const started = performance.now();
    const size = this.#batchSize;
    // Diff text returned so far (in any order): once past what is kept, batches send lengths only.
    let diffChars = 0;
    const task = (batch: ObjectsTask['pairs']): ObjectsTask => ({
      pairs: batch,
      options: boundsAt(started, budgetMs, diffOptions),
      keepDiffs: diffChars <= keepDiffChars,
    });
    // Pulled one batch at a time, when a thread is free: the bounds are those of that moment.
    async function* tasks(): AsyncGenerator<ObjectsTask> {
      let batch: ObjectsTask['pairs'] = [];
      for await (const pair of pairs) {
        batch.push(pair);
        if (batch.length < size) continue;
        yield task(batch);
        batch = [];
      }
      if (batch.length > 0) yield task(batch);
    }
    const out = await this.#inOrder<ObjectDiff>('objects', tasks(), signal, (results) => {
      for (const entry of results) diffChars += entry.diff?.length ?? 0;
    });
    return keepDiffsWithin(out, keepDiffChars);
  }

  async fileDiffs(
    before: Record<string, string>,
    after: Record<string, string>,
    folder: string,
  ): Promise<IacFileDiff[]> {
    const tasks: FilesTask[] = [];
    let task: FilesTask = { before: {}, after: {}, folder };
    let chars = 0;
    const paths = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    for (const path of paths) {
      const old = before[path];
      const next = after[path];
      if (old === next) continue;
      if (old !== undefined) task.before[path] = old;
      if (next !== undefined) task.after[path] = next;
      chars += (old?.length ?? 0) + (next?.length ?? 0);
      if (chars >= this.#batchChars) {
        tasks.push(task);
        task = { before: {}, after: {}, folder };
        chars = 0;
      }
    }
    if (Object.keys(task.before).length + Object.keys(task.after).length > 0) tasks.push(task);
    return this.#inOrder<IacFileDiff>('files', tasks);
  }

  /**
   * On the event loop's thread, in turns (`checkRunSetInTurns`): the pages are made of the diffs
   * this thread already holds, where a worker thread would be sent them all and send back pages
   * twice their size.
   */
  checkRuns(model: DiffCommentModel): Promise<CheckRunSet> {
    return checkRunSetInTurns(model);
  }

  /**
   * Rendered on a thread from the diffs a comment can show (`commentModel`): with thousands of
   * objects, a tenth of the model to copy there. Rendered again from the whole model in the rare
   * case where a diff left out would show.
   */
  async comments(model: DiffCommentModel): Promise<DiffComments> {
    const lean = commentModel(model);
    if (lean !== model) {
      const comments = await this.#comments(lean);
      if (!comments.bodies.some((body) => body.includes(LEFT_OUT_DIFF))) return comments;
    }
    return this.#comments(model);
  }

  async #comments(model: DiffCommentModel): Promise<DiffComments> {
    const [result] = await this.#inOrder<DiffComments>('comments', [model]);
    if (!result) throw new PreviewError('the diff preview was not rendered');
    return result;
  }

  /** Stops the threads; work still running fails with a PreviewError. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#pool.destroy();
  }

  /**
   * Runs the tasks on the pool, at most `#inFlight` at a time, taking the next one from `tasks`
   * only when one finishes; the results in the tasks' order.
   */
  async #inOrder<R>(
    name: 'objects' | 'files' | 'comments',
    tasks: Iterable<unknown> | AsyncIterable<unknown>,
    signal?: AbortSignal,
    onResults?: (results: R[]) => void,
  ): Promise<R[]> {
    const results: R[][] = [];
    const running = new Set<Promise<void>>();
    let failure: unknown;
    let index = 0;
    for await (const task of tasks) {
      if (failure !== undefined) break;
      signal?.throwIfAborted();
      if (this.#closed) {
        failure = new Error('the pool is closed (DAG is stopping)');
        break;
      }
      const at = index++;
      const done: Promise<void> = this.#pool
        .run(task, { name, ...(signal ? { signal } : {}) })
        .then(
          (result: R[] | R) => {
            const batch = name === 'objects' || name === 'files' ? (result as R[]) : [result as R];
            results[at] = batch;
            onResults?.(batch);
          },
          (error: unknown) => {
            failure ??= error;
          },
        )
        .finally(() => running.delete(done));
      running.add(done);
      if (running.size >= this.#inFlight) await Promise.race(running);
    }
    await Promise.all(running);
    signal?.throwIfAborted();
    if (failure !== undefined) {
      const reason = failure instanceof Error ? failure.message : String(failure);
      throw new PreviewError(`the diff preview's worker thread failed: ${reason}`, {
        cause: failure,
      });
    }
    return results.flat();
  }
}
