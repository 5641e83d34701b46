import { DagError, type ErrorKind } from '../errors.ts';

/**
 * Why a request to a cluster failed, in terms an operator can act on. The first three concern the
 * whole cluster (no other request can succeed either); the rest concern one object.
 */
export const CLUSTER_ERROR_REASONS = [
  'unreachable',
  'tls',
  'unauthorized',
  'forbidden',
  'crd-missing',
  'namespace-missing',
  'invalid',
  'conflict',
  'server-error',
  'unexpected',
] as const;
export type ClusterErrorReason = (typeof CLUSTER_ERROR_REASONS)[number];

const CLUSTER_WIDE: ReadonlySet<ClusterErrorReason> = new Set([
  'unreachable',
  'tls',
  'unauthorized',
]);

const KIND: Record<ClusterErrorReason, ErrorKind> = {
  unreachable: 'transient',
  tls: 'config',
  unauthorized: 'config',
  forbidden: 'config',
  'crd-missing': 'config',
  'namespace-missing': 'user',
  invalid: 'user',
  conflict: 'user',
  'server-error': 'transient',
  unexpected: 'internal',
};

/** The RBAC permission a 403 says DAG's service account lacks. */
export type MissingPermission = {
  verb: string;
  resource: string;
  /** '' for the core group. */
  group: string;
  /** undefined: cluster-scoped. */
  namespace: string | undefined;
};

/** One field the API server rejected (a 422's `details.causes`). */
export type FieldCause = { field: string | undefined; message: string; reason: string | undefined };

export type ClusterErrorOptions = {
  /** The cluster's name, as operators know it. */
  cluster: string;
  status?: number | undefined;
  cause?: unknown;
  permission?: MissingPermission | undefined;
  causes?: readonly FieldCause[] | undefined;
};

/** A failed request to a Kubernetes cluster. Messages name the cluster and never hold a token. */
export class ClusterError extends DagError {
  readonly reason: ClusterErrorReason;
  readonly cluster: string;
  readonly permission: MissingPermission | undefined;
  readonly causes: readonly FieldCause[];

  constructor(reason: ClusterErrorReason, message: string, options: ClusterErrorOptions) {
    super(KIND[reason], message, { cause: options.cause, status: options.status });
    this.reason = reason;
    this.cluster = options.cluster;
    this.permission = options.permission;
    this.causes = options.causes ?? [];
  }

  /** True when the whole cluster is out of reach, so trying further objects is pointless. */
  get clusterWide(): boolean {
    return CLUSTER_WIDE.has(this.reason);
  }
}

/** `patch deployments.apps in namespace staging`, `get namespaces (cluster-wide)`. */
export function describePermission(permission: MissingPermission): string {
  const resource = permission.group
    ? `${permission.resource}.${permission.group}`
    : permission.resource;
  const scope =
    permission.namespace === undefined ? '(cluster-wide)' : `in namespace ${permission.namespace}`;
  return `${permission.verb} ${resource} ${scope}`;
}
