import {
  findSecretRanges,
  MASK_PREFIX,
  PEM_BEGIN,
  PEM_END,
  replaceRanges,
} from './credential-patterns.ts';

/** A line that is nothing but a long run of base64: the body of a PEM block or a key. */
const BASE64_LINE = /^(\s*)[A-Za-z0-9+/]{40,}={0,2}\s*$/;

/**
 * Free text with its credential-shaped parts (tokens, JWTs, PEM blocks, URL passwords,
 * `password: ...` assignments) replaced by `***`. For text that has no structure to mask by:
 * error messages, notes, IAC file diffs. Markers of `maskPair` are left as they are.
 */
export function maskText(text: string): string {
  return replaceRanges(text, findSecretRanges(text), () => MASK_PREFIX);
}

/**
 * A unified diff with each line's credential-shaped parts masked, keeping every line and its
 * `+`/`-`/` ` prefix. A PEM block split over lines is masked line by line, separately on the old
 * and new side, and so is any bare base64 line (a block whose header is outside the hunk).
 */
export function maskDiffText(diff: string): string {
  if (diff === '') return diff;
  let oldPem = false;
  let newPem = false;
  const lines = diff.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const prefix = line[0];
    if (prefix !== ' ' && prefix !== '-' && prefix !== '+') continue;
    if (line.startsWith('--- ') || line.startsWith('+++ ')) {
      lines[i] = maskText(line);
      continue;
    }
    const body = line.slice(1);
    const old = prefix !== '+';
    const added = prefix !== '-';
    const inside = (old && oldPem) || (added && newPem);
    let masked: string;
    const begin = PEM_BEGIN.exec(body);
    if (begin) {
      const closed = PEM_END.test(body.slice(begin.index + begin[0].length));
      if (old) oldPem = !closed;
      if (added) newPem = !closed;
      masked = `${maskText(body.slice(0, begin.index))}${MASK_PREFIX}`;
    } else if (inside) {
      if (PEM_END.test(body)) {
        if (old) oldPem = false;
        if (added) newPem = false;
      }
      masked = `${/^\s*/.exec(body)?.[0] ?? ''}${MASK_PREFIX}`;
    } else {
      const base64 = BASE64_LINE.exec(body);
      masked = base64 ? `${base64[1] ?? ''}${MASK_PREFIX}` : maskText(body);
    }
    lines[i] = prefix + masked;
  }
  return lines.join('\n');
}

/**
 * The line masker's part that a diff of objects masked by structure still needs: the `---`/`+++`
 * headers (the object's name) and bare base64 lines (a key or certificate without its PEM
 * header), masked as `maskDiffText` masks them. The rest of such a diff was printed from values
 * the structure masker scanned whole with the same patterns (`findSecretRanges`), keys aside
 * (`hasSecretKey`): scanning its lines again finds nothing more, so they are left as they are.
 */
export function maskPrintedDiff(diff: string): string {
  let out = '';
  let at = 0;
  let start = 0;
  while (start < diff.length) {
    let end = diff.indexOf('\n', start);
    if (end === -1) end = diff.length;
    let masked: string | undefined;
    if (diff.startsWith('--- ', start) || diff.startsWith('+++ ', start)) {
      masked = maskText(diff.slice(start, end));
    } else if (end - start > 40) {
      // Most lines fail at their first few characters (a key and its colon).
      BASE64_BODY.lastIndex = start + 1;
      const base64 = BASE64_BODY.exec(diff);
      if (base64 && BASE64_BODY.lastIndex === end && PREFIXES.includes(diff[start]!)) {
        masked = `${diff[start]}${base64[1] ?? ''}${MASK_PREFIX}`;
      }
    }
    if (masked !== undefined) {
      out += diff.slice(at, start) + masked;
      at = end;
    }
    start = end + 1;
  }
  return at === 0 ? diff : out + diff.slice(at);
}

const PREFIXES = ' +-';

/** BASE64_LINE after a line's prefix, tried at that place only (`\s` but for the line feed). */
const BASE64_BODY = /([^\S\n]*)[A-Za-z0-9+/]{40,}={0,2}[^\S\n]*/y;
