import { isKubeObject, namespaceOf, type KubeObject } from '../k8s/object.ts';
import { isPlainObject, setOwn } from '../render/plain-object.ts';
import { dumpYaml, parseYamlDocuments } from '../render/yaml.ts';
import { maskMessageAbout, maskValuesPair } from './masking.ts';
import type { ObjectPair } from './object-change.ts';

/** kustomize's name hash suffix: `-` and 10 characters of its alphabet. */
const HASH_SUFFIX = /-[0-9a-z]{10}$/;

/**
 * ConfigMaps that hold Helm values files (a Flux bundle's `values.yaml`, which the HelmRelease
 * takes through `valuesFrom`) with those files masked by structure. maskPair sees a data entry as
 * one string and masks only credential-shaped text in it; here each YAML data entry that is one
 * mapping is parsed, masked with maskValuesPair (so `{name: DB_PASSWORD, value: …}` and keys such
 * as `apiToken` are masked for what they are) and written back as YAML. maskPair still runs on the
 * result; masked values are left alone by it.
 *
 * A values change gives the ConfigMap a new hashed name: the new one is created and the old one
 * deleted. Such a pair (same namespace, same name but for the hash) is masked against each other,
 * so a marker says whether that value changed. Pairs are not modified; new ones are returned.
 */
export function maskValuesConfigMaps(pairs: readonly ObjectPair[]): ObjectPair[] {
  const created = pairs.filter((p) => isConfigMap(p.desired) && p.live === null);
  const deleted = pairs.filter((p) => isConfigMap(p.live) && p.desired === null);
  const counterpart = (
    object: KubeObject,
    among: readonly ObjectPair[],
    side: 'live' | 'desired',
  ) => {
    const generation = generationOf(object);
    if (generation === undefined) return undefined;
    const found = among.filter((p) => generationOf(p[side] as KubeObject) === generation);
    return found.length === 1 ? (found[0]?.[side] as KubeObject) : undefined;
  };
  return pairs.map((original) => {
    // An API server's message about the object is masked by what the unmasked object hides:
    // once its values are masked here, they can no longer be recognised in the message.
    const pair = original.error
      ? { ...original, error: maskMessageAbout(original.error, original.live, original.desired) }
      : original;
    const live = isConfigMap(pair.live) ? pair.live : undefined;
    const desired = isConfigMap(pair.desired) ? pair.desired : undefined;
    if (live && desired) {
      const [l, d] = maskData(live, desired);
      return { ...pair, live: l, desired: d };
    }
    if (desired && pair.live === null) {
      return { ...pair, desired: maskData(counterpart(desired, deleted, 'live'), desired)[1] };
    }
    if (live && pair.desired === null) {
      return { ...pair, live: maskData(live, counterpart(live, created, 'desired'))[0] };
    }
    return pair;
  });
}

function isConfigMap(value: unknown): value is KubeObject {
  return isKubeObject(value) && value.kind === 'ConfigMap' && value.apiVersion === 'v1';
}

/** The ConfigMap's namespace and name without kustomize's hash suffix, if it has one. */
function generationOf(object: KubeObject): string | undefined {
  const name = object.metadata.name;
  if (!HASH_SUFFIX.test(name)) return undefined;
  return `${namespaceOf(object) ?? ''}/${name.replace(HASH_SUFFIX, '')}`;
}

/** Both sides' YAML data entries masked by structure; undefined sides stay undefined. */
function maskData(
  live: KubeObject | undefined,
  desired: KubeObject | undefined,
): [KubeObject | undefined, KubeObject | undefined] {
  const liveData = isPlainObject(live?.data) ? live.data : {};
  const desiredData = isPlainObject(desired?.data) ? desired.data : {};
  const outLive: Record<string, unknown> = { ...liveData };
  const outDesired: Record<string, unknown> = { ...desiredData };
  const keys = new Set([...Object.keys(liveData), ...Object.keys(desiredData)]);
  for (const key of keys) {
    if (!/\.ya?ml$/i.test(key)) continue;
    const l = Object.hasOwn(liveData, key) ? valuesOf(liveData[key]) : undefined;
    const d = Object.hasOwn(desiredData, key) ? valuesOf(desiredData[key]) : undefined;
    // A side that holds the entry but not as a values mapping is left to maskPair's text masking.
    if ((Object.hasOwn(liveData, key) && !l) || (Object.hasOwn(desiredData, key) && !d)) continue;
    const masked = maskValuesPair(l, d);
    if (l) setOwn(outLive, key, dumpYaml(masked.live));
    if (d) setOwn(outDesired, key, dumpYaml(masked.desired));
  }
  return [
    live && isPlainObject(live.data) ? { ...live, data: outLive } : live,
    desired && isPlainObject(desired.data) ? { ...desired, data: outDesired } : desired,
  ];
}

function valuesOf(text: unknown): Record<string, unknown> | undefined {
  if (typeof text !== 'string') return undefined;
  try {
    const docs = parseYamlDocuments(text, 'ConfigMap data');
    const [doc] = docs;
    return docs.length === 1 && isPlainObject(doc) ? doc : undefined;
  } catch {
    return undefined;
  }
}
