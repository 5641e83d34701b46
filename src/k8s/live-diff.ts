import type { ClusterClient } from './cluster-client.ts';
import { ClusterError } from './cluster-error.ts';
import { normalizeObject, objectKey } from './normalize.ts';
import { namespaceOf, withNamespace, type KubeObject } from './object.ts';

type ObjectIdentity = {
  /** objectKey() of the object as sent (namespace filled in). */
  key: string;
  apiVersion: string;
  kind: string;
  name: string;
  /** undefined for cluster-scoped kinds. */
  namespace: string | undefined;
};

/**
 * One object of the bundle against the cluster. `live` and `desired` are normalized
 * (normalizeObject); `desired` is what the API server would store after DAG's apply, defaults and
 * other managers' fields included, so comparing the two shows only what the deploy would change.
 */
export type ObjectState = ObjectIdentity &
  (
    | {
        change: 'created';
        live?: undefined;
        desired: KubeObject;
        /** Set when `desired` is the object as rendered, not as the server would default it. */
        note?: string;
        error?: undefined;
      }
    | { change: 'changed' | 'unchanged'; live: KubeObject; desired: KubeObject; error?: undefined }
    | { change: 'failed'; live?: undefined; desired?: undefined; error: ClusterError }
  );

/**
 * The bundle against the cluster. `ok: false` means the cluster itself could not be used
 * (unreachable, TLS, token rejected): `error` says why, once, and `objects` holds only those
 * compared before it happened. Errors about one object (forbidden, invalid, CRD missing...) are
 * in that object's entry and do not stop the others.
 */
export type LiveState =
  { ok: true; objects: ObjectState[] } | { ok: false; error: ClusterError; objects: ObjectState[] };

/**
 * What deploying `objects` would change on the cluster, like `kubectl diff --server-side`: each
 * object is read and server-side applied with dryRun=All, both normalized. Objects without a
 * namespace get `defaultNamespace` when their kind is namespaced.
 */
export async function liveState(
  client: ClusterClient,
  objects: readonly KubeObject[],
  defaultNamespace: string,
): Promise<LiveState> {
  const states: ObjectState[] = [];
  for (const original of objects) {
    let object = original;
    try {
      object = await inNamespace(client, original, defaultNamespace);
      states.push(await compare(client, object, objects));
    } catch (error) {
      if (!(error instanceof ClusterError)) throw error;
      if (error.clusterWide) return { ok: false, error, objects: states };
      states.push({ ...identity(object), change: 'failed', error });
    }
  }
  return { ok: true, objects: states };
}

async function inNamespace(
  client: ClusterClient,
  object: KubeObject,
  defaultNamespace: string,
): Promise<KubeObject> {
  if (namespaceOf(object)) return object;
  const namespaced = await client.isNamespaced(object.apiVersion, object.kind);
  return namespaced ? withNamespace(object, defaultNamespace) : object;
}

async function compare(
  client: ClusterClient,
  object: KubeObject,
  bundle: readonly KubeObject[],
): Promise<ObjectState> {
  const id = identity(object);
  const liveObject = await client.read(object);
  let desired: KubeObject;
  try {
    desired = normalizeObject(await client.dryRunApply(object));
  } catch (error) {
    // A namespace the same bundle creates does not exist yet, so the API server cannot dry-run
    // objects in it; they are all new, shown as rendered.
    if (
      error instanceof ClusterError &&
      error.reason === 'namespace-missing' &&
      id.namespace !== undefined &&
      createsNamespace(bundle, id.namespace)
    ) {
      return {
        ...id,
        change: 'created',
        desired: normalizeObject(object),
        note: `namespace ${id.namespace} is created by this deploy, so the server's defaults are not shown`,
      };
    }
    throw error;
  }
  if (!liveObject) return { ...id, change: 'created', desired };
  const live = normalizeObject(liveObject);
  const change = JSON.stringify(live) === JSON.stringify(desired) ? 'unchanged' : 'changed';
  return { ...id, change, live, desired };
}

function createsNamespace(bundle: readonly KubeObject[], namespace: string): boolean {
  return bundle.some(
    (o) => o.apiVersion === 'v1' && o.kind === 'Namespace' && o.metadata.name === namespace,
  );
}

function identity(object: KubeObject): ObjectIdentity {
  return {
    key: objectKey(object),
    apiVersion: object.apiVersion,
    kind: object.kind,
    name: object.metadata.name,
    namespace: namespaceOf(object),
  };
}
