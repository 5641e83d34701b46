import { isRecord, namespaceOf, type KubeObject } from './object.ts';

/** Metadata the API server writes, which says nothing about what the object asks for. */
const SERVER_METADATA = [
  'managedFields',
  'resourceVersion',
  'uid',
  'generation',
  'creationTimestamp',
  'selfLink',
] as const;

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The object without what `kubectl diff` treats as noise: server-written metadata, `status`, the
 * last-applied annotation (and annotation or label maps left empty), with every map's keys sorted
 * so equal objects serialize equally. Lists keep their order: it is meaningful. Pure: the input is
 * not changed.
 */
export function normalizeObject(object: KubeObject): KubeObject {
  return dropNoise(sortKeys(object) as KubeObject);
}

/**
 * `normalizeObject` without sorting or copying: the noise is deleted from `object` itself. For an
 * object the caller owns and whose key order does not matter (the diff preview's freshly parsed
 * objects, which are compared ignoring order and printed with sorted keys).
 */
export function dropNoise(object: KubeObject): KubeObject {
  delete object.status;
  const metadata = object.metadata;
  for (const key of SERVER_METADATA) delete metadata[key];
  if (isRecord(metadata.annotations)) delete metadata.annotations[LAST_APPLIED];
  for (const key of ['annotations', 'labels']) {
    const map = metadata[key];
    if (map === null || (isRecord(map) && Object.keys(map).length === 0)) delete metadata[key];
  }
  return object;
}

/** `apiVersion/kind/namespace/name`, or `apiVersion/kind/name` for an object without namespace. */
export function objectKey(object: KubeObject): string {
  const namespace = namespaceOf(object);
  return [
    object.apiVersion,
    object.kind,
    ...(namespace ? [namespace] : []),
    object.metadata.name,
  ].join('/');
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isRecord(value)) return value;
  // fromEntries defines own properties, so a `__proto__` key stays a plain key.
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortKeys(value[key])]),
  );
}
