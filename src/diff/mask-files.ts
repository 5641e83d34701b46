import { isKubeObject } from '../k8s/object.ts';
import { objectKey } from '../k8s/normalize.ts';
import { dumpYamlDocuments, parseYamlDocuments } from '../render/yaml.ts';
import { maskPair, maskValuesPair } from './masking.ts';

/**
 * Both sides of an IAC file, masked by structure before they are diffed as text: a YAML file's
 * documents are parsed and masked as what they are (a Kubernetes object with maskPair, matched
 * across the two sides by kind, namespace and name; anything else, such as a values file, with
 * maskValuesPair, matched by position), then written back as YAML. So a value is masked for
 * what it belongs to (`{name: DB_PASSWORD, value: …}` in an env list, a key named `apiToken`),
 * which a line-by-line look cannot see. A side that is not YAML, or does not parse, is left to
 * the caller's line masker (`null`).
 */
export function maskYamlFilePair(
  path: string,
  before: string | undefined,
  after: string | undefined,
): { before: string | undefined; after: string | undefined } | null {
  if (!/\.ya?ml$/i.test(path)) return null;
  const parse = (text: string | undefined) => {
    if (text === undefined) return [];
    try {
      return parseYamlDocuments(text, path);
    } catch {
      return undefined;
    }
  };
  const old = parse(before);
  const next = parse(after);
  if (old === undefined || next === undefined) return null;

  const oldByKey = new Map<string, unknown>();
  for (const doc of old) if (isKubeObject(doc)) oldByKey.set(objectKey(doc), doc);
  const newByKey = new Map<string, unknown>();
  for (const doc of next)
    if (isKubeObject(doc) && !newByKey.has(objectKey(doc))) newByKey.set(objectKey(doc), doc);

  const maskedNew = next.map((doc, i) => {
    if (isKubeObject(doc)) return maskPair(oldByKey.get(objectKey(doc)), doc).desired;
    const other = old[i];
    return maskValuesPair(isKubeObject(other) ? undefined : other, doc).desired;
  });
  const maskedOld = old.map((doc, i) => {
    if (isKubeObject(doc)) return maskPair(doc, newByKey.get(objectKey(doc))).live;
    const other = next[i];
    return maskValuesPair(doc, isKubeObject(other) ? undefined : other).live;
  });
  return {
    before: before === undefined ? undefined : dumpYamlDocuments(maskedOld),
    after: after === undefined ? undefined : dumpYamlDocuments(maskedNew),
  };
}
