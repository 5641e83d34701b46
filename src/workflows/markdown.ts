import { escapeInline, fenced, sanitizeCode, trimTrailingNewlines } from '../diff/markdown.ts';

/** Longest text `escapeMarkdown` shows (longer text ends with `…`). */
export const MAX_TEXT_CHARS = 2_000;

/**
 * Text from outside (names, one-line reasons) for Markdown outside code, on one line: no markup,
 * no HTML, no mentions, references or autolinks, and plain punctuation as written so that it
 * reads right in e-mail too (escapeInline).
 */
export function escapeMarkdown(text: string): string {
  return escapeInline(text, MAX_TEXT_CHARS);
}

/**
 * An error message as a `text` code block: it keeps its lines (helm's and git's span several)
 * and reads the same rendered and in e-mail, with nothing in it escaped.
 */
export function errorBlock(message: string): string {
  return fenced(sanitizeCode(trimTrailingNewlines(message.trim())) || 'unknown error', 'text');
}

/** Longest text `code` shows; longer text (a pasted line, say) is cut and ends with `…`. */
export const MAX_CODE_SPAN_CHARS = 200;

/** Text as an inline code span that nothing inside can close early, cut at `maxChars`. */
export function code(text: string, maxChars: number = MAX_CODE_SPAN_CHARS): string {
  let flat = text.replace(/\s+/g, ' ');
  if (flat.length > maxChars) flat = `${withoutLoneSurrogate(flat.slice(0, maxChars - 1))}…`;
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

/**
 * The longest comment each provider stores, in characters: GitHub's issue and pull request
 * comments 65,536, GitLab's notes 1,000,000. A longer body is refused (GitHub: 422).
 */
export const COMMENT_LIMITS = { github: 65_536, gitlab: 1_000_000 } as const;

/** Room kept for what the platform puts before a body (its hidden `<!-- dag:… -->` marker). */
const MARKER_ROOM = 200;
/** Room for the note that says the body was cut, and a fence closed after it. */
const NOTE_ROOM = 200;

/**
 * A comment body the provider accepts: unchanged when it fits, else cut at a line break and
 * ended with a note saying how much was left out (a code fence left open by the cut is closed
 * first). Every reply DAG builds from what people or their repositories wrote goes through this.
 */
export function fitComment(body: string, provider: keyof typeof COMMENT_LIMITS): string {
  const max = COMMENT_LIMITS[provider] - MARKER_ROOM;
  if (body.length <= max) return body;
  let cut = withoutLoneSurrogate(body.slice(0, max - NOTE_ROOM));
  const lineEnd = cut.lastIndexOf('\n');
  if (lineEnd > cut.length / 2) cut = cut.slice(0, lineEnd);
  const fence = openFence(cut);
  const left = body.length - cut.length;
  return `${cut}${fence ? `\n${fence}` : ''}\n\n_… ${left} more characters did not fit in one comment._`;
}

/** The fence marker of a fenced code block `text` leaves open, if any. */
function openFence(text: string): string | undefined {
  let fence: string | undefined;
  for (const line of text.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (!marker) continue;
    if (fence === undefined) fence = marker;
    else if (marker[0] === fence[0] && marker.length >= fence.length) fence = undefined;
  }
  return fence;
}

/** Text without a trailing half of a surrogate pair (left by a cut between its halves). */
function withoutLoneSurrogate(text: string): string {
  return /[\uD800-\uDBFF]$/.test(text) ? text.slice(0, -1) : text;
}
