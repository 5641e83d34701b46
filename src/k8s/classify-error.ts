import { ApiException } from '@kubernetes/client-node';
import { z } from 'zod';
import { errorMessage } from '../errors.ts';
import {
  ClusterError,
  describePermission,
  type FieldCause,
  type MissingPermission,
} from './cluster-error.ts';
import { groupOf } from './object.ts';

/** What DAG was doing when a request failed: enough to say what went wrong and what to fix. */
export type FailedRequest = {
  cluster: { name: string; apiUrl: string; hasCa: boolean };
  timeoutMs: number;
  verb: 'get' | 'patch' | 'discover';
  apiVersion: string;
  kind: string;
  name?: string | undefined;
  namespace?: string | undefined;
};

/** A Kubernetes `Status` body, as far as DAG reads it. */
const statusBody = z.looseObject({
  kind: z.literal('Status'),
  message: z.string().optional(),
  reason: z.string().optional(),
  code: z.number().optional(),
  details: z
    .looseObject({
      name: z.string().optional(),
      group: z.string().optional(),
      kind: z.string().optional(),
      causes: z
        .array(
          z.looseObject({
            field: z.string().optional(),
            message: z.string().optional(),
            reason: z.string().optional(),
          }),
        )
        .optional(),
    })
    .optional(),
});
export type StatusBody = z.infer<typeof statusBody>;

const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);
const EXPIRED_CERTIFICATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const NETWORK = new Map([
  ['ECONNREFUSED', 'connection refused'],
  ['ENOTFOUND', 'host not found'],
  ['EAI_AGAIN', 'DNS lookup failed'],
  ['ETIMEDOUT', 'connection timed out'],
  ['ECONNRESET', 'connection reset'],
  ['EHOSTUNREACH', 'host unreachable'],
  ['ENETUNREACH', 'network unreachable'],
  ['EPIPE', 'connection closed'],
  ['UND_ERR_CONNECT_TIMEOUT', 'connection timed out'],
  ['UND_ERR_HEADERS_TIMEOUT', 'no answer in time'],
  ['UND_ERR_BODY_TIMEOUT', 'no answer in time'],
  ['UND_ERR_SOCKET', 'connection closed'],
  ['UND_ERR_CLOSED', 'connection closed'],
]);

/** The API server's `Status` in a failed response, if it sent one. */
export function statusOf(error: unknown): StatusBody | undefined {
  if (!(error instanceof ApiException)) return undefined;
  let body: unknown = error.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const parsed = statusBody.safeParse(body);
  return parsed.success ? parsed.data : undefined;
}

/** Turns whatever a request to a cluster threw into a ClusterError that says what to fix. */
export function classifyClusterError(error: unknown, request: FailedRequest): ClusterError {
  if (error instanceof ClusterError) return error;
  if (error instanceof ApiException) return fromResponse(error, request);
  return fromTransport(error, request);
}

function fromTransport(error: unknown, request: FailedRequest): ClusterError {
  const { cluster } = request;
  const options = { cluster: cluster.name, cause: error };
  const codes: string[] = [];
  const names: string[] = [];
  for (let e: unknown = error, depth = 0; e && depth < 8; depth += 1) {
    const { code, name, cause } = e as { code?: unknown; name?: unknown; cause?: unknown };
    if (typeof code === 'string') codes.push(code);
    if (typeof name === 'string') names.push(name);
    e = cause;
  }
  const tlsCode = codes.find(
    (c) =>
      UNTRUSTED_CERTIFICATE.has(c) ||
      EXPIRED_CERTIFICATE.has(c) ||
      c === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
      c.startsWith('ERR_SSL_') ||
      c === 'EPROTO',
  );
  if (tlsCode && UNTRUSTED_CERTIFICATE.has(tlsCode)) {
    const message = cluster.hasCa
      ? `the cluster's certificate does not match the CA configured for cluster ${cluster.name} (${tlsCode}); check the cluster's CA certificate`
      : `cluster ${cluster.name} has no CA configured and its certificate is not signed by a CA the system trusts (${tlsCode}); add the cluster's CA certificate`;
    return new ClusterError('tls', message, options);
  }
  if (tlsCode && EXPIRED_CERTIFICATE.has(tlsCode)) {
    return new ClusterError(
      'tls',
      `the certificate of cluster ${cluster.name} is expired or not yet valid (${tlsCode})`,
      options,
    );
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ClusterError(
      'tls',
      `the certificate of cluster ${cluster.name} is not valid for ${hostOf(cluster.apiUrl)} (${tlsCode}); check its API URL`,
      options,
    );
  }
  if (tlsCode) {
    return new ClusterError(
      'tls',
      `the TLS handshake with cluster ${cluster.name} at ${cluster.apiUrl} failed (${tlsCode})`,
      options,
    );
  }
  if (names.includes('TimeoutError') || names.includes('AbortError')) {
    return new ClusterError(
      'unreachable',
      `cluster ${cluster.name} is unreachable: no answer from ${cluster.apiUrl} within ${formatMs(request.timeoutMs)}`,
      options,
    );
  }
  const networkCode = codes.find((c) => NETWORK.has(c));
  if (networkCode) {
    return new ClusterError(
      'unreachable',
      `cluster ${cluster.name} is unreachable at ${cluster.apiUrl}: ${NETWORK.get(networkCode)} (${networkCode})`,
      options,
    );
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    return new ClusterError(
      'unreachable',
      `cluster ${cluster.name} is unreachable at ${cluster.apiUrl}: ${errorMessage(error.cause)}`,
      options,
    );
  }
  return new ClusterError(
    'unexpected',
    `unexpected error talking to cluster ${cluster.name}: ${errorMessage(error)}`,
    options,
  );
}

function fromResponse(error: ApiException<unknown>, request: FailedRequest): ClusterError {
  const { cluster } = request;
  const status = statusOf(error);
  const serverMessage = status?.message ?? `HTTP ${error.code}`;
  const options = { cluster: cluster.name, status: error.code, cause: error };
  const subject = describeObject(request);
  switch (error.code) {
    case 401:
      return new ClusterError(
        'unauthorized',
        `cluster ${cluster.name} rejected DAG's service-account token (401 Unauthorized): it is wrong, expired or revoked`,
        options,
      );
    case 403: {
      const permission = missingPermission(status, request);
      return new ClusterError(
        'forbidden',
        `cluster ${cluster.name} refused to ${request.verb === 'discover' ? 'list the API resources for' : request.verb} ${subject}: ${serverMessage}. DAG's service account needs the RBAC permission: ${describePermission(permission)}`,
        { ...options, permission },
      );
    }
    case 404:
      if (request.verb === 'patch' && status?.details?.kind === 'namespaces') {
        const namespace = status.details.name ?? request.namespace ?? '';
        return new ClusterError(
          'namespace-missing',
          `namespace ${namespace} does not exist on cluster ${cluster.name}, so ${subject} cannot be created in it`,
          options,
        );
      }
      return crdMissing(request, error);
    case 409:
      return new ClusterError('conflict', `cluster ${cluster.name}: ${subject}: ${serverMessage}`, {
        ...options,
        causes: causesOf(status),
      });
    case 400:
    case 422: {
      const causes = causesOf(status);
      const missing = causes
        .map((c) => (c.field ? `${c.field}: ${c.message}` : c.message))
        .filter((text) => !serverMessage.includes(text));
      const detail = missing.length > 0 ? ` (${missing.join('; ')})` : '';
      return new ClusterError(
        'invalid',
        `cluster ${cluster.name} rejected ${subject}: ${serverMessage}${detail}`,
        { ...options, causes },
      );
    }
    default:
      if (error.code === 429 || error.code >= 500) {
        return new ClusterError(
          'server-error',
          `cluster ${cluster.name} answered ${error.code}${status?.reason ? ` ${status.reason}` : ''} for ${subject}: ${serverMessage}`,
          options,
        );
      }
      return new ClusterError(
        'unexpected',
        `cluster ${cluster.name} answered ${error.code} for ${subject}: ${serverMessage}`,
        options,
      );
  }
}

/** The kind is not served: a 404 from discovery, or "the server could not find the requested resource". */
export function crdMissing(request: FailedRequest, cause?: unknown): ClusterError {
  const group = groupOf(request.apiVersion);
  const builtIn = group === '' || !group.includes('.') || group.endsWith('.k8s.io');
  const why = builtIn
    ? 'this Kubernetes version does not serve that API'
    : 'its CustomResourceDefinition is not installed';
  return new ClusterError(
    'crd-missing',
    `cluster ${request.cluster.name} does not serve ${request.apiVersion} ${request.kind}: ${why}`,
    { cluster: request.cluster.name, status: 404, cause },
  );
}

const FORBIDDEN_MESSAGE =
  /cannot (\S+) resource "([^"]+)" in API group "([^"]*)"(?: in the namespace "([^"]+)")?/;

function missingPermission(
  status: StatusBody | undefined,
  request: FailedRequest,
): MissingPermission {
  const match = FORBIDDEN_MESSAGE.exec(status?.message ?? '');
  if (match) {
    return { verb: match[1]!, resource: match[2]!, group: match[3]!, namespace: match[4] };
  }
  return {
    verb: request.verb === 'discover' ? 'get' : request.verb,
    resource: status?.details?.kind ?? `${request.kind.toLowerCase()}s`,
    group: status?.details?.group ?? groupOf(request.apiVersion),
    namespace: request.namespace,
  };
}

function causesOf(status: StatusBody | undefined): FieldCause[] {
  return (status?.details?.causes ?? []).map((c) => ({
    field: c.field,
    message: c.message ?? c.reason ?? 'invalid',
    reason: c.reason,
  }));
}

/** `Deployment staging/web`, `Namespace staging`, or `apps/v1 Deployment` for discovery. */
function describeObject(request: FailedRequest): string {
  if (request.name === undefined) return `${request.apiVersion} ${request.kind}`;
  const ref = request.namespace ? `${request.namespace}/${request.name}` : request.name;
  return `${request.kind} ${ref}`;
}

function hostOf(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
