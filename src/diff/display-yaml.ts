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

/** `first` replaces `indent` on the first line (a `- ` of the list the map is an item of). */
function writeMap(map: Record<string, unknown>, indent: string, first: string, context: Context) {
  const { out } = context;
  let prefix = first || indent;
  const keys = Object.keys(map);
  if (context.sortKeys) keys.sort(byCodePoint);
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

function keyText(key: string): string {
  return isPlain(key) ? key : JSON.stringify(key);
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
