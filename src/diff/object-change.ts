import { isKubeObject } from '../k8s/object.ts';
import { dropNoise } from '../k8s/normalize.ts';
import { isPlainObject } from '../render/plain-object.ts';
import { parseYamlDocumentsFast } from '../render/fast-yaml.ts';
import type { ObjectDiff } from './comment-model.ts';
import { maskDiffText, maskPrintedDiff } from './mask-text.ts';
import { hasSecretKey, maskMessageAbout } from './masking.ts';
import { shownDiff } from './shown-diff.ts';
import { objectRef } from './object-ref.ts';
import type { DiffObjectsOptions } from './unified.ts';
import { diffObjects } from './unified.ts';

/** A live object and what the dry-run says it would become; null on the side it is missing. */
export type ObjectPair = { live: unknown; desired: unknown; error?: string };

/**
 * The same pair as YAML text, one document a side (null: missing), as it crosses to a worker
 * thread: parsed and normalized (`normalizeObject`) there.
 */
export type YamlObjectPair = {
  liveYaml: string | null;
  desiredYaml: string | null;
  error?: string;
};

/**
 * One object's entry in the preview, classified as created, changed, deleted or unchanged. Equal
 * sides are unchanged without more work; only the others are masked and diffed (`diffObjects`).
 */
export function objectChange(pair: ObjectPair, options: DiffObjectsOptions = {}): ObjectDiff {
  const live = pair.live ?? null;
  const desired = pair.desired ?? null;
  const ref = objectRef(desired ?? live);
  const base = { key: ref.key, kind: ref.kind, namespace: ref.namespace, name: ref.name };
  // An API server's message may echo a field's value: masked by what the objects hide.
  const error = pair.error ? { error: maskMessageAbout(pair.error, live, desired) } : {};
  if (live === null && desired === null) return { ...base, change: 'unchanged', ...error };
  if (live !== null && desired !== null && sameValue(live, desired)) {
    return { ...base, change: 'unchanged', ...error };
  }
  const diff = diffObjects(live, desired, options);
  const change =
    live === null
      ? 'created'
      : desired === null
        ? 'deleted'
        : diff.text === ''
          ? 'unchanged'
          : 'changed';
  if (diff.text === '') return { ...base, change, ...error };
  // Masked by structure (`diffObjects`), then by line where that can still find something: the
  // headers and bare base64 lines, or every line when a key holds a secret (`maskPrintedDiff`).
  // Made ready for its code block here too, on the preview's worker threads.
  const lines =
    hasSecretKey(live) || hasSecretKey(desired)
      ? maskDiffText(diff.text)
      : maskPrintedDiff(diff.text);
  const { code, ...shown } = shownDiff(lines);
  return { ...base, change, diff: code, shown, ...error };
}

/**
 * `objectChange` of a pair given as YAML text. Identical texts are unchanged without parsing; a
 * side that does not parse as one object makes the entry an error, not the whole preview.
 */
export function yamlObjectChange(
  pair: YamlObjectPair,
  options: DiffObjectsOptions = {},
): ObjectDiff {
  const { liveYaml, desiredYaml } = pair;
  let live: unknown = null;
  let desired: unknown = null;
  try {
    desired = desiredYaml === null ? null : parseObject(desiredYaml, 'desired');
    if (liveYaml !== null)
      live = liveYaml === desiredYaml ? desired : parseObject(liveYaml, 'live');
  } catch (error) {
    const ref = objectRef(desired ?? live);
    return {
      key: ref.key,
      kind: ref.kind,
      namespace: ref.namespace,
      name: ref.name,
      change: 'unchanged',
      error: [pair.error, error instanceof Error ? error.message : String(error)]
        .filter(Boolean)
        .join('; '),
    };
  }
  return objectChange({ live, desired, ...(pair.error ? { error: pair.error } : {}) }, options);
}

function parseObject(text: string, side: string): unknown {
  const docs = parseYamlDocumentsFast(text, `the ${side} object`);
  if (docs.length !== 1) {
    throw new Error(`the ${side} object is ${docs.length} YAML documents, not one`);
  }
  const [doc] = docs;
  // The parsed object is this function's own, and its key order does not matter (compared
  // ignoring order, printed sorted): the noise is deleted in place, without `normalizeObject`'s
  // sorted copy.
  return isKubeObject(doc) ? dropNoise(doc) : doc;
}

/** Deep equality of JSON-like values, ignoring the order of mapping keys. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key) || !sameValue(a[key], b[key])) return false;
  }
  return true;
}

/**
 * The entries with their diffs kept, in order, until `maxChars` of diff text are kept; each later
 * diff is dropped (`diffOmitted` says how long it was). What is dropped lies beyond what any
 * comment or check run can show, so the preview's memory stays bounded by what is shown.
 */
export function keepDiffsWithin(objects: ObjectDiff[], maxChars: number): ObjectDiff[] {
  let kept = 0;
  return objects.map((object) => {
    if (object.diff === undefined) return object;
    if (kept + object.diff.length <= maxChars) {
      kept += object.diff.length;
      return object;
    }
    kept = maxChars;
    const { diff, ...rest } = object;
    delete rest.shown;
    return { ...rest, diffOmitted: diff.length };
  });
}
