import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { ObjectDiff } from './comment-model.ts';
import { maskMessageAbout } from './masking.ts';
import { objectRef } from './object-ref.ts';
import type { DiffObjectsOptions } from './unified.ts';
import { diffObjects } from './unified.ts';

/** A live object and what the dry-run says it would become; null on the side it is missing. */
export type ObjectPair = { live: unknown; desired: unknown; error?: string };

/**
 * One object's entry in the preview: masked, diffed (see `diffObjects`) and classified as
 * created, changed, deleted or unchanged.
 */
export function objectChange(pair: ObjectPair, options: DiffObjectsOptions = {}): ObjectDiff {
  const live = pair.live ?? null;
  const desired = pair.desired ?? null;
  const ref = objectRef(desired ?? live);
  const base = { key: ref.key, kind: ref.kind, namespace: ref.namespace, name: ref.name };
  // An API server's message may echo a field's value: masked by what the objects hide.
  const error = pair.error ? { error: maskMessageAbout(pair.error, live, desired) } : {};
  if (live === null && desired === null) return { ...base, change: 'unchanged', ...error };
  const diff = diffObjects(live, desired, options);
  const change =
    live === null
      ? 'created'
      : desired === null
        ? 'deleted'
        : diff.text === ''
          ? 'unchanged'
          : 'changed';
  return { ...base, change, ...(diff.text === '' ? {} : { diff: diff.text }), ...error };
}

export type ObjectChangesOptions = DiffObjectsOptions & {
  /** Run at most this long before letting other work on the event loop run (default 20 ms). */
  sliceMs?: number;
  /**
   * Time for the whole batch (default 20 s). Past it, each diff gets only a few milliseconds and
   * a small edit length, so a pathological batch still ends soon (as whole-object replacements).
   */
  budgetMs?: number;
  signal?: AbortSignal;
};

/**
 * `objectChange` for many objects without holding the event loop: the work runs in slices of
 * `sliceMs`, yielding between them, and every diff is bounded by jsdiff's timeout.
 */
export async function objectChanges(
  pairs: Iterable<ObjectPair>,
  options: ObjectChangesOptions = {},
): Promise<ObjectDiff[]> {
  const { sliceMs = 20, budgetMs = 20_000, signal, ...diffOptions } = options;
  const started = performance.now();
  let sliceStart = started;
  const out: ObjectDiff[] = [];
  for (const pair of pairs) {
    signal?.throwIfAborted();
    const now = performance.now();
    if (now - sliceStart >= sliceMs) {
      await yieldToEventLoop();
      sliceStart = performance.now();
    }
    const late = now - started > budgetMs;
    out.push(
      objectChange(pair, late ? { ...diffOptions, timeoutMs: 5, maxEditLength: 200 } : diffOptions),
    );
  }
  return out;
}
