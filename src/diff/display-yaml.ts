import { isPlainObject } from '../render/plain-object.ts';

/**
 * YAML of a JSON-like value for people to read in a diff: block style, two-space indentation,
 * multi-line strings as literal blocks, keys in the value's order. About twenty times faster
 * than the `yaml` library's `stringify` on Kubernetes objects, which matters for thousands of
 * objects. It reads back (YAML 1.1 or 1.2) as the same value: a string is written plain only when
 * no reader could take it for anything else, and double-quoted (JSON-escaped) otherwise.
 */
export function displayYaml(value: unknown, options: DisplayYamlOptions = {}): string {
  return `${displayYamlLines(value, options).join('\n')}\n`;
}

/** `displayYaml` as its lines, without their newlines. */
export function displayYamlLines(value: unknown, options: DisplayYamlOptions = {}): string[] {
  const out: string[] = [];
  const context: Context = { out, sortKeys: options.sortKeys === true };
  if (isPlainObject(value) && Object.keys(value).length > 0) writeMap(value, '', '', context);
  else if (Array.isArray(value) && value.length > 0) writeList(value, '', context);
  else out.push(scalar(value));
  return out;
}

export type DisplayYamlOptions = {
  /**
   * Keys of every mapping in code-point order, as `kubectl diff` prints them, so that key order
   * never shows as a change. Arrays keep their order.
   */
  sortKeys?: boolean;
};

type Context = { out: string[]; sortKeys: boolean };

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const SORTED = { sortKeys: true } as const;

/** The keys of `map` in code-point order (most maps, kubectl's among them, already are). */
function sortedKeys(map: Record<string, unknown>): string[] {
  const keys = Object.keys(map);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort(byCodePoint);
  }
  return keys;
}

/** `first` replaces `indent` on the first line (a `- ` of the list the map is an item of). */
function writeMap(map: Record<string, unknown>, indent: string, first: string, context: Context) {
  const { out } = context;
  let prefix = first || indent;
  const keys = context.sortKeys ? sortedKeys(map) : Object.keys(map);
  for (const key of keys) {
    const value = map[key];
    if (value === undefined) continue;
    const head = `${prefix}${keyText(key)}:`;
    prefix = indent;
    writeValue(head, value, `${indent}  `, context);
  }
  if (prefix !== indent) out.push(`${prefix}{}`);
}

function writeList(list: unknown[], indent: string, context: Context) {
  for (const item of list) {
    if (isPlainObject(item) && Object.keys(item).length > 0) {
      writeMap(item, `${indent}  `, `${indent}- `, context);
    } else {
      writeValue(`${indent}-`, item, `${indent}  `, context);
    }
  }
}

/** `head` is `key:` or `-`; the value follows on the same line or, indented, on the next. */
function writeValue(head: string, value: unknown, indent: string, context: Context) {
  const { out } = context;
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    out.push(head);
    writeMap(value, indent, '', context);
  } else if (Array.isArray(value) && value.length > 0) {
    out.push(head);
    writeList(value, indent, context);
  } else if (typeof value === 'string' && isLiteralBlock(value)) {
    let trailing = 0;
    while (value.charCodeAt(value.length - 1 - trailing) === 10) trailing++;
    out.push(`${head} |${trailing === 0 ? '-' : trailing === 1 ? '' : '+'}`);
    const lines = value.split('\n');
    if (trailing > 0) lines.pop();
    for (const line of lines) out.push(line === '' ? '' : `${indent}${line}`);
  } else {
    out.push(`${head} ${scalar(value)}`);
  }
}

/**
 * `displayYamlLines` of two values at once, keys sorted: each side's lines are exactly its own
 * (`displayYamlLines(value, { sortKeys: true })`), but a line both sides print at the same place
 * (the same key or list index, with the same value or the same head) is built once and shared, so
 * a line diff compares most lines by identity rather than by content, and half of the printing is
 * saved on objects that differ in a few places.
 */
export function displayYamlPairLines(old: unknown, next: unknown): [string[], string[]] {
  const a: Context = { out: [], sortKeys: true };
  const b: Context = { out: [], sortKeys: true };
  if (nonEmptyMap(old) && nonEmptyMap(next)) writeMapPair(old, next, '', '', '', a, b);
  else if (nonEmptyList(old) && nonEmptyList(next)) writeListPair(old, next, '', a, b);
  else return [displayYamlLines(old, SORTED), displayYamlLines(next, SORTED)];
  return [a.out, b.out];
}

function nonEmptyMap(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.keys(value).length > 0;
}

function nonEmptyList(value: unknown): value is unknown[] {
  return Array.isArray(value) && value.length > 0;
}

/** `writeMap` of both sides: keys both have are written together (`writeValuePair`). */
function writeMapPair(
  mapA: Record<string, unknown>,
  mapB: Record<string, unknown>,
  indent: string,
  firstA: string,
  firstB: string,
  a: Context,
  b: Context,
) {
  let prefixA = firstA || indent;
  let prefixB = firstB || indent;
  const keysA = sortedKeys(mapA);
  const keysB = sortedKeys(mapB);
  const inner = `${indent}  `;
  let i = 0;
  let j = 0;
  while (i < keysA.length || j < keysB.length) {
    // A key whose value is undefined is not printed (`writeMap`).
    if (i < keysA.length && mapA[keysA[i]!] === undefined) {
      i++;
      continue;
    }
    if (j < keysB.length && mapB[keysB[j]!] === undefined) {
      j++;
      continue;
    }
    const keyA = keysA[i];
    const keyB = keysB[j];
    if (keyA !== undefined && (keyB === undefined || byCodePoint(keyA, keyB) < 0)) {
      writeValue(`${prefixA}${keyText(keyA)}:`, mapA[keyA], inner, a);
      prefixA = indent;
      i++;
    } else if (keyA === undefined || keyA !== keyB) {
      writeValue(`${prefixB}${keyText(keyB!)}:`, mapB[keyB!], inner, b);
      prefixB = indent;
      j++;
    } else {
      const key = keyText(keyA);
      const headA = `${prefixA}${key}:`;
      const headB = prefixA === prefixB ? headA : `${prefixB}${key}:`;
      writeValuePair(headA, headB, mapA[keyA], mapB[keyA], inner, a, b);
      prefixA = indent;
      prefixB = indent;
      i++;
      j++;
    }
  }
  if (prefixA !== indent) a.out.push(`${prefixA}{}`);
  if (prefixB !== indent) b.out.push(`${prefixB}{}`);
}

/** `writeList` of both sides: items at the same index are written together. */
function writeListPair(listA: unknown[], listB: unknown[], indent: string, a: Context, b: Context) {
  const inner = `${indent}  `;
  const dash = `${indent}- `;
  const head = `${indent}-`;
  const common = Math.min(listA.length, listB.length);
  for (let i = 0; i < common; i++) {
    const itemA = listA[i];
    const itemB = listB[i];
    const mapA = nonEmptyMap(itemA);
    const mapB = nonEmptyMap(itemB);
    if (mapA && mapB) writeMapPair(itemA, itemB, inner, dash, dash, a, b);
    else if (!mapA && !mapB) writeValuePair(head, head, itemA, itemB, inner, a, b);
    else {
      writeList([itemA], indent, a);
      writeList([itemB], indent, b);
    }
  }
  if (listA.length > common) writeList(listA.slice(common), indent, a);
  if (listB.length > common) writeList(listB.slice(common), indent, b);
}

/** `writeValue` of both sides: what they print alike is printed once and shared. */
function writeValuePair(
  headA: string,
  headB: string,
  valueA: unknown,
  valueB: unknown,
  indent: string,
  a: Context,
  b: Context,
) {
  const same = headA === headB;
  if (same && valueA === valueB) {
    const start = a.out.length;
    writeValue(headA, valueA, indent, a);
    for (let k = start; k < a.out.length; k++) b.out.push(a.out[k]!);
  } else if (nonEmptyMap(valueA) && nonEmptyMap(valueB)) {
    a.out.push(headA);
    b.out.push(headB);
    writeMapPair(valueA, valueB, indent, '', '', a, b);
  } else if (nonEmptyList(valueA) && nonEmptyList(valueB)) {
    a.out.push(headA);
    b.out.push(headB);
    writeListPair(valueA, valueB, indent, a, b);
  } else {
    writeValue(headA, valueA, indent, a);
    writeValue(headB, valueB, indent, b);
  }
}

/** Multi-line text a literal block can hold as it is. */
function isLiteralBlock(value: string): boolean {
  return (
    value.includes('\n') &&
    !/^[ \t\n]/.test(value) &&
    // Only printable characters, tab and newline; no CR, NEL, LS/PS or BOM (line breaks to some).
    // eslint-disable-next-line no-control-regex
    !/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/.test(value) &&
    // Trailing spaces on a line before a final empty one would change the block's chomping.
    !/[ \t]\n*$/.test(value)
  );
}

const keyTexts = new Map<string, string>();

/**
 * A mapping key as printed. The same few hundred keys come back in every object of a preview,
 * so each is worked out once (keys of up to 200 characters, at most 10,000 kept).
 */
function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = isPlain(key) ? key : JSON.stringify(key);
    if (key.length > 200) return text;
    if (keyTexts.size >= 10_000) keyTexts.clear();
    keyTexts.set(key, text);
  }
  return text;
}

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return isPlain(value) ? value : JSON.stringify(value);
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return '.nan';
    if (!Number.isFinite(value)) return value > 0 ? '.inf' : '-.inf';
    return String(value);
  }
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return '[]';
  if (isPlainObject(value)) return '{}';
  return JSON.stringify(String(value));
}

/** Starts with a letter, digit, `_` or `/`; then word characters and a few safe symbols. */
const PLAIN = /^[A-Za-z0-9_/][A-Za-z0-9_./:@%+=,~()\- ]*$/;
/** Might be read as a number, a date or a time by some YAML reader (1.1 or 1.2). */
const NUMBER_LIKE = /^[0-9][0-9a-fA-FxXoObB._:+-]*$/;
/** YAML 1.1 booleans and nulls (compared lower-cased). */
const RESERVED = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);

function isPlain(text: string): boolean {
  const first = text.charCodeAt(0);
  return (
    text !== '' &&
    text.length <= 1_000 &&
    PLAIN.test(text) &&
    !text.endsWith(' ') &&
    !text.endsWith(':') &&
    !text.includes(': ') &&
    !text.includes(' #') &&
    // (Cheap tests first: only a text starting with a digit can be NUMBER_LIKE, and the
    // reserved words have at most five letters.)
    !(first >= 48 && first <= 57 && NUMBER_LIKE.test(text)) &&
    !(text.length <= 5 && RESERVED.has(text.toLowerCase()))
  );
}
