// A single-pass reader for the plain block YAML that Kubernetes tools print (`kubectl get -o
// yaml`, a dry-run's result, DAG's own dumps), for the diff preview, which reads two documents per
// object and thousands of objects. It returns exactly what `parseYamlDocuments(text)[0]`
// (src/render/yaml.ts, YAML 1.2 core schema) returns, or undefined for anything outside its
// small subset, which the slower readers then take (src/render/fast-yaml.ts).
//
// The subset: one document whose root is a block mapping at column 0; indentation with spaces;
// block mappings with plain keys (letters, digits, `_./-`, resolving to a string, no duplicates,
// no `__proto__`); block sequences, indented or at their key's column (kubectl's style), whose
// entries are scalars or mappings (`- key: value`); plain scalars on one line, resolved by the
// `yaml` library's own core tags; double-quoted scalars on one line with JSON's escapes only;
// single-quoted scalars on one line; `{}` and `[]`; literal block scalars (`|`, `|-`, `|+`)
// without indentation indicator. Everything else is refused: comments, anchors, aliases, tags,
// flow collections with content, folded scalars, scalars over several lines, document markers,
// directives, empty lines outside block scalars, trailing spaces, tabs, carriage returns and
// other control or Unicode line-break characters, and text that does not end with a newline.

import { isScalar, Schema as YamlSchema } from 'yaml';
import type { ScalarTag } from 'yaml';

/** The `yaml` library's YAML 1.2 core scalar tags, which `parseYamlDocuments` resolves with. */
export const CORE_SCALARS = new YamlSchema({ schema: 'core' }).tags.filter(
  (tag): tag is ScalarTag & { test: RegExp } =>
    tag.default === true && 'test' in tag && tag.test instanceof RegExp,
);

const noError = () => {};

/** Implicit keys of 1,024 characters or more are an error for the `yaml` library: stay below. */
const MAX_KEY = 1000;
/** Deeper nesting is left to the `yaml` library (and its errors). */
const MAX_DEPTH = 200;

const LF = 10;
const SPACE = 32;
const DQUOTE = 34;
const HASH = 35;
const SQUOTE = 39;
const DASH = 45;
const DOT = 46;
const COLON = 58;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const LBRACE = 123;
const PIPE = 124;
const RBRACE = 125;
const PLUS = 43;

/** Character classes of ASCII characters. */
const KEY_CHAR = 1;
/** May start a key (`.` only before a letter, digit or `_`: never `...`). */
const KEY_START = 2;
/** A plain scalar starting with this may be a number or `~` (see `mayResolve`). */
const MAY_RESOLVE = 4;
/** Cannot start a plain scalar of this subset (an indicator, or a space). */
const NOT_PLAIN = 8;
/** May follow a backslash in a double-quoted scalar: escapes JSON reads as YAML does. */
const JSON_ESCAPE = 16;

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  if (/[A-Za-z0-9_./-]/.test(ch)) CLASS[c]! |= KEY_CHAR;
  if (/[A-Za-z0-9_./]/.test(ch)) CLASS[c]! |= KEY_START;
  if (/[~0-9+.-]/.test(ch)) CLASS[c]! |= MAY_RESOLVE;
  if (/[ ?:,[\]{}#&*!|>'"%@`]/.test(ch)) CLASS[c]! |= NOT_PLAIN;
  if (/["\\/bfnrtu]/.test(ch)) CLASS[c]! |= JSON_ESCAPE;
}

/** Thrown (never as an Error: no stack) where the text leaves the subset. */
const REFUSE = { refused: true };

function refuse(): never {
  throw REFUSE;
}

/** Control characters, NEL, C1, LS, PS and BOM: refused anywhere. */
function isBadChar(c: number): boolean {
  return c < SPACE || (c >= 0x7f && (c <= 0x9f || c === 0x2028 || c === 0x2029 || c === 0xfeff));
}

/**
 * Might the plain scalar `text.slice(start, end)` resolve to something other than a string? Only
 * numbers, `.inf`/`.nan` and `~` start with a digit, a sign, `.` or `~`; `null` and `true` have
 * four letters, `false` five (the core tags' tests, in every spelling they take).
 */
function mayResolve(text: string, start: number, end: number): boolean {
  const first = text.charCodeAt(start);
  if (first < 128 && (CLASS[first]! & MAY_RESOLVE) !== 0) return true;
  const length = end - start;
  switch (first) {
    case 110: // n
    case 78: // N
    case 116: // t
    case 84: // T
      return length === 4;
    case 102: // f
    case 70: // F
      return length === 5;
    default:
      return false;
  }
}

/** A plain scalar as the `yaml` library's core schema resolves it. */
function resolvePlain(source: string): unknown {
  for (const tag of CORE_SCALARS) {
    if (tag.test.test(source)) {
      const value: unknown = tag.resolve(source, noError, {});
      return isScalar(value) ? value.value : value;
    }
  }
  return source;
}

class Reader {
  readonly text: string;
  readonly length: number;
  /** Where reading is: at a line's start after each value. */
  pos = 0;
  /** The indentation of the line at `pos`, or -1 at the end of the text. */
  indent = -1;
  /** The last quoted scalar's value. */
  quoted = '';

  constructor(text: string) {
    this.text = text;
    this.length = text.length;
  }

  /** Measures the line at `pos`; lines that are empty or only spaces are refused. */
  peek(): void {
    const { text } = this;
    let at = this.pos;
    if (at >= this.length) {
      this.indent = -1;
      return;
    }
    while (text.charCodeAt(at) === SPACE) at++;
    if (text.charCodeAt(at) === LF) refuse();
    this.indent = at - this.pos;
  }

  /** Is `at` the start of `- ` (a sequence entry)? */
  isEntry(at: number): boolean {
    return this.text.charCodeAt(at) === DASH && this.text.charCodeAt(at + 1) === SPACE;
  }

  /** The index of the `:` ending a plain key starting at `at`, or -1 if no key starts there. */
  scanKey(at: number): number {
    const { text } = this;
    const first = text.charCodeAt(at);
    if (first >= 128 || (CLASS[first]! & KEY_START) === 0) return -1;
    if (first === DOT) {
      // `.config`, never `...` nor `.:`.
      const second = text.charCodeAt(at + 1);
      if (second >= 128 || (CLASS[second]! & KEY_START) === 0 || second === DOT) return -1;
    }
    let end = at + 1;
    for (let c = text.charCodeAt(end); c < 128 && (CLASS[c]! & KEY_CHAR) !== 0;) {
      c = text.charCodeAt(++end);
    }
    if (text.charCodeAt(end) !== COLON || end - at >= MAX_KEY) return -1;
    const next = text.charCodeAt(end + 1);
    return next === SPACE || next === LF ? end : -1;
  }

  /** A block mapping whose first key starts at `pos`, in column `column`. */
  readMap(column: number, depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) refuse();
    const { text } = this;
    const map: Record<string, unknown> = {};
    for (;;) {
      const start = this.pos;
      const end = this.scanKey(start);
      if (end < 0) refuse();
      const key = text.slice(start, end);
      if (key === '__proto__' || Object.hasOwn(map, key)) refuse();
      if (mayResolve(text, start, end) && typeof resolvePlain(key) !== 'string') refuse();
      this.pos = end + 1;
      map[key] = this.readValue(column, depth);
      const { indent } = this;
      if (indent !== column) {
        if (indent > column) refuse();
        return map;
      }
      this.pos += indent;
    }
  }

  /** The value after a key's `:` (at `pos`) of a mapping in column `column`. */
  readValue(column: number, depth: number): unknown {
    const { text } = this;
    const c = text.charCodeAt(this.pos);
    if (c === LF) {
      this.pos++;
      this.peek();
      const { indent } = this;
      const at = this.pos + indent;
      if (indent > column) {
        if (this.isEntry(at)) return this.readSeq(indent, depth + 1);
        this.pos = at;
        return this.readMap(indent, depth + 1);
      }
      // kubectl's style: a sequence in its key's column.
      if (indent === column && this.isEntry(at)) return this.readSeq(indent, depth + 1);
      return null;
    }
    let at = this.pos + 1;
    while (text.charCodeAt(at) === SPACE) at++;
    this.pos = at;
    return this.readInline(column);
  }

  /** A block sequence in column `column`; `pos` is at the start of its first `- ` line. */
  readSeq(column: number, depth: number): unknown[] {
    if (depth > MAX_DEPTH) refuse();
    const { text } = this;
    const list: unknown[] = [];
    for (;;) {
      const line = this.pos;
      let at = line + column + 2;
      while (text.charCodeAt(at) === SPACE) at++;
      const c = text.charCodeAt(at);
      if (c === LF || (c === DASH && this.isEntry(at))) refuse();
      this.pos = at;
      list.push(
        this.scanKey(at) >= 0 ? this.readMap(at - line, depth + 1) : this.readInline(column),
      );
      const { indent } = this;
      if (indent !== column || !this.isEntry(this.pos + indent)) {
        if (indent > column) refuse();
        return list;
      }
    }
  }

  /**
   * A value on its line, at `pos`: a scalar, `{}`, `[]` or a literal block scalar (whose lines
   * must be indented more than `parent`). Leaves `pos` at the start of the next line.
   */
  readInline(parent: number): unknown {
    const { text } = this;
    const start = this.pos;
    const c = text.charCodeAt(start);
    let value: unknown;
    let end: number;
    if (c === DQUOTE) {
      end = this.readDoubleQuoted(start);
      value = this.quoted;
    } else if (c === SQUOTE) {
      end = this.readSingleQuoted(start);
      value = this.quoted;
    } else if (c === PIPE) {
      return this.readLiteral(start, parent);
    } else if (c === LF) {
      refuse();
    } else if (c === LBRACE || c === LBRACKET) {
      if (text.charCodeAt(start + 1) !== (c === LBRACE ? RBRACE : RBRACKET)) refuse();
      end = start + 2;
      value = c === LBRACE ? {} : [];
    } else {
      end = text.indexOf('\n', start);
      value = this.readPlain(start, end);
    }
    if (text.charCodeAt(end) !== LF) refuse();
    this.pos = end + 1;
    this.peek();
    return value;
  }

  /** A plain scalar from `start` to the line's end `end`. */
  readPlain(start: number, end: number): unknown {
    const { text } = this;
    const first = text.charCodeAt(start);
    if (first < 128 && (CLASS[first]! & NOT_PLAIN) !== 0) refuse();
    if (first === DASH) {
      const next = text.charCodeAt(start + 1);
      if (next === SPACE || next === LF) refuse();
    }
    const last = text.charCodeAt(end - 1);
    if (last === SPACE || last === COLON) refuse();
    for (let i = start; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === COLON) {
        if (text.charCodeAt(i + 1) === SPACE) refuse();
      } else if (c === SPACE) {
        if (text.charCodeAt(i + 1) === HASH) refuse();
      } else if (c < SPACE || (c >= 0x7f && isBadChar(c))) {
        refuse();
      }
    }
    const source = text.slice(start, end);
    return mayResolve(text, start, end) ? resolvePlain(source) : source;
  }

  /** A double-quoted scalar on one line starting at `start`; returns the index after it. */
  readDoubleQuoted(start: number): number {
    const { text } = this;
    let escaped = false;
    let i = start + 1;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const next = text.charCodeAt(i + 1);
        if (next >= 128 || (CLASS[next]! & JSON_ESCAPE) === 0) refuse();
        escaped = true;
        i += 2;
        continue;
      }
      if (isBadChar(c) || Number.isNaN(c)) refuse();
      i++;
    }
    if (!escaped) this.quoted = text.slice(start + 1, i);
    else {
      try {
        this.quoted = JSON.parse(text.slice(start, i + 1)) as string;
      } catch {
        refuse();
      }
    }
    return i + 1;
  }

  /** A single-quoted scalar on one line starting at `start`; returns the index after it. */
  readSingleQuoted(start: number): number {
    const { text } = this;
    let doubled = false;
    let i = start + 1;
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === SQUOTE) {
        if (text.charCodeAt(i + 1) !== SQUOTE) break;
        doubled = true;
        i += 2;
        continue;
      }
      if (isBadChar(c) || Number.isNaN(c)) refuse();
      i++;
    }
    const body = text.slice(start + 1, i);
    this.quoted = doubled ? body.replaceAll("''", "'") : body;
    return i + 1;
  }

  /**
   * A literal block scalar whose header `|`, `|-` or `|+` is at `start`, its lines indented
   * more than `parent`. Leaves `pos` at the start of the line after it.
   */
  readLiteral(start: number, parent: number): string {
    const { text, length } = this;
    let at = start + 1;
    const chomp = text.charCodeAt(at);
    if (chomp === DASH || chomp === PLUS) at++;
    if (text.charCodeAt(at) !== LF) refuse();
    at++;
    // Empty lines before the first line of content.
    let value = '';
    let spaces: number;
    for (;;) {
      if (at >= length) refuse();
      spaces = 0;
      while (text.charCodeAt(at + spaces) === SPACE) spaces++;
      if (text.charCodeAt(at + spaces) !== LF) break;
      if (spaces > 0) refuse();
      value += '\n';
      at++;
    }
    const indent = spaces;
    if (indent <= parent) refuse();
    let empty: number;
    for (;;) {
      // A line of content at `at`, indented `spaces` >= `indent`.
      const from = at + indent;
      const end = text.indexOf('\n', from);
      for (let i = from; i < end; i++) {
        const c = text.charCodeAt(i);
        if (c < SPACE || (c >= 0x7f && isBadChar(c))) refuse();
      }
      if (text.charCodeAt(end - 1) === SPACE) refuse();
      value += text.slice(from, end);
      at = end + 1;
      // Empty lines after it.
      empty = 0;
      spaces = -1;
      while (at < length) {
        spaces = 0;
        while (text.charCodeAt(at + spaces) === SPACE) spaces++;
        if (text.charCodeAt(at + spaces) !== LF) break;
        if (spaces > 0) refuse();
        empty++;
        at++;
        spaces = -1;
      }
      if (spaces < indent) break;
      value += '\n'.repeat(empty + 1);
    }
    if (chomp === PLUS) value += '\n'.repeat(empty + 1);
    else if (chomp !== DASH) value += '\n';
    this.pos = at;
    this.indent = spaces;
    return value;
  }
}

/**
 * The one document of `text` when it is plain block YAML of the subset above (a mapping at the
 * top), exactly as `parseYamlDocuments(text)[0]` reads it; undefined for anything else.
 */
export function readBlockYaml(text: string): Record<string, unknown> | undefined {
  if (text.charCodeAt(text.length - 1) !== LF) return undefined;
  const reader = new Reader(text);
  try {
    reader.peek();
    if (reader.indent !== 0) return undefined;
    const value = reader.readMap(0, 0);
    return reader.pos === text.length ? value : undefined;
  } catch {
    // REFUSE, or anything unforeseen: the slower readers decide.
    return undefined;
  }
}
