import { structuredPatch } from 'diff';
import type { ArrayChange, StructuredPatch } from 'diff';
import { displayYamlLines, displayYamlPairLines } from './display-yaml.ts';
import { diffLines } from './line-diff.ts';
import { maskPair } from './masking.ts';
import { objectRef } from './object-ref.ts';

/**
 * jsdiff's cost grows with the edit distance and blocks the event loop: it gives up past this
 * many inserted plus removed lines (about 0.3 s for entirely different 2,000-line files) ...
 */
export const DEFAULT_MAX_EDIT_LENGTH = 2_000;
/** ... or after this many milliseconds, whichever comes first. */
export const DEFAULT_DIFF_TIMEOUT_MS = 500;

export type UnifiedDiffOptions = {
  /** The file's path: headers are `--- a/<path>` and `+++ b/<path>` unless given below. */
  path: string;
  /** Header of the old side, e.g. `live/Deployment/apps/web` or `/dev/null`. */
  oldHeader?: string;
  /** Header of the new side. */
  newHeader?: string;
  /** Unchanged lines around each change. */
  context?: number;
  timeoutMs?: number;
  maxEditLength?: number;
};

export type UnifiedDiff = {
  /** The unified diff with `---`/`+++` headers; `''` when the texts are equal. */
  text: string;
  /** Lines added and removed. */
  added: number;
  removed: number;
  /** jsdiff gave up (too slow or too many edits): the diff replaces the whole file. */
  fallback: boolean;
};

const NO_NEWLINE = '\\ No newline at end of file';

/**
 * A unified diff of two texts. Never throws and never runs unbounded: jsdiff runs with a timeout
 * and an edit-length cap, and when it gives up the result is a whole-file replacement (every old
 * line removed, every new line added). A created or deleted file skips jsdiff altogether.
 */
export function unifiedDiff(
  oldText: string,
  newText: string,
  options: UnifiedDiffOptions,
): UnifiedDiff {
  if (oldText === newText) return { text: '', added: 0, removed: 0, fallback: false };
  const headers = [
    `--- ${headerName(options.oldHeader ?? `a/${options.path}`)}`,
    `+++ ${headerName(options.newHeader ?? `b/${options.path}`)}`,
  ];
  const context = Math.max(0, Math.floor(options.context ?? 3));
  if (oldText !== '' && newText !== '') {
    let patch: StructuredPatch | undefined;
    try {
      patch = structuredPatch('', '', oldText, newText, undefined, undefined, {
        context,
        timeout: Math.max(1, options.timeoutMs ?? DEFAULT_DIFF_TIMEOUT_MS),
        maxEditLength: Math.max(1, options.maxEditLength ?? DEFAULT_MAX_EDIT_LENGTH),
      });
    } catch {
      patch = undefined;
    }
    if (patch !== undefined) {
      let added = 0;
      let removed = 0;
      const lines = [...headers];
      for (const hunk of patch.hunks) {
        const oldStart = hunk.oldLines === 0 ? hunk.oldStart - 1 : hunk.oldStart;
        const newStart = hunk.newLines === 0 ? hunk.newStart - 1 : hunk.newStart;
        lines.push(`@@ -${oldStart},${hunk.oldLines} +${newStart},${hunk.newLines} @@`);
        for (const line of hunk.lines) {
          if (line.startsWith('+')) added++;
          else if (line.startsWith('-')) removed++;
          lines.push(line);
        }
      }
      return { text: `${lines.join('\n')}\n`, added, removed, fallback: false };
    }
  }
  return wholeReplacement(headers, oldText, newText, oldText !== '' && newText !== '');
}

/** Every old line removed, then every new line added, in one hunk. */
function wholeReplacement(
  headers: string[],
  oldText: string,
  newText: string,
  fallback: boolean,
): UnifiedDiff {
  const oldLines = splitLines(oldText);
  const newLines = splitLines(newText);
  const oldStart = oldLines.length === 0 ? 0 : 1;
  const newStart = newLines.length === 0 ? 0 : 1;
  const out = [...headers, `@@ -${oldStart},${oldLines.length} +${newStart},${newLines.length} @@`];
  for (const line of oldLines) out.push(`-${line}`);
  if (oldText !== '' && !oldText.endsWith('\n')) out.push(NO_NEWLINE);
  for (const line of newLines) out.push(`+${line}`);
  if (newText !== '' && !newText.endsWith('\n')) out.push(NO_NEWLINE);
  return {
    text: `${out.join('\n')}\n`,
    added: newLines.length,
    removed: oldLines.length,
    fallback,
  };
}

function splitLines(text: string): string[] {
  if (text === '') return [];
  const lines = text.split('\n');
  if (text.endsWith('\n')) lines.pop();
  return lines;
}

/** A header name on one line: control characters (a newline would forge a diff line) escaped. */
function headerName(name: string): string {
  return name.replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

const SORTED = { sortKeys: true } as const;

export type DiffObjectsOptions = Omit<UnifiedDiffOptions, 'path' | 'oldHeader' | 'newHeader'>;

/**
 * A kubectl-diff-style diff of a live and a desired Kubernetes object (either may be null: the
 * object is created or deleted). Secrets are masked first (`maskPair`), then both sides are dumped
 * as YAML with the keys of every mapping sorted, so that key order never shows as a change
 * (`displayYaml`). Headers are `--- live/<kind>/<namespace>/<name>` and
 * `+++ desired/<kind>/<namespace>/<name>`.
 */
export function diffObjects(
  live: unknown,
  desired: unknown,
  options: DiffObjectsOptions = {},
): UnifiedDiff {
  const ref = objectRef(desired ?? live);
  const masked = maskPair(live, desired);
  const hasLive = live !== null && live !== undefined;
  const hasDesired = desired !== null && desired !== undefined;
  const [oldLines, newLines] =
    hasLive && hasDesired
      ? displayYamlPairLines(masked.live, masked.desired)
      : [
          hasLive ? displayYamlLines(masked.live, SORTED) : [],
          hasDesired ? displayYamlLines(masked.desired, SORTED) : [],
        ];
  return unifiedLineDiff(oldLines, newLines, {
    ...options,
    path: ref.path,
    oldHeader: `live/${ref.path}`,
    newHeader: `desired/${ref.path}`,
  });
}

/**
 * `unifiedDiff` of two texts given as their lines (each text ending with a newline), the same
 * diff without joining the lines into texts and splitting them again: jsdiff's Myers pass on the
 * lines themselves (`diffLines`, jsdiff's `diffArrays` without its allocations), and hunks built
 * as `structuredPatch` builds them.
 */
export function unifiedLineDiff(
  oldLines: readonly string[],
  newLines: readonly string[],
  options: UnifiedDiffOptions,
): UnifiedDiff {
  if (sameLines(oldLines, newLines)) return { text: '', added: 0, removed: 0, fallback: false };
  const headers = [
    `--- ${headerName(options.oldHeader ?? `a/${options.path}`)}`,
    `+++ ${headerName(options.newHeader ?? `b/${options.path}`)}`,
  ];
  const whole = () => {
    const text = (lines: readonly string[]) => (lines.length === 0 ? '' : `${lines.join('\n')}\n`);
    return wholeReplacement(
      headers,
      text(oldLines),
      text(newLines),
      oldLines.length > 0 && newLines.length > 0,
    );
  };
  if (oldLines.length === 0 || newLines.length === 0) return whole();
  let changes: ArrayChange<string>[] | undefined;
  try {
    changes = diffLines(oldLines, newLines, {
      timeout: Math.max(1, options.timeoutMs ?? DEFAULT_DIFF_TIMEOUT_MS),
      maxEditLength: Math.max(1, options.maxEditLength ?? DEFAULT_MAX_EDIT_LENGTH),
    });
  } catch {
    changes = undefined;
  }
  if (changes === undefined) return whole();
  const context = Math.max(0, Math.floor(options.context ?? 3));
  const out = [...headers];
  let added = 0;
  let removed = 0;
  for (const hunk of hunksOf(changes, context)) {
    const oldStart = hunk.oldLines === 0 ? hunk.oldStart - 1 : hunk.oldStart;
    const newStart = hunk.newLines === 0 ? hunk.newStart - 1 : hunk.newStart;
    out.push(`@@ -${oldStart},${hunk.oldLines} +${newStart},${hunk.newLines} @@`);
    for (const line of hunk.lines) {
      const prefix = line.charCodeAt(0);
      if (prefix === PLUS) added++;
      else if (prefix === MINUS) removed++;
      out.push(line);
    }
  }
  return { text: `${out.join('\n')}\n`, added, removed, fallback: false };
}

const PLUS = 43;
const MINUS = 45;

type Hunk = {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  lines: string[];
};

/**
 * The hunks of a diff of lines, with `context` unchanged lines around each change, exactly as
 * jsdiff's `structuredPatch` groups them: changes closer than twice the context share a hunk.
 */
function hunksOf(changes: readonly ArrayChange<string>[], context: number): Hunk[] {
  const hunks: Hunk[] = [];
  const all = [...changes, { value: [], added: false, removed: false, count: 0 }];
  let oldRangeStart = 0;
  let newRangeStart = 0;
  let range: string[] = [];
  let oldLine = 1;
  let newLine = 1;
  const contextLines = (lines: readonly string[]) => lines.map((line) => ` ${line}`);
  for (let i = 0; i < all.length; i++) {
    const current = all[i] as ArrayChange<string>;
    const lines = current.value;
    if (current.added || current.removed) {
      if (!oldRangeStart) {
        const previous = all[i - 1];
        oldRangeStart = oldLine;
        newRangeStart = newLine;
        if (previous) {
          range = context > 0 ? contextLines(previous.value.slice(-context)) : [];
          oldRangeStart -= range.length;
          newRangeStart -= range.length;
        }
      }
      const prefix = current.added ? '+' : '-';
      for (const line of lines) range.push(prefix + line);
      if (current.added) newLine += lines.length;
      else oldLine += lines.length;
    } else {
      if (oldRangeStart) {
        if (lines.length <= context * 2 && i < all.length - 2) {
          // Close to the next change: the lines join this hunk.
          for (const line of contextLines(lines)) range.push(line);
        } else {
          const size = Math.min(lines.length, context);
          for (const line of contextLines(lines.slice(0, size))) range.push(line);
          hunks.push({
            oldStart: oldRangeStart,
            oldLines: oldLine - oldRangeStart + size,
            newStart: newRangeStart,
            newLines: newLine - newRangeStart + size,
            lines: range,
          });
          oldRangeStart = 0;
          newRangeStart = 0;
          range = [];
        }
      }
      oldLine += lines.length;
      newLine += lines.length;
    }
  }
  return hunks;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
