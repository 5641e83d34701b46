import { isMap, isScalar, parseDocument } from 'yaml';
import type { Document } from 'yaml';
import { isPlainObject, setOwn } from '../render/plain-object.ts';
import { dumpYaml, parseValuesFile } from '../render/yaml.ts';

/**
 * RFC 7386 JSON merge patch: `patch` onto `target`, neither changed. An object patch merges key
 * by key (`null` removes a key); anything else replaces the target.
 */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = {};
  if (isPlainObject(target))
    for (const [key, value] of Object.entries(target)) setOwn(out, key, value);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else setOwn(out, key, applyMergePatch(out[key], value));
  }
  return out;
}

/**
 * A values file with a merge patch applied, as text. The file is edited in place through the
 * `yaml` Document API, so comments, key order and the formatting of what the patch leaves alone
 * survive; a key the patch sets is written in the style of DAG's YAML writer (block style,
 * strings quoted where YAML 1.1 would read them as another type). When the edited document does
 * not read back as exactly the patched values (an unusual key such as a number, an alias the edit
 * would break), or there is no file yet, the values are written afresh with `dumpYaml`, without
 * comments. `before` must already have been read by parseValuesFile (it throws what that throws).
 */
export function patchValuesText(
  before: string | undefined,
  patch: Record<string, unknown>,
  source: string,
): { text: string; values: Record<string, unknown>; keptComments: boolean } {
  const current = before === undefined ? {} : parseValuesFile(before, source);
  const values = applyMergePatch(current, patch) as Record<string, unknown>;
  const fresh = { text: dumpYaml(values), values, keptComments: false };
  if (before === undefined || before.trim() === '') return fresh;
  const doc = parseDocument(before, { version: '1.1', uniqueKeys: true, logLevel: 'silent' });
  if (!isMap(doc.contents)) return fresh;
  editDocument(doc, [], patch);
  const text = doc.toString({ lineWidth: 0 });
  let reread: unknown;
  try {
    reread = parseValuesFile(text, source);
  } catch {
    return fresh;
  }
  if (JSON.stringify(reread) !== JSON.stringify(values)) return fresh;
  return { text, values, keptComments: true };
}

function editDocument(doc: Document, path: string[], patch: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(patch)) {
    const at = [...path, key];
    if (value === null) {
      doc.deleteIn(at);
      continue;
    }
    const node = doc.getIn(at, true);
    if (isPlainObject(value) && isMap(node)) {
      editDocument(doc, at, value);
    } else if (isScalar(node) && !isPlainObject(value) && !Array.isArray(value)) {
      // A scalar keeps its node, and so the comments on its line; its quoting is chosen anew.
      node.value = value;
      node.type = undefined;
    } else {
      // A new mapping is written without the patch's nulls (they remove nothing there).
      doc.setIn(at, doc.createNode(applyMergePatch(undefined, value)));
    }
  }
}
