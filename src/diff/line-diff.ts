// jsdiff's `diffArrays` for lines, the same algorithm step for step, without its allocations.
//
// A diff preview diffs thousands of objects' printed lines, and jsdiff's Myers pass
// (node_modules/diff/libesm/diff/base.js) allocates a path object for every step it takes and a
// component object for every edit: some 13% of a preview thread's time went there. This is that
// pass on integer arrays: a diagonal's furthest reach in one array, the edit script as an
// append-only list of components in three more. It makes every choice jsdiff makes, in the same
// order (the diagonals it considers, which neighbour a path extends, when it prunes a path and
// the diagonals past an edge), so its changes are jsdiff's, object for object: a differential
// test compares the two on random line lists (test/diff/line-diff.test.ts). jsdiff stays for the
// diffs of texts (`unifiedDiff`) and as that test's oracle.

import type { ArrayChange } from 'diff';

const NONE = -2;
const COMMON = 0;
const ADDED = 1;
const REMOVED = 2;
/** Components kept between calls; more are dropped after the call that needed them. */
const KEEP_NODES = 1 << 16;
const KEEP_DIAGONALS = 1 << 14;
/**
 * Most components one call may make (about 38 MB of arrays): past it, the diff gives up as it
 * does past `maxEditLength`. A search of up to DAG's default 2,000 edits makes at most two a
 * step, 2 × (2 + 3 + … + 2,001) = 4,006,000 of them, so only larger caps ever meet this one.
 */
export const MAX_COMPONENTS = 1 << 22;

// Components: count, type and the one before (-1: none). Append-only within a call, so that the
// paths that share a start share it, as jsdiff's component chains do.
let count = new Int32Array(1024);
let type = new Uint8Array(1024);
let previous = new Int32Array(1024);
// Per diagonal (offset by maxEditLength + 2): the furthest old-side position a path reached
// (NONE: no path) and the last component of that path.
let reach = new Int32Array(1024);
let lastOf = new Int32Array(1024);

function growNodes(): void {
  const grown = (from: Int32Array) => {
    const to = new Int32Array(from.length * 2);
    to.set(from);
    return to;
  };
  count = grown(count);
  previous = grown(previous);
  const types = new Uint8Array(type.length * 2);
  types.set(type);
  type = types;
}

export type LineDiffOptions = { timeout: number; maxEditLength: number };

/**
 * `diffArrays(oldLines, newLines, { timeout, maxEditLength })` of jsdiff, for lines compared with
 * `===`: the changes in order, or undefined when it gives up (more than `maxEditLength` edits,
 * `timeout` ms spent, or MAX_COMPONENTS made).
 */
export function diffLines(
  oldLines: readonly string[],
  newLines: readonly string[],
  options: LineDiffOptions,
): ArrayChange<string>[] | undefined {
  try {
    return run(oldLines, newLines, options);
  } finally {
    if (count.length > KEEP_NODES) {
      count = new Int32Array(1024);
      type = new Uint8Array(1024);
      previous = new Int32Array(1024);
    }
    if (reach.length > KEEP_DIAGONALS) {
      reach = new Int32Array(1024);
      lastOf = new Int32Array(1024);
    }
  }
}

function run(
  oldLines: readonly string[],
  newLines: readonly string[],
  options: LineDiffOptions,
): ArrayChange<string>[] | undefined {
  const oldLen = oldLines.length;
  const newLen = newLines.length;
  const maxEditLength = Math.min(oldLen + newLen, options.maxEditLength);
  const abortAt = Date.now() + options.timeout;
  const offset = maxEditLength + 2;
  const diagonals = 2 * maxEditLength + 5;
  if (reach.length < diagonals) {
    reach = new Int32Array(diagonals);
    lastOf = new Int32Array(diagonals);
  }
  reach.fill(NONE, 0, diagonals);
  let nodes = 0;
  // The first path: the lines both start with.
  let oldPos = follow(oldLines, newLines, -1, 0);
  let newPos = oldPos;
  let last = -1;
  if (oldPos >= 0) {
    count[0] = oldPos + 1;
    type[0] = COMMON;
    previous[0] = -1;
    last = 0;
    nodes = 1;
  }
  if (oldPos + 1 >= oldLen && newPos + 1 >= newLen) return changesOf(last, oldLines, newLines);
  reach[offset] = oldPos;
  lastOf[offset] = last;
  // jsdiff's bounds past the edges (its -Infinity and Infinity, as integers).
  let minDiagonal = -diagonals;
  let maxDiagonal = diagonals;
  for (let edits = 1; edits <= maxEditLength && Date.now() <= abortAt; edits++) {
    // (The upper bound is read again at each step: it may come down during the round.)
    for (
      let diagonal = Math.max(minDiagonal, -edits);
      diagonal <= Math.min(maxDiagonal, edits);
      diagonal += 2
    ) {
      const removeAt = offset + diagonal - 1;
      const addAt = offset + diagonal + 1;
      const at = offset + diagonal;
      const removeReach = reach[removeAt]!;
      const canRemovePath = removeReach !== NONE;
      // No other diagonal uses that path: cleared, as jsdiff clears it.
      if (canRemovePath) reach[removeAt] = NONE;
      const addReach = reach[addAt]!;
      let canAdd = false;
      if (addReach !== NONE) {
        const addNewPos = addReach - diagonal;
        canAdd = addNewPos >= 0 && addNewPos < newLen;
      }
      const canRemove = canRemovePath && removeReach + 1 < oldLen;
      if (!canAdd && !canRemove) {
        reach[at] = NONE;
        continue;
      }
      if (nodes + 2 > count.length) {
        if (nodes + 2 > MAX_COMPONENTS) return undefined;
        growNodes();
      }
      // From the neighbour that reaches furthest on the old side (an insertion on a tie).
      let from: number;
      let kind: number;
      if (!canRemove || (canAdd && removeReach < addReach)) {
        oldPos = addReach;
        from = lastOf[addAt]!;
        kind = ADDED;
      } else {
        oldPos = removeReach + 1;
        from = lastOf[removeAt]!;
        kind = REMOVED;
      }
      if (from !== -1 && type[from] === kind) {
        count[nodes] = count[from]! + 1;
        previous[nodes] = previous[from]!;
      } else {
        count[nodes] = 1;
        previous[nodes] = from;
      }
      type[nodes] = kind;
      last = nodes++;
      // Then along the diagonal while the lines are the same.
      const start = oldPos;
      oldPos = follow(oldLines, newLines, oldPos, diagonal);
      newPos = oldPos - diagonal;
      if (oldPos > start) {
        count[nodes] = oldPos - start;
        type[nodes] = COMMON;
        previous[nodes] = last;
        last = nodes++;
      }
      if (oldPos + 1 >= oldLen && newPos + 1 >= newLen) {
        return changesOf(last, oldLines, newLines);
      }
      reach[at] = oldPos;
      lastOf[at] = last;
      if (oldPos + 1 >= oldLen) maxDiagonal = Math.min(maxDiagonal, diagonal - 1);
      if (newPos + 1 >= newLen) minDiagonal = Math.max(minDiagonal, diagonal + 1);
    }
  }
  return undefined;
}

/**
 * From old-side position `oldPos` on `diagonal` (new-side position `oldPos - diagonal`), on along
 * the lines both sides have the same: the old-side position reached.
 */
function follow(
  oldLines: readonly string[],
  newLines: readonly string[],
  oldPos: number,
  diagonal: number,
): number {
  let at = oldPos;
  while (
    at - diagonal + 1 < newLines.length &&
    at + 1 < oldLines.length &&
    oldLines[at + 1] === newLines[at - diagonal + 1]
  ) {
    at++;
  }
  return at;
}

/** The path ending at component `last` as jsdiff's changes, with the lines each one covers. */
function changesOf(
  last: number,
  oldLines: readonly string[],
  newLines: readonly string[],
): ArrayChange<string>[] {
  const path: number[] = [];
  for (let node = last; node !== -1; node = previous[node]!) path.push(node);
  const changes: ArrayChange<string>[] = [];
  let oldPos = 0;
  let newPos = 0;
  for (let i = path.length - 1; i >= 0; i--) {
    const node = path[i]!;
    const lines = count[node]!;
    const kind = type[node]!;
    if (kind === REMOVED) {
      changes.push({
        count: lines,
        added: false,
        removed: true,
        value: oldLines.slice(oldPos, oldPos + lines),
      });
      oldPos += lines;
    } else {
      changes.push({
        count: lines,
        added: kind === ADDED,
        removed: false,
        value: newLines.slice(newPos, newPos + lines),
      });
      newPos += lines;
      if (kind === COMMON) oldPos += lines;
    }
  }
  return changes;
}
