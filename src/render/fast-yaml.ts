// A faster reader for the plain block YAML that Kubernetes tools print (`kubectl get -o yaml`, a
// dry-run's result, DAG's own dumps), for the diff preview, which reads two documents per object
// and thousands of objects. Three readers, fastest first: `readBlockYaml` (src/render/
// block-yaml.ts), a hand-written line reader for the common subset (about four times faster than
// js-yaml here); js-yaml, about eight times faster than the `yaml` library; and the `yaml` library
// (`parseYamlDocuments`). The result must be exactly what `parseYamlDocuments` (src/render/
// yaml.ts, YAML 1.2; Helm values files, read as YAML 1.1, do not come here) gives, so for js-yaml:
// - plain scalars resolve through the `yaml` library's own YAML 1.2 core tags (its tests and
//   resolvers, in its order), not through js-yaml's types (which take `1_000` and timestamps);
// - text with anything where the two readers could differ goes to `parseYamlDocuments` instead
//   (`FALLBACK`): anchors and aliases (the `yaml` path keeps its alias limit), tags, merge keys,
//   directives, document markers, complex keys, flow collections with content or as keys (so
//   `managedFields`' `k:{...}` keys too), keys that resolve to null (the `yaml` library names
//   them `""`, js-yaml `"null"`), implicit keys of 1,024 characters or more (an error for the
//   `yaml` library only), quoted scalars over several lines, empty sequence entries, trailing
//   spaces, tabs, and control or Unicode line-break characters. A differential test with random
//   edits (test/render/fast-yaml.test.ts) found each of these;
// - anything js-yaml refuses (duplicate keys, bad indentation) goes there too, so errors read as
//   they always have.

import jsyaml from 'js-yaml';
import { isScalar } from 'yaml';
import { CORE_SCALARS, readBlockYaml } from './block-yaml.ts';
import { parseYamlDocuments } from './yaml.ts';

const noError = () => {};

/** js-yaml: every value a string, then those core tags for plain scalars, in the same order. */
const SCHEMA = jsyaml.FAILSAFE_SCHEMA.extend({
  implicit: CORE_SCALARS.map(
    (tag, index) =>
      new jsyaml.Type(`${tag.tag}#${index}`, {
        kind: 'scalar',
        resolve: (data: unknown) => typeof data === 'string' && tag.test.test(data),
        construct: (data: string) => {
          const value: unknown = tag.resolve(data, noError, {});
          return isScalar(value) ? value.value : value;
        },
      }),
  ),
});

/**
 * Places where the two readers might not agree (see the header). A test may match text that is
 * in fact harmless (inside a quoted string or a literal block): that text only takes the slower
 * path. Each pattern starts with the character it is about and looks behind from there: V8 then
 * skips quickly over the text between, where a pattern anchored at every line start would not.
 */
const FALLBACK = [
  // An anchor, alias or tag where a node may start, or a complex key.
  /[&*!](?<=(?:^|[\s[{,:])[&*!])|\?(?<=(?:^|\s)\?)(?=\s|$)/,
  // A flow collection with something in it, or one as a key.
  /[[{](?<=(?:^|[\s[{,:])[[{])(?![ ]*[\]}])|[[{](?<=(?:^|\n)[ ]*(?:-[ ]+)*[[{])[^\n]*:/,
  // A key that resolves to null: empty, `~`, `null`, `Null`, `NULL`.
  /:(?<=(?:^|\n)[ ]*(?:-[ ]+)*(?:~|[Nn]ull|NULL)?[ ]*:)(?=[ \n]|$)/,
  // A quoted scalar that may not end on its line (the `yaml` library checks the indentation of
  // its continuation lines, js-yaml does not), or one with a comment right after it.
  /"(?<=(?:^|[ \n])")(?:[^"\\\n]|\\.)*\\?(?=\n|$)|'(?<=(?:^|[ \n])')(?:[^'\n]|'')*(?=\n|$)|['"\]}]#/,
  // An empty or nested sequence entry (js-yaml nests what follows an empty one wrongly).
  /-(?<=(?:^|[ \n])-)[ ]*(?:#[^\n]*)?(?=\n|$)/,
  // Tabs, carriage returns, other control characters, NEL, LS, PS, BOM.
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff]/,
];

/**
 * Merge keys, `\U` escapes (js-yaml reads those past U+10FFFF), trailing spaces, and directives
 * and document markers at a line's start (js-yaml takes `---x` for one).
 */
const FALLBACK_TEXT = ['<<', '\\U', ' \n', '\n%', '\n---', '\n...'];

/** Implicit keys of 1,024 characters or more are an error for the `yaml` library only. */
const MAX_KEY = 1024;

function mayDiffer(text: string): boolean {
  if (!text.endsWith('\n') || /^(?:%|---|\.\.\.)/.test(text)) return true;
  if (FALLBACK_TEXT.some((part) => text.includes(part))) return true;
  // A colon 1,024 characters or more into a line: possibly a long implicit key.
  for (let start = 0; start < text.length;) {
    const end = text.indexOf('\n', start);
    if (end - start > MAX_KEY && text.lastIndexOf(':', end) >= start + MAX_KEY) return true;
    start = end + 1;
  }
  return FALLBACK.some((pattern) => pattern.test(text));
}

/**
 * Every document of a YAML stream as plain JavaScript values, exactly as `parseYamlDocuments`
 * returns them (and with its errors): through `readBlockYaml` or js-yaml for one plain block
 * document, through the `yaml` library for anything else.
 */
export function parseYamlDocumentsFast(text: string, source: string): unknown[] {
  const fast = fastDocument(text);
  return fast === undefined ? parseYamlDocuments(text, source) : [fast];
}

/**
 * The one document of `text` read by `readBlockYaml` or else js-yaml, or undefined where the
 * `yaml` path must read it.
 */
export function fastDocument(text: string): unknown {
  const block = readBlockYaml(text);
  if (block !== undefined) return block;
  if (mayDiffer(text)) return undefined;
  try {
    const value: unknown = jsyaml.load(text, { schema: SCHEMA });
    // Empty streams and null documents: `parseYamlDocuments` drops them.
    return value === null ? undefined : value;
  } catch {
    return undefined;
  }
}
