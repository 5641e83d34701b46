import { Buffer } from 'node:buffer';
import { fenceFor, sanitizeCode, trimTrailingNewlines } from './markdown.ts';

/** What a diff's `<details>` section needs of it, worked out once. */
export type ShownDiff = {
  /** The diff as it sits in a code fence (`sanitizeCode`, no trailing newlines). */
  code: string;
  /** Its added and removed lines (in hunks: not the `+++`/`---` headers). */
  added: number;
  removed: number;
  /** The backtick fence that holds it (`fenceFor`). */
  fence: string;
  /** `code`'s length in UTF-8 bytes. */
  codeBytes: number;
};

/** The counts and fence an object's diff is shown with, kept beside it (`ObjectDiff.shown`). */
export type ShownFacts = Omit<ShownDiff, 'code'>;

/**
 * A (masked) unified diff as a code block shows it. Worked out where an object's diff is made, on
 * a preview worker thread, so that rendering the preview only puts the parts together.
 */
export function shownDiff(diff: string): ShownDiff {
  const code = trimTrailingNewlines(sanitizeCode(diff));
  const { added, removed } = countChanges(code);
  return {
    code,
    added,
    removed,
    fence: fenceFor(code),
    codeBytes: Buffer.byteLength(code, 'utf8'),
  };
}

function countChanges(diff: string): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  let inHunk = false;
  let start = 0;
  while (start < diff.length) {
    let end = diff.indexOf('\n', start);
    if (end === -1) end = diff.length;
    const first = diff.charCodeAt(start);
    if (first === AT && diff.charCodeAt(start + 1) === AT) inHunk = true;
    else if (inHunk && end > start && first === PLUS) added++;
    else if (inHunk && end > start && first === MINUS) removed++;
    start = end + 1;
  }
  return { added, removed };
}

const AT = 64;
const PLUS = 43;
const MINUS = 45;
