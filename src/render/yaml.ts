import { parseAllDocuments, stringify } from 'yaml';
import type { Document, DocumentOptions, ParseOptions, SchemaOptions, Tags, YAMLError } from 'yaml';
import { UserError } from '../errors.ts';
import { isPlainObject } from './plain-object.ts';

/** Largest values file DAG reads from an app repository. */
export const MAX_VALUES_BYTES = 1024 * 1024;
/** Alias expansions allowed per document: enough for real files, far too few for billion laughs. */
export const MAX_ALIAS_COUNT = 100;

type Options = ParseOptions & DocumentOptions & SchemaOptions;

const KUBERNETES_OPTIONS: Options = { version: '1.2', uniqueKeys: true, logLevel: 'silent' };

/**
 * Helm reads values with go-yaml v2 (YAML 1.1): `yes`/`on`/`y` are booleans and `0644` is octal.
 * go-yaml v2 does not resolve sexagesimal numbers (`12:30`) and leaves timestamps as strings, and
 * the explicit-only tags (`!!binary`, `!!set`, `!!omap`, `!!pairs`) would turn into non-JSON values:
 * drop those tags so such a file reads the way Helm reads it.
 */
const HELM_VALUES_OPTIONS: Options = {
  version: '1.1',
  uniqueKeys: true,
  logLevel: 'silent',
  customTags: (tags: Tags) =>
    tags.filter(
      (tag) =>
        typeof tag === 'object' &&
        tag.format !== 'TIME' &&
        tag.tag !== 'tag:yaml.org,2002:timestamp' &&
        tag.default !== false,
    ),
};

/**
 * Every document of a YAML stream as plain JavaScript values; empty documents are dropped.
 * Errors name `source` and the line: `templates/flux/source.yaml.hbs line 3: ...`.
 */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  return parseStream(text, source, KUBERNETES_OPTIONS)
    .map((doc) => toJs(doc, source))
    .filter((value) => value !== null && value !== undefined);
}

/**
 * An untrusted values file from an app repository: at most 1 MiB, at most 100 alias expansions,
 * read as Helm reads it, one document whose top level is a mapping. An empty file is `{}`.
 */
export function parseValuesFile(text: string, source: string): Record<string, unknown> {
  const size = Buffer.byteLength(text, 'utf8');
  if (size > MAX_VALUES_BYTES) {
    throw new UserError(
      `${source}: values file is ${size} bytes; the limit is ${MAX_VALUES_BYTES} bytes`,
    );
  }
  const docs = parseStream(text, source, HELM_VALUES_OPTIONS);
  if (docs.length > 1) {
    throw new UserError(
      `${source}: a values file must hold one YAML document, found ${docs.length}`,
    );
  }
  const doc = docs[0];
  if (doc === undefined || doc.contents === null) return {};
  const value = toJs(doc, source);
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    const range = (doc.contents as { range?: [number, number, number] } | null)?.range;
    const line = range ? lineOf(text, range[0]) : undefined;
    throw new UserError(
      `${source}${line === undefined ? '' : ` line ${line}`}: the top level of a values file must be a mapping, found ${describeType(value)}`,
    );
  }
  checkJsonCompatible(value, source);
  return value;
}

/**
 * Canonical YAML for a value: block style, keys in insertion order, no line folding, no anchors.
 * Strings that a YAML 1.1 reader (Helm, go-yaml v2) would take for another type are quoted too,
 * so `"yes"`, `"0644"` and `"12:30"` stay strings for every reader.
 */
export function dumpYaml(value: unknown): string {
  return stringify(value, {
    lineWidth: 0,
    compat: 'yaml-1.1',
    aliasDuplicateObjects: false,
  });
}

/** Several values as one multi-document YAML stream. */
export function dumpYamlDocuments(values: readonly unknown[]): string {
  return values.map((value) => dumpYaml(value)).join('---\n');
}

function parseStream(text: string, source: string, options: Options): Document[] {
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    parsed = parseAllDocuments(text, options);
  } catch (error) {
    // Pathological input (e.g. nesting deep enough to exhaust the stack).
    throw new UserError(`${source}: not readable as YAML (${errorText(error)})`, { cause: error });
  }
  if (!Array.isArray(parsed)) {
    // An EmptyStream: nothing but comments or whitespace.
    return [];
  }
  for (const doc of parsed) {
    const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
    if (problem) throw yamlError(problem, source);
  }
  return parsed;
}

function toJs(doc: Document, source: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (error) {
    const reason = /excessive alias count/i.test(errorText(error))
      ? `too many alias expansions (more than ${MAX_ALIAS_COUNT}); refusing a possible billion-laughs document`
      : errorText(error);
    throw new UserError(`${source}: ${reason}`, { cause: error });
  }
}

function yamlError(error: YAMLError, source: string): UserError {
  const line = error.linePos?.[0].line;
  const reason = (error.message.split('\n')[0] ?? error.message).replace(
    / at line \d+, column \d+:?$/,
    '',
  );
  return new UserError(`${source}${line === undefined ? '' : ` line ${line}`}: ${reason}`, {
    cause: error,
  });
}

function checkJsonCompatible(value: unknown, source: string, path = ''): void {
  if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) return;
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkJsonCompatible(item, source, `${path}[${index}]`));
    return;
  }
  if (isPlainObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      checkJsonCompatible(item, source, path ? `${path}.${key}` : key);
    }
    return;
  }
  throw new UserError(
    `${source}: unsupported value at ${path || 'top level'} (${describeType(value)})`,
  );
}

function describeType(value: unknown): string {
  if (Array.isArray(value)) return 'a sequence';
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return `a ${typeof value}`;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
