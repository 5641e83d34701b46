import { isPlainObject } from '../render/plain-object.ts';

/** Who a Kubernetes object is, as shown in diffs and comments. */
export type ObjectRef = {
  /** `Deployment.apps/prod/web`, `Secret/prod/db`, `ClusterRole.rbac.authorization.k8s.io/view`. */
  key: string;
  kind: string;
  /** null for cluster-scoped objects. */
  namespace: string | null;
  name: string;
  /** `Deployment/prod/web` (or `ClusterRole/view`): the diff header after `live/`/`desired/`. */
  path: string;
};

/** An object's identity from its apiVersion, kind and metadata; tolerant of malformed objects. */
export function objectRef(object: unknown): ObjectRef {
  const value = isPlainObject(object) ? object : {};
  const metadata = isPlainObject(value.metadata) ? value.metadata : {};
  const kind = text(value.kind) ?? 'Unknown';
  const apiVersion = text(value.apiVersion) ?? '';
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  const namespace = text(metadata.namespace) ?? null;
  const name = text(metadata.name) ?? text(metadata.generateName) ?? '(unnamed)';
  const scoped = namespace === null ? [name] : [namespace, name];
  return {
    key: [group ? `${kind}.${group}` : kind, ...scoped].join('/'),
    kind,
    namespace,
    name,
    path: [kind, ...scoped].join('/'),
  };
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
