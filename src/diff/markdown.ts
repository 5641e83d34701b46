/**
 * Markdown that user-controlled text cannot break out of. Everything outside a code fence goes
 * through `escapeInline`; everything inside one goes through `codeBlock`, whose fence is longer
 * than any backtick run in the code.
 */

/**
 * Characters that would start markup wherever the text lands, as character references: they
 * render as themselves in Markdown and in an HTML block alike. Punctuation that forms markup
 * only next to one of these (`(` `)` after `]`, `!` before `[`) or only in attributes (`"` `'`)
 * is left as it is, so a plain-text view (an e-mail notification shows the raw Markdown) reads
 * `fix(api): b` as written.
 */
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '`': '&#96;',
  '*': '&#42;',
  _: '&#95;',
  '[': '&#91;',
  ']': '&#93;',
  // GitLab's inline diff: `{+ added +}`, `{- removed -}`.
  '{': '&#123;',
  '}': '&#125;',
  '|': '&#124;',
  '\\': '&#92;',
  '~': '&#126;',
  // Math: `$x$` on GitHub and GitLab.
  $: '&#36;',
};

/** Longest text shown outside a code fence, in characters (longer text ends with `…`). */
export const MAX_INLINE_CHARS = 300;

/** Zero-width space: invisible, it keeps a mention, reference or autolink from forming. */
const ZWSP = '\u200b';

/**
 * Text that renders as itself, on one line, both in Markdown and inside an HTML block such as
 * `<summary>` (not in an attribute value): HTML and Markdown punctuation become character
 * references (no tags, emphasis, code, links, table cells or math), line breaks and other
 * control characters become spaces, and long text is cut at `maxChars`. Mentions (`@team`),
 * references (`#12`, GitLab's `!12`) and autolinks (`https://…`, `www.…`) are found by the
 * providers in the rendered text, where a character reference is already decoded: a zero-width
 * space breaks them instead, so they read as written (e-mail included) and link nowhere. A
 * colon elsewhere (`feat: A`, `:rocket:`) is left alone: it forms neither a scheme nor a link.
 */
export function escapeInline(text: string, maxChars: number = MAX_INLINE_CHARS): string {
  // eslint-disable-next-line no-control-regex
  let flat = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ');
  if (flat.length > maxChars) flat = `${flat.slice(0, Math.max(0, maxChars - 1))}…`;
  // One pass: a reference written here must not be taken apart by a later replacement.
  return flat.replace(
    /[&<>`*_[\]{}|\\~$]|[@#]|!(?=\d)|:(?=\/\/)|\bwww(?=\.)/gi,
    (m) => ENTITIES[m] ?? `${m}${ZWSP}`,
  );
}

/** A backtick fence longer than any run of backticks in `code` (at least three). */
export function fenceFor(code: string): string {
  let longest = 0;
  for (const match of code.matchAll(/`+/g)) longest = Math.max(longest, match[0].length);
  return '`'.repeat(Math.max(3, longest + 1));
}

/** Longest line kept inside a code block; the rest of a longer line is cut. */
export const MAX_CODE_LINE_CHARS = 2_000;

/**
 * Code as it may sit between fences: CRLF becomes LF, a lone CR (a line break to CommonMark)
 * becomes `␍`, NUL becomes U+FFFD, and lines past `MAX_CODE_LINE_CHARS` are cut with a note.
 */
export function sanitizeCode(code: string): string {
  let out = code.replace(/\r\n/g, '\n').replace(/\r/g, '␍').replaceAll('\u0000', '\uFFFD');
  if (out.length > MAX_CODE_LINE_CHARS && hasLongLine(out)) {
    out = out
      .split('\n')
      .map((line) =>
        line.length > MAX_CODE_LINE_CHARS
          ? `${line.slice(0, MAX_CODE_LINE_CHARS)} … (${line.length - MAX_CODE_LINE_CHARS} more characters)`
          : line,
      )
      .join('\n');
  }
  return out;
}

/** Whether a line of `text` is longer than MAX_CODE_LINE_CHARS (without splitting it). */
function hasLongLine(text: string): boolean {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    if (end - start > MAX_CODE_LINE_CHARS) return true;
    start = end + 1;
  }
  return false;
}

/**
 * A fenced code block of already sanitized `code` (which must not end with a newline); `fence`:
 * `fenceFor(code)`, when it is already known.
 */
export function fenced(code: string, language: string, fence = fenceFor(code)): string {
  return `${fence}${language}\n${code}\n${fence}`;
}

/** `text` without its trailing newlines (a loop: `/\n+$/` is quadratic on long inner runs). */
export function trimTrailingNewlines(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 10) end--;
  return end === text.length ? text : text.slice(0, end);
}
