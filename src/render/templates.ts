import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';
import { ConfigError } from '../errors.ts';
import { findFieldLine, findRawSplice } from './template-safety.ts';
import { MissingFieldError, strictContext, unwrapStrict } from './strict-context.ts';
import { dumpYaml } from './yaml.ts';

/** DAG's own templates folder, shipped next to `src/`. */
export const DAG_TEMPLATES_DIR = fileURLToPath(new URL('../../templates/', import.meta.url));

/**
 * One file of a templates folder, keyed by its output name: the path under the folder without a
 * trailing `.hbs`. Only `*.hbs` files are Handlebars; every other file (a Helm chart's own
 * `{{ .Values }}` templates, for one) is copied verbatim.
 */
export type TemplateEntry =
  | { kind: 'handlebars'; name: string; file: string; render: (context: object) => string }
  | { kind: 'verbatim'; name: string; file: string; content: string };

export type Templates = {
  /** Output name (POSIX path relative to the templates folder) -> entry, sorted by name. */
  readonly entries: ReadonlyMap<string, TemplateEntry>;
};

const COMPILE_OPTIONS = {
  strict: true,
  noEscape: true,
  knownHelpersOnly: true,
  knownHelpers: { yaml: true, json: true, indent: true, shortSha: true },
} as const;

/**
 * Reads and compiles every template, once, at start (synchronously: nothing else runs yet).
 * `templatesDir` is an operator's own folder: its files replace DAG's file for file, and DAG's
 * fill in whatever it lacks. A template that does not compile, or that splices a value raw into
 * YAML, fails here with its file and line.
 */
export function loadTemplates(
  templatesDir?: string | null,
  defaultsDir: string = DAG_TEMPLATES_DIR,
): Templates {
  const handlebars = createTemplateHandlebars();
  const entries = new Map<string, TemplateEntry>();
  const folders = templatesDir ? [defaultsDir, templatesDir] : [defaultsDir];
  for (const folder of folders) {
    for (const entry of loadFolder(handlebars, folder)) entries.set(entry.name, entry);
  }
  const sorted = new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return { entries: sorted };
}

/** The entries under `folder/` (e.g. `flux`), with the folder prefix removed from their names. */
export function templatesUnder(templates: Templates, folder: string): TemplateEntry[] {
  const prefix = `${folder.replace(/\/+$/, '')}/`;
  return [...templates.entries.values()]
    .filter((entry) => entry.name.startsWith(prefix))
    .map((entry) => ({ ...entry, name: entry.name.slice(prefix.length) }));
}

/** An entry's text: rendered over `context`, or its verbatim content. Errors name the file. */
export function renderTemplate(entry: TemplateEntry, context: object): string {
  return entry.kind === 'verbatim' ? entry.content : entry.render(context);
}

/** A Handlebars instance of DAG's own: strict, unescaped, with value-quoting helpers only. */
export function createTemplateHandlebars(): typeof Handlebars {
  const handlebars = Handlebars.create();
  handlebars.unregisterHelper('log');
  handlebars.registerHelper('yaml', (...args: unknown[]) => {
    const [value] = helperArgs('yaml', args, 1);
    return jsonText('yaml', value, args);
  });
  handlebars.registerHelper('json', (...args: unknown[]) => {
    const [value] = helperArgs('json', args, 1);
    return jsonText('json', value, args);
  });
  handlebars.registerHelper('indent', (...args: unknown[]) => indentedBlock(args));
  handlebars.registerHelper('shortSha', (...args: unknown[]) => {
    const [sha] = helperArgs('shortSha', args, 1);
    if (typeof sha !== 'string') throw helperError('shortSha: expects a commit sha string', args);
    return sha.slice(0, 7);
  });
  return handlebars;
}

/**
 * `{{yaml x}}` / `{{json x}}`: the value as JSON, which is also a YAML flow scalar or collection.
 * A string such as `"x\nevil: true"` or `"{{"` stays one quoted string; Handlebars never
 * re-evaluates a helper's output.
 */
function jsonText(helper: string, value: unknown, args: unknown[]): string {
  const text = value === undefined ? undefined : JSON.stringify(value);
  if (text === undefined) {
    throw helperError(`${helper}: the value is undefined or not serializable`, args);
  }
  return text;
}

/**
 * `{{indent n x}}`: the value as block YAML, every line indented by n spaces and starting on a new
 * line (like Helm's `toYaml x | nindent n`). Scalars and empty collections stay on the key's line.
 * Usage: `  values:{{indent 4 values}}`.
 */
function indentedBlock(args: unknown[]): string {
  const [count, value] = helperArgs('indent', args, 2);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 64) {
    throw helperError('indent: the first argument must be a number of spaces (0-64)', args);
  }
  const isEmpty =
    value === null ||
    typeof value !== 'object' ||
    (Array.isArray(value) ? value.length === 0 : Object.keys(value).length === 0);
  if (isEmpty) return ` ${jsonText('indent', value, args)}`;
  const pad = ' '.repeat(count);
  const lines = dumpYaml(value).replace(/\n$/, '').split('\n');
  return lines.map((line) => `\n${line === '' ? '' : pad + line}`).join('');
}

/** Handlebars passes its options object last; a call must give exactly `count` arguments. */
function helperArgs(helper: string, args: unknown[], count: number): unknown[] {
  const values = args.slice(0, -1).map(unwrapStrict);
  if (values.length !== count) {
    throw helperError(`${helper}: expects ${count} argument(s), got ${values.length}`, args);
  }
  return values;
}

/** An error carrying the helper call's line, which Handlebars passes in `options.loc`. */
function helperError(message: string, args: unknown[]): Error {
  const options = args.at(-1) as { loc?: { start?: { line?: number } } } | undefined;
  return Object.assign(new Error(message), { lineNumber: options?.loc?.start?.line });
}

function loadFolder(handlebars: typeof Handlebars, folder: string): TemplateEntry[] {
  const info = statSync(folder, { throwIfNoEntry: false });
  if (!info?.isDirectory()) throw new ConfigError(`templates folder ${folder} does not exist`);
  const dirents = readdirSync(folder, { recursive: true, withFileTypes: true });
  const files = dirents
    .filter((dirent) => dirent.isFile())
    .map((dirent) => path.join(dirent.parentPath, dirent.name))
    .sort();
  const entries: TemplateEntry[] = [];
  for (const file of files) {
    const relative = path.relative(folder, file).split(path.sep).join('/');
    const content = readFileSync(file, 'utf8');
    if (!relative.endsWith('.hbs')) {
      entries.push({ kind: 'verbatim', name: relative, file, content });
      continue;
    }
    const name = relative.slice(0, -'.hbs'.length);
    entries.push({
      kind: 'handlebars',
      name,
      file,
      render: compileFile(handlebars, file, name, content),
    });
  }
  return entries;
}

function compileFile(
  handlebars: typeof Handlebars,
  file: string,
  name: string,
  source: string,
): (context: object) => string {
  let ast: hbs.AST.Program;
  let template: (context: object) => string;
  try {
    ast = handlebars.parse(source);
    if (/\.ya?ml$/.test(name)) {
      const problem = findRawSplice(ast);
      if (problem) throw new ConfigError(`${file} line ${problem.line}: ${problem.message}`);
    }
    // compile() is lazy; precompile() runs the whole compiler now, so errors surface at start.
    handlebars.precompile(source, COMPILE_OPTIONS);
    template = handlebars.compile(source, COMPILE_OPTIONS);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`${file}${describeHandlebarsError(error)}`, { cause: error });
  }
  return (context) => {
    try {
      return template(strictContext(context));
    } catch (error) {
      if (error instanceof MissingFieldError) {
        const line = findFieldLine(ast, error.field);
        throw new ConfigError(`${file}${line === null ? '' : ` line ${line}`}: ${error.message}`, {
          cause: error,
        });
      }
      throw new ConfigError(`${file}${describeHandlebarsError(error)}`, { cause: error });
    }
  };
}

/** ` line 3: reason` from a Handlebars parse, compile or runtime error. */
function describeHandlebarsError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const located = error as { lineNumber?: unknown };
  const parseLine = /^Parse error on line (\d+):/.exec(message)?.[1];
  const line = typeof located.lineNumber === 'number' ? located.lineNumber : parseLine;
  const reason = message
    .replace(/^Parse error on line \d+:\n?/, '')
    .replace(/ - \d+:\d+$/, '')
    .replace(/\n/g, ' ');
  return `${line === undefined ? '' : ` line ${line}`}: ${reason}`;
}
