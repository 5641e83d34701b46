import { structuredPatch } from 'diff';
import type { StructuredPatch } from 'diff';
import { displayYaml } from './display-yaml.ts';
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
  const oldText = live === null || live === undefined ? '' : displayYaml(masked.live, SORTED);
  const newText =
    desired === null || desired === undefined ? '' : displayYaml(masked.desired, SORTED);
  return unifiedDiff(oldText, newText, {
    ...options,
    path: ref.path,
    oldHeader: `live/${ref.path}`,
    newHeader: `desired/${ref.path}`,
  });
}
