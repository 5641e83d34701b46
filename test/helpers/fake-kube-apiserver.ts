// A fake kube-apiserver for tests: HTTPS with its own CA (made with the openssl CLI at start),
// bearer-token authentication, discovery, GET of objects and collections, and server-side apply
// (PATCH application/apply-patch+yaml) with dryRun=All, fieldManager and force. Errors are real
// `Status` objects with the reasons, messages and details the real API server sends, so a client
// classifies them exactly as it would in production.
//
// It is deliberately independent of src/k8s (its own object keys, merge and defaulting), so it
// stays an oracle for what a real cluster would answer rather than an echo of the code under test.
//
// Simplifications, stated so nobody relies on them: one stored object per apiVersion (no version
// conversion); server-side apply merges maps recursively, lists of objects with a `name` by that
// name, and replaces every other list; a manager's previously applied fields that it no longer
// applies are removed; defaulting covers the fields of core kinds that bundles usually leave out.
//
// Every stored change gets the next resourceVersion and lands in an event history that LIST
// (resourceVersionMatch=Exact) and WATCH are served from; see fake-kube-apiserver/watch.ts. Tests
// that edit `objects` directly bypass that history: use update/setStatus/remove to act as a
// controller would.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  WatchHub,
  inCollection,
  type CollectionFilter,
  type HistoryEntry,
  type WatchRequest,
} from './fake-kube-apiserver/watch.ts';

export type { HistoryEntry } from './fake-kube-apiserver/watch.ts';

const run = promisify(execFile);

export type Json = Record<string, unknown>;

export type FakeResource = {
  group: string;
  version: string;
  kind: string;
  /** Lower-case plural, as in the URL: `deployments`. */
  plural: string;
  namespaced: boolean;
};

/** A permission the fake's service account lacks. Omitted fields match anything. */
export type ForbiddenRule = {
  verb: 'get' | 'list' | 'watch' | 'create' | 'patch';
  resource: string;
  group?: string;
  namespace?: string;
  name?: string;
};

/** An apply without force=true by another manager conflicts on `field` (a 409 like the real one). */
export type ConflictRule = {
  kind: string;
  name: string;
  namespace?: string;
  /** The manager that owns the field. */
  manager: string;
  /** As the API server spells it, e.g. `.spec.replicas`. */
  field: string;
};

export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string | undefined;
  /** Whether the bearer token was right (the token itself is never recorded). */
  authenticated: boolean;
  /** The request body as sent ('' without one). */
  body: string;
  status: number;
};

export type FakeKubeApiserver = {
  /** `https://127.0.0.1:<port>` */
  url: string;
  /** PEM of the CA that signed the server certificate. */
  caCert: string;
  /** Stored objects by `apiVersion/kind/namespace/name` (empty namespace for cluster-scoped). */
  objects: Map<string, Json>;
  requests: RecordedRequest[];
  addCrd(group: string, version: string, kind: string, plural: string, namespaced: boolean): void;
  setForbidden(rule: ForbiddenRule): void;
  clearForbidden(): void;
  setConflict(rule: ConflictRule): void;
  /** Delay before every answer, e.g. to trip a client's timeout. */
  setLatency(ms: number): void;
  /** Stores an object as a real (not dry-run) apply by `manager` would, plus an optional status. */
  seed(object: Json, options?: { manager?: string; status?: Json }): Json;
  get(apiVersion: string, kind: string, name: string, namespace?: string): Json | undefined;
  /**
   * Stores `object` whole, as a controller's update (PUT) would: keeps uid and creationTimestamp,
   * bumps generation when the spec changed, creates it when missing. ADDED or MODIFIED.
   */
  update(object: Json): Json;
  /** Replaces the status of a stored object, as its controller would (MODIFIED). */
  setStatus(ref: ObjectRef, status: Json): Json;
  /** Deletes a stored object (DELETED); returns its last state, undefined if there was none. */
  remove(ref: ObjectRef): Json | undefined;
  /** The current (latest) resourceVersion of the whole store. */
  resourceVersion(): number;
  /** Every recorded change still in the history, oldest first (copies). */
  history(): HistoryEntry[];
  /**
   * Forgets the history up to `upTo` (default: now), as etcd compaction does: watches and Exact
   * lists from an older resourceVersion then get 410 Expired.
   */
  compact(upTo?: number): void;
  /** A BOOKMARK at the current resourceVersion to every open watch that allows bookmarks. */
  bookmark(): void;
  /** Periodic bookmarks every `ms` (0, the default, for none). */
  setBookmarkInterval(ms: number): void;
  /** Destroys every open watch's connection abruptly, as a network failure would. */
  dropWatches(): void;
  /** How many watch streams are open. */
  openWatches(): number;
  /** What each open watch stream follows: its kind and namespace. */
  openWatchTargets(): { apiVersion: string; kind: string; namespace: string | undefined }[];
  stop(): Promise<void>;
};

/** Names one stored object; `namespace` only for namespaced kinds (defaults to `default`). */
export type ObjectRef = { apiVersion: string; kind: string; name: string; namespace?: string };

export const CORE_RESOURCES: readonly FakeResource[] = [
  { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false },
  { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  { group: '', version: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  { group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', namespaced: true },
  // Workloads the controllers make and own (ownerReferences): read back when tracing a live
  // workload to what DAG rendered. No defaulting or validation beyond the generic.
  { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true },
  // What the kubelet and controllers report about objects (crash loops, failed mounts).
  { group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', namespaced: true },
  { group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', namespaced: true },
  { group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', namespaced: true },
  { group: 'batch', version: 'v1', kind: 'CronJob', plural: 'cronjobs', namespaced: true },
  {
    group: 'policy',
    version: 'v1',
    kind: 'PodDisruptionBudget',
    plural: 'poddisruptionbudgets',
    namespaced: true,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
  },
  {
    group: 'networking.k8s.io',
    version: 'v1',
    kind: 'Ingress',
    plural: 'ingresses',
    namespaced: true,
  },
  {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    kind: 'ClusterRole',
    plural: 'clusterroles',
    namespaced: false,
  },
];

/** Flux's kinds: `for (const r of FLUX_CRDS) fake.addCrd(...crdArgs(r))`, or `crds` at start. */
export const FLUX_CRDS: readonly FakeResource[] = [
  {
    group: 'helm.toolkit.fluxcd.io',
    version: 'v2',
    kind: 'HelmRelease',
    plural: 'helmreleases',
    namespaced: true,
  },
  {
    group: 'source.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'GitRepository',
    plural: 'gitrepositories',
    namespaced: true,
  },
  {
    group: 'source.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'HelmRepository',
    plural: 'helmrepositories',
    namespaced: true,
  },
  {
    group: 'source.toolkit.fluxcd.io',
    version: 'v1',
    kind: 'OCIRepository',
    plural: 'ocirepositories',
    namespaced: true,
  },
  {
    group: 'source.toolkit.fluxcd.io',
    version: 'v1beta2',
    kind: 'OCIRepository',
    plural: 'ocirepositories',
    namespaced: true,
  },
];

export function crdArgs(r: FakeResource): [string, string, string, string, boolean] {
  return [r.group, r.version, r.kind, r.plural, r.namespaced];
}

// ---------------------------------------------------------------- certificates

export type TestCertificates = { caCert: string; serverCert: string; serverKey: string };

/**
 * A fresh CA and a server certificate it signed for 127.0.0.1 and localhost (openssl CLI, argument
 * arrays, a temporary directory that is removed afterwards). Call it twice to get a CA that did
 * not sign the other server's certificate.
 */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'dag-fake-kube-'));
  const path = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      path('ca.key'),
      '-out',
      path('ca.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=fake-kube-ca',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', [
      'req',
      ...ec,
      '-keyout',
      path('server.key'),
      '-out',
      path('server.csr'),
      '-subj',
      '/CN=kube-apiserver',
    ]);
    await writeFile(
      path('server.ext'),
      [
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        '',
      ].join('\n'),
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      path('server.csr'),
      '-CA',
      path('ca.crt'),
      '-CAkey',
      path('ca.key'),
      '-CAcreateserial',
      '-out',
      path('server.crt'),
      '-days',
      '2',
      '-extfile',
      path('server.ext'),
    ]);
    const [caCert, serverCert, serverKey] = await Promise.all(
      ['ca.crt', 'server.crt', 'server.key'].map((f) => readFile(path(f), 'utf8')),
    );
    return { caCert: caCert!, serverCert: serverCert!, serverKey: serverKey! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- Status objects

type StatusDetails = {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Array<{ reason: string; message: string; field?: string }>;
};

class StatusError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Json {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

const notServed = () =>
  new StatusError(404, 'NotFound', 'the server could not find the requested resource', {});

/** `deployments.apps` or `configmaps` — how the API server names a resource in messages. */
function qualified(resource: FakeResource): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

function resourceDetails(resource: FakeResource, name: string): StatusDetails {
  return { name, ...(resource.group ? { group: resource.group } : {}), kind: resource.plural };
}

// ---------------------------------------------------------------- JSON helpers

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

function metadataOf(object: Json): Json {
  if (!isRecord(object.metadata)) object.metadata = {};
  return object.metadata as Json;
}

function child(parent: Json, key: string): Json {
  if (!isRecord(parent[key])) parent[key] = {};
  return parent[key] as Json;
}

function setDefault(target: Json, key: string, value: unknown): void {
  if (target[key] === undefined) target[key] = value;
}

function isNamedList(value: unknown): value is Json[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => isRecord(item) && typeof item.name === 'string')
  );
}

/** Applies `applied` onto `base` the way server-side apply merges (see the header comment). */
function mergeApplied(base: unknown, applied: unknown): unknown {
  if (isRecord(base) && isRecord(applied)) {
    const out: Json = { ...base };
    for (const [key, value] of Object.entries(applied)) out[key] = mergeApplied(base[key], value);
    return out;
  }
  if (isNamedList(base) && isNamedList(applied)) {
    const out = base.map((item) => {
      const update = applied.find((a) => a.name === item.name);
      return update ? mergeApplied(item, update) : item;
    });
    for (const item of applied) if (!base.some((b) => b.name === item.name)) out.push(item);
    return out;
  }
  return clone(applied);
}

/** Removes from `live` what `previous` applied and `next` no longer applies. */
function removeDropped(live: unknown, previous: unknown, next: unknown): unknown {
  if (isRecord(live) && isRecord(previous)) {
    const out: Json = { ...live };
    const nextMap = isRecord(next) ? next : {};
    for (const key of Object.keys(previous)) {
      if (!(key in nextMap)) delete out[key];
      else out[key] = removeDropped(live[key], previous[key], nextMap[key]);
    }
    return out;
  }
  if (isNamedList(live) && isNamedList(previous)) {
    const nextList = isNamedList(next) ? next : [];
    return live
      .filter((item) => {
        const wasApplied = previous.some((p) => p.name === item.name);
        return !wasApplied || nextList.some((n) => n.name === item.name);
      })
      .map((item) => {
        const prev = previous.find((p) => p.name === item.name);
        const nxt = nextList.find((n) => n.name === item.name);
        return prev && nxt ? removeDropped(item, prev, nxt) : item;
      });
  }
  return live;
}

/** A `fieldsV1` set for the fields an applied configuration sets. */
function fieldsV1(value: unknown): Json {
  const out: Json = {};
  if (isRecord(value)) {
    for (const [key, v] of Object.entries(value)) {
      if (key === 'apiVersion' || key === 'kind') continue;
      out[`f:${key}`] = isNamedList(v)
        ? Object.fromEntries(
            v.map((item) => [`k:${JSON.stringify({ name: item.name })}`, fieldsV1(item)]),
          )
        : isRecord(v)
          ? fieldsV1(v)
          : {};
    }
  }
  return out;
}

function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isRecord(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v,
  );
}

// ---------------------------------------------------------------- defaulting

function defaultPodSpec(spec: Json): void {
  setDefault(spec, 'restartPolicy', 'Always');
  setDefault(spec, 'terminationGracePeriodSeconds', 30);
  setDefault(spec, 'dnsPolicy', 'ClusterFirst');
  setDefault(spec, 'securityContext', {});
  setDefault(spec, 'schedulerName', 'default-scheduler');
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  for (const container of containers) {
    if (!isRecord(container)) continue;
    const image = typeof container.image === 'string' ? container.image : '';
    const tag = image.includes('@') ? 'digest' : (image.split('/').pop()?.split(':')[1] ?? '');
    setDefault(
      container,
      'imagePullPolicy',
      tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent',
    );
    setDefault(container, 'terminationMessagePath', '/dev/termination-log');
    setDefault(container, 'terminationMessagePolicy', 'File');
    setDefault(container, 'resources', {});
    const ports = Array.isArray(container.ports) ? container.ports : [];
    for (const port of ports) if (isRecord(port)) setDefault(port, 'protocol', 'TCP');
  }
}

function defaultDeployment(object: Json): void {
  const spec = child(object, 'spec');
  setDefault(spec, 'replicas', 1);
  setDefault(spec, 'revisionHistoryLimit', 10);
  setDefault(spec, 'progressDeadlineSeconds', 600);
  setDefault(spec, 'strategy', {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' },
  });
  defaultPodSpec(child(child(spec, 'template'), 'spec'));
}

function defaultService(object: Json, existing: Json | undefined, allocate: () => string): void {
  const spec = child(object, 'spec');
  setDefault(spec, 'type', 'ClusterIP');
  setDefault(spec, 'sessionAffinity', 'None');
  const existingSpec = existing && isRecord(existing.spec) ? existing.spec : {};
  const clusterIP =
    typeof spec.clusterIP === 'string'
      ? spec.clusterIP
      : typeof existingSpec.clusterIP === 'string'
        ? existingSpec.clusterIP
        : allocate();
  spec.clusterIP = clusterIP;
  setDefault(spec, 'clusterIPs', [clusterIP]);
  setDefault(spec, 'ipFamilies', ['IPv4']);
  setDefault(spec, 'ipFamilyPolicy', 'SingleStack');
  setDefault(spec, 'internalTrafficPolicy', 'Cluster');
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  for (const port of ports) {
    if (!isRecord(port)) continue;
    setDefault(port, 'protocol', 'TCP');
    setDefault(port, 'targetPort', port.port);
  }
}

function defaultSecret(object: Json): void {
  setDefault(object, 'type', 'Opaque');
  if (isRecord(object.stringData)) {
    const data = child(object, 'data');
    for (const [key, value] of Object.entries(object.stringData)) {
      data[key] = Buffer.from(String(value)).toString('base64');
    }
    delete object.stringData;
  }
}

function defaultNamespace(object: Json): void {
  const name = String(metadataOf(object).name);
  child(metadataOf(object), 'labels')['kubernetes.io/metadata.name'] = name;
  setDefault(child(object, 'spec'), 'finalizers', ['kubernetes']);
  setDefault(object, 'status', { phase: 'Active' });
}

// ---------------------------------------------------------------- validation

function validate(resource: FakeResource, object: Json, name: string): void {
  const causes: Array<{ reason: string; message: string; field: string }> = [];
  const annotations = metadataOf(object).annotations;
  const hook = isRecord(annotations) ? annotations['fake.dag.dev/invalid'] : undefined;
  if (typeof hook === 'string') {
    // "<field>: <message>", e.g. "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    const at = hook.indexOf(': ');
    const field = at > 0 ? hook.slice(0, at) : 'metadata';
    const message = at > 0 ? hook.slice(at + 2) : hook;
    causes.push({ reason: 'FieldValueInvalid', message, field });
  }
  if (resource.kind === 'Deployment') {
    const spec = isRecord(object.spec) ? object.spec : {};
    if (!isRecord(spec.selector)) {
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value',
        field: 'spec.selector',
      });
    }
    const template = isRecord(spec.template) ? spec.template : {};
    const podSpec = isRecord(template.spec) ? template.spec : {};
    if (!Array.isArray(podSpec.containers) || podSpec.containers.length === 0) {
      causes.push({
        reason: 'FieldValueRequired',
        message: 'Required value',
        field: 'spec.template.spec.containers',
      });
    }
    // The selector must select the pods the template makes (matchLabels only, no expressions).
    const templateMeta = isRecord(template.metadata) ? template.metadata : {};
    const labels = isRecord(templateMeta.labels) ? templateMeta.labels : {};
    const matchLabels =
      isRecord(spec.selector) && isRecord(spec.selector.matchLabels)
        ? spec.selector.matchLabels
        : {};
    if (Object.entries(matchLabels).some(([key, value]) => labels[key] !== value)) {
      const shown = Object.keys(labels)
        .sort()
        .map((key) => `${JSON.stringify(key)}:${JSON.stringify(labels[key])}`)
        .join(', ');
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: map[string]string{${shown}}: \`selector\` does not match template \`labels\``,
        field: 'spec.template.metadata.labels',
      });
    }
  }
  if (resource.kind === 'PodDisruptionBudget') {
    const spec = isRecord(object.spec) ? object.spec : {};
    if (spec.minAvailable !== undefined && spec.maxUnavailable !== undefined) {
      causes.push({
        reason: 'FieldValueInvalid',
        message: `Invalid value: ${JSON.stringify({ minAvailable: spec.minAvailable, maxUnavailable: spec.maxUnavailable })}: minAvailable and maxUnavailable cannot be both set`,
        field: 'spec',
      });
    }
  }
  if (causes.length === 0) return;
  const kind = resource.group ? `${resource.kind}.${resource.group}` : resource.kind;
  const summary = causes.map((c) => `${c.field}: ${c.message}`);
  const message = `${kind} "${name}" is invalid: ${summary.length === 1 ? summary[0] : `[${summary.join(', ')}]`}`;
  throw new StatusError(422, 'Invalid', message, {
    name,
    ...(resource.group ? { group: resource.group } : {}),
    kind: resource.kind,
    causes,
  });
}

// ---------------------------------------------------------------- the server

type Target = {
  resource: FakeResource;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
};

export async function startFakeKubeApiserver(options: {
  token: string;
  /** Who the token authenticates as, for 403 messages. */
  user?: string;
  crds?: readonly FakeResource[];
}): Promise<FakeKubeApiserver> {
  const certs = await makeTestCertificates();
  const user = options.user ?? 'system:serviceaccount:dag:dag';
  const resources: FakeResource[] = [...CORE_RESOURCES, ...(options.crds ?? [])];
  const objects = new Map<string, Json>();
  const applied = new Map<string, Map<string, Json>>(); // object key -> manager -> applied config
  const requests: RecordedRequest[] = [];
  const forbidden: ForbiddenRule[] = [];
  const conflicts: ConflictRule[] = [];
  let latencyMs = 0;
  let resourceVersion = 1000;
  let nextIp = 10;

  const apiVersionOf = (r: FakeResource) => (r.group ? `${r.group}/${r.version}` : r.version);
  const keyOf = (r: FakeResource, namespace: string | undefined, name: string) =>
    `${apiVersionOf(r)}/${r.kind}/${r.namespaced ? (namespace ?? '') : ''}/${name}`;
  const served = (group: string, version: string) =>
    resources.filter((r) => r.group === group && r.version === version);
  const byKind = (apiVersion: string, kind: string) =>
    resources.find((r) => apiVersionOf(r) === apiVersion && r.kind === kind);
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  const namespaceExists = (name: string) => objects.has(`v1/Namespace//${name}`);
  const watches = new WatchHub(
    () => resourceVersion,
    () => objects.values(),
  );

  /** Stores `object` under `key` at the next resourceVersion and records ADDED or MODIFIED. */
  function commit(key: string, object: Json): Json {
    const previous = objects.get(key);
    metadataOf(object).resourceVersion = String(++resourceVersion);
    objects.set(key, clone(object));
    watches.record({
      resourceVersion,
      type: previous ? 'MODIFIED' : 'ADDED',
      key,
      object,
      previous,
    });
    return object;
  }

  /** Deletes `key` at the next resourceVersion and records DELETED with the last state. */
  function commitDelete(key: string): Json | undefined {
    const previous = objects.get(key);
    if (!previous) return undefined;
    objects.delete(key);
    applied.delete(key);
    const last = clone(previous);
    metadataOf(last).resourceVersion = String(++resourceVersion);
    watches.record({ resourceVersion, type: 'DELETED', key, object: last, previous });
    return last;
  }

  function refOf(object: Json): ObjectRef {
    const meta = metadataOf(object);
    return {
      apiVersion: String(object.apiVersion),
      kind: String(object.kind),
      name: String(meta.name),
      ...(typeof meta.namespace === 'string' ? { namespace: meta.namespace } : {}),
    };
  }

  function refKey(ref: ObjectRef): { resource: FakeResource; key: string } {
    const resource = byKind(ref.apiVersion, ref.kind);
    if (!resource)
      throw new Error(`fake kube-apiserver: ${ref.apiVersion} ${ref.kind} is not served`);
    const namespace = resource.namespaced ? (ref.namespace ?? 'default') : undefined;
    return { resource, key: keyOf(resource, namespace, ref.name) };
  }

  function checkAllowed(verb: ForbiddenRule['verb'], target: Target): void {
    const { resource, namespace, name } = target;
    const denied = forbidden.some(
      (rule) =>
        rule.verb === verb &&
        rule.resource === resource.plural &&
        (rule.group === undefined || rule.group === resource.group) &&
        (rule.namespace === undefined || rule.namespace === namespace) &&
        (rule.name === undefined || rule.name === name),
    );
    if (!denied) return;
    const subject = name === undefined ? qualified(resource) : `${qualified(resource)} "${name}"`;
    const scope =
      resource.namespaced && namespace !== undefined
        ? ` in the namespace "${namespace}"`
        : ' at the cluster scope';
    throw new StatusError(
      403,
      'Forbidden',
      `${subject} is forbidden: User "${user}" cannot ${verb} resource "${resource.plural}" in API group "${resource.group}"${scope}`,
      resourceDetails(resource, name ?? ''),
    );
  }

  function applyObject(input: {
    target: Target & { name: string };
    body: Json;
    manager: string;
    force: boolean;
    dryRun: boolean;
  }): { object: Json; created: boolean } {
    const { target, body, manager, force, dryRun } = input;
    const { resource, namespace, name } = target;
    const apiVersion = apiVersionOf(resource);
    if (body.apiVersion !== apiVersion || body.kind !== resource.kind) {
      throw new StatusError(
        400,
        'BadRequest',
        `the apiVersion and kind of the object (${String(body.apiVersion)}, ${String(body.kind)}) do not match the request (${apiVersion}, ${resource.kind})`,
      );
    }
    const meta = metadataOf(body);
    if (meta.name !== undefined && meta.name !== name) {
      throw new StatusError(
        400,
        'BadRequest',
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`,
      );
    }
    if (resource.namespaced && meta.namespace !== undefined && meta.namespace !== namespace) {
      throw new StatusError(
        400,
        'BadRequest',
        'the namespace of the provided object does not match the namespace sent on the request',
      );
    }
    const key = keyOf(resource, namespace, name);
    const existing = objects.get(key);
    checkAllowed('patch', target);
    if (!existing) checkAllowed('create', target);
    if (resource.namespaced && namespace !== undefined && !namespaceExists(namespace)) {
      throw new StatusError(404, 'NotFound', `namespaces "${namespace}" not found`, {
        name: namespace,
        kind: 'namespaces',
      });
    }
    if (
      existing &&
      typeof meta.resourceVersion === 'string' &&
      meta.resourceVersion !== metadataOf(existing).resourceVersion
    ) {
      throw new StatusError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${qualified(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        resourceDetails(resource, name),
      );
    }
    if (!force) {
      const conflict = conflicts.filter(
        (c) =>
          c.kind === resource.kind &&
          c.name === name &&
          (c.namespace === undefined || c.namespace === namespace) &&
          c.manager !== manager,
      );
      if (conflict.length > 0) {
        const causes = conflict.map((c) => ({
          reason: 'FieldManagerConflict',
          message: `conflict with "${c.manager}" using ${apiVersion}`,
          field: c.field,
        }));
        const list = causes.map((c) => `- ${c.message}: ${c.field}`).join('\n');
        throw new StatusError(
          409,
          'Conflict',
          `Apply failed with ${causes.length} conflict${causes.length === 1 ? '' : 's'}: ${causes.length === 1 ? `${causes[0]!.message}: ${causes[0]!.field}` : `\n${list}`}`,
          { ...resourceDetails(resource, name), causes },
        );
      }
    }

    const config = clone(body);
    delete config.status;
    metadataOf(config).name = name;
    if (resource.namespaced) metadataOf(config).namespace = namespace;
    const previous = applied.get(key)?.get(manager);
    let base: Json = existing ? clone(existing) : {};
    if (previous) base = removeDropped(base, previous, config) as Json;
    const merged = mergeApplied(base, config) as Json;
    validate(resource, merged, name);

    switch (resource.kind) {
      case 'Deployment':
        defaultDeployment(merged);
        break;
      case 'Service':
        defaultService(
          merged,
          existing,
          () => `10.96.${Math.floor(nextIp / 250)}.${nextIp++ % 250}`,
        );
        break;
      case 'Secret':
        defaultSecret(merged);
        break;
      case 'Namespace':
        defaultNamespace(merged);
        break;
    }

    const mergedMeta = metadataOf(merged);
    const existingMeta = existing ? metadataOf(existing) : {};
    mergedMeta.uid = existingMeta.uid ?? randomUUID();
    mergedMeta.creationTimestamp = existingMeta.creationTimestamp ?? now();
    const specChanged = stableJson(merged.spec) !== stableJson(existing?.spec);
    const previousGeneration =
      typeof existingMeta.generation === 'number' ? existingMeta.generation : 0;
    if (
      resource.kind !== 'Namespace' &&
      resource.kind !== 'ConfigMap' &&
      resource.kind !== 'Secret'
    ) {
      mergedMeta.generation =
        existing && !specChanged ? previousGeneration : previousGeneration + 1;
    }
    const others = (
      Array.isArray(existingMeta.managedFields) ? existingMeta.managedFields : []
    ).filter((entry) => isRecord(entry) && entry.manager !== manager);
    const ownEntry = {
      manager,
      operation: 'Apply',
      apiVersion,
      time: now(),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1(config),
    };
    mergedMeta.managedFields = [...others, ownEntry];
    // Status is the controllers' part: a new object starts with what the API server puts there,
    // an existing one keeps its own (it came along from `base`).
    if (!existing && resource.kind === 'Deployment') merged.status = {};
    if (!existing && resource.kind === 'Service') merged.status = { loadBalancer: {} };

    const withoutVolatile = (o: Json | undefined) => {
      if (!o) return '';
      const c = clone(o);
      const m = metadataOf(c);
      delete m.resourceVersion;
      m.managedFields = (Array.isArray(m.managedFields) ? m.managedFields : []).map((e) =>
        isRecord(e) ? { ...e, time: undefined } : e,
      );
      return stableJson(c);
    };
    const unchanged =
      existing !== undefined && withoutVolatile(existing) === withoutVolatile(merged);
    if (unchanged) return { object: clone(existing), created: false };
    if (dryRun) {
      // A dry run stores and records nothing.
      mergedMeta.resourceVersion = String(resourceVersion);
    } else {
      commit(key, merged);
      const byManager = applied.get(key) ?? new Map<string, Json>();
      byManager.set(manager, config);
      applied.set(key, byManager);
    }
    return { object: merged, created: !existing };
  }

  function parseTarget(segments: string[]): Target | 'discovery' {
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === 'api' && segments.length >= 2) {
      group = '';
      version = segments[1]!;
      rest = segments.slice(2);
    } else if (segments[0] === 'apis' && segments.length >= 3) {
      group = segments[1]!;
      version = segments[2]!;
      rest = segments.slice(3);
    } else {
      throw notServed();
    }
    const available = served(group, version);
    if (available.length === 0) throw notServed();
    if (rest.length === 0) return 'discovery';
    let namespace: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      namespace = rest[1];
      rest = rest.slice(2);
    }
    const [plural, name, subresource, ...extra] = rest;
    const resource = available.find((r) => r.plural === plural);
    if (!resource || extra.length > 0) throw notServed();
    if (namespace !== undefined && !resource.namespaced) throw notServed();
    return { resource, namespace, name, subresource };
  }

  function discoveryList(group: string, version: string): Json {
    const list = served(group, version);
    const verbs = [
      'create',
      'delete',
      'deletecollection',
      'get',
      'list',
      'patch',
      'update',
      'watch',
    ];
    const main = list
      .map((r) => ({
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs,
        storageVersionHash: Buffer.from(r.plural).toString('base64').slice(0, 11),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
    // Subresources come after their resource, as in the real (name-sorted) discovery document.
    const subresources = list
      .filter((r) => ['apps', 'batch', 'policy'].includes(r.group) || r.group.endsWith('fluxcd.io'))
      .map((r) => ({
        name: `${r.plural}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      }));
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: group ? `${group}/${version}` : version,
      resources: [...main, ...subresources].sort((a, b) => a.name.localeCompare(b.name)),
    };
  }

  function groupList(): Json {
    const groups = new Map<string, string[]>();
    for (const r of resources) {
      if (!r.group) continue;
      const versions = groups.get(r.group) ?? [];
      if (!versions.includes(r.version)) versions.push(r.version);
      groups.set(r.group, versions);
    }
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      })),
    };
  }

  /** The list's or watch's scope and selectors; a bad selector is a 400 like the real one. */
  function collectionFilter(
    resource: FakeResource,
    namespace: string | undefined,
    url: URL,
  ): CollectionFilter {
    try {
      return {
        apiVersion: apiVersionOf(resource),
        kind: resource.kind,
        namespace,
        labels: parseLabelSelector(url.searchParams.get('labelSelector') ?? ''),
        fields: parseFieldSelector(url.searchParams.get('fieldSelector') ?? ''),
      };
    } catch (error) {
      if (error instanceof SelectorError) throw new StatusError(400, 'BadRequest', error.message);
      throw error;
    }
  }

  /** A resourceVersion parameter, which must be a number here (etcd's revisions are). */
  function versionParameter(url: URL): number | undefined {
    const text = url.searchParams.get('resourceVersion');
    if (text === null || text === '') return undefined;
    if (!/^\d+$/.test(text)) {
      throw new StatusError(400, 'BadRequest', `invalid resource version: ${text}`);
    }
    return Number(text);
  }

  /**
   * LIST: every matching object (all namespaces when the path has none) and the resourceVersion
   * the list is consistent with. resourceVersionMatch=Exact answers from the history, or 410 when
   * that version was compacted away; any other resourceVersion is served at the latest version,
   * which satisfies "not older than".
   */
  function listCollection(resource: FakeResource, namespace: string | undefined, url: URL): Json {
    const filter = collectionFilter(resource, namespace, url);
    const requested = versionParameter(url);
    const match = url.searchParams.get('resourceVersionMatch');
    if (match !== null && match !== 'Exact' && match !== 'NotOlderThan') {
      throw new StatusError(
        422,
        'Invalid',
        `ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan"`,
      );
    }
    let version = resourceVersion;
    let candidates: Json[] = [...objects.values()];
    if (match === 'Exact' && requested !== undefined) {
      if (watches.isExpired(requested)) {
        // What the etcd-backed list says (k8s.io/apiserver storage/etcd3 interpretListError).
        throw new StatusError(
          410,
          'Expired',
          'The resourceVersion for the provided list is too old.',
        );
      }
      if (requested > resourceVersion) {
        throw new StatusError(
          504,
          'Timeout',
          `Timeout: Too large resource version: ${requested}, current: ${resourceVersion}`,
        );
      }
      version = requested;
      candidates = watches.stateAt(requested, objects);
    }
    return {
      kind: `${resource.kind}List`,
      apiVersion: apiVersionOf(resource),
      metadata: { resourceVersion: String(version) },
      items: candidates.filter((o) => inCollection(filter, o)).map(clone),
    };
  }

  /** WATCH parameters, checked as the API server checks them before it starts streaming. */
  function watchRequest(
    resource: FakeResource,
    namespace: string | undefined,
    url: URL,
  ): WatchRequest {
    const filter = collectionFilter(resource, namespace, url);
    const requested = versionParameter(url);
    const allowBookmarks = url.searchParams.get('allowWatchBookmarks') === 'true';
    const sendInitialEvents = url.searchParams.get('sendInitialEvents') === 'true';
    if (
      sendInitialEvents &&
      (url.searchParams.get('resourceVersionMatch') !== 'NotOlderThan' || !allowBookmarks)
    ) {
      throw new StatusError(
        422,
        'Invalid',
        'ListOptions.meta.k8s.io "" is invalid: sendInitialEvents requires resourceVersionMatch=NotOlderThan and allowWatchBookmarks=true',
      );
    }
    const timeout = url.searchParams.get('timeoutSeconds');
    return {
      filter,
      resourceVersion: requested === undefined ? undefined : String(requested),
      allowBookmarks,
      sendInitialEvents,
      timeoutSeconds: timeout !== null && /^\d+$/.test(timeout) ? Number(timeout) : undefined,
    };
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  async function answer(
    req: IncomingMessage,
    url: URL,
    text: string,
  ): Promise<{ status: number; body: Json; watch?: WatchRequest }> {
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/api') {
      return {
        status: 200,
        body: {
          kind: 'APIVersions',
          versions: ['v1'],
          serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: url.host }],
        },
      };
    }
    if (method === 'GET' && url.pathname === '/apis') return { status: 200, body: groupList() };
    if (method === 'GET' && url.pathname === '/version') {
      return { status: 200, body: { major: '1', minor: '33', gitVersion: 'v1.33.0-fake' } };
    }

    const target = parseTarget(segments);
    if (target === 'discovery') {
      if (method !== 'GET')
        throw new StatusError(
          405,
          'MethodNotAllowed',
          'the server does not allow this method on the requested resource',
        );
      const [, a, b] = segments;
      return {
        status: 200,
        body: segments[0] === 'api' ? discoveryList('', a!) : discoveryList(a!, b!),
      };
    }
    const { resource, namespace, name, subresource } = target;
    if (subresource !== undefined) throw notServed();

    if (method === 'GET' && name === undefined) {
      const watch = url.searchParams.get('watch');
      if (watch === 'true' || watch === '1') {
        checkAllowed('watch', target);
        return { status: 200, body: {}, watch: watchRequest(resource, namespace, url) };
      }
      checkAllowed('list', target);
      return { status: 200, body: listCollection(resource, namespace, url) };
    }
    if (name === undefined) {
      throw new StatusError(
        405,
        'MethodNotAllowed',
        'the server does not allow this method on the requested resource',
      );
    }
    if (resource.namespaced && namespace === undefined) throw notServed();
    const named = { ...target, name };

    if (method === 'GET') {
      checkAllowed('get', named);
      const object = objects.get(keyOf(resource, namespace, name));
      if (!object) {
        throw new StatusError(
          404,
          'NotFound',
          `${qualified(resource)} "${name}" not found`,
          resourceDetails(resource, name),
        );
      }
      return { status: 200, body: clone(object) };
    }

    if (method === 'PATCH') {
      const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (contentType !== 'application/apply-patch+yaml') {
        throw new StatusError(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
      }
      const dryRun = url.searchParams.getAll('dryRun');
      if (dryRun.some((v) => v !== 'All')) {
        throw new StatusError(400, 'BadRequest', `Invalid dry run value: ${dryRun.join(', ')}`);
      }
      const manager = url.searchParams.get('fieldManager') ?? '';
      if (!manager) {
        throw new StatusError(
          422,
          'Invalid',
          'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          {
            group: 'meta.k8s.io',
            kind: 'PatchOptions',
            causes: [
              {
                reason: 'FieldValueRequired',
                message: 'Required value: is required for apply patch',
                field: 'fieldManager',
              },
            ],
          },
        );
      }
      let body: unknown;
      try {
        body = parseYaml(text, { maxAliasCount: 100 });
      } catch (error) {
        throw new StatusError(
          400,
          'BadRequest',
          `error decoding YAML: ${(error as Error).message}`,
        );
      }
      if (!isRecord(body))
        throw new StatusError(400, 'BadRequest', 'error decoding YAML: not an object');
      const result = applyObject({
        target: named,
        body,
        manager,
        force: url.searchParams.get('force') === 'true',
        dryRun: dryRun.length > 0,
      });
      return { status: result.created ? 201 : 200, body: result.object };
    }

    throw new StatusError(
      405,
      'MethodNotAllowed',
      'the server does not allow this method on the requested resource',
    );
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake-kube');
    const authenticated = req.headers.authorization === `Bearer ${options.token}`;
    const text = await readBody(req);
    let status: number;
    let body: Json;
    let watch: WatchRequest | undefined;
    try {
      if (!authenticated) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
      ({ status, body, watch } = await answer(req, url, text));
    } catch (error) {
      const statusError =
        error instanceof StatusError
          ? error
          : new StatusError(500, 'InternalError', `Internal error occurred: ${String(error)}`);
      status = statusError.code;
      body = statusError.toStatus();
    }
    requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      contentType: req.headers['content-type'],
      authenticated,
      body: text,
      status,
    });
    if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
    if (res.destroyed) return;
    if (watch) {
      watches.serve(res, watch);
      return;
    }
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  const server: Server = createServer(
    { key: certs.serverKey, cert: certs.serverCert },
    (req, res) => {
      handle(req, res).catch((error: unknown) => {
        res.destroy(error instanceof Error ? error : new Error(String(error)));
      });
    },
  );
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that rejects the certificate just drops the connection; that is not a server error.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const fake: FakeKubeApiserver = {
    url: `https://127.0.0.1:${port}`,
    caCert: certs.caCert,
    objects,
    requests,
    addCrd(group, version, kind, plural, namespaced) {
      if (!resources.some((r) => r.group === group && r.version === version && r.kind === kind)) {
        resources.push({ group, version, kind, plural, namespaced });
      }
    },
    setForbidden(rule) {
      forbidden.push(rule);
    },
    clearForbidden() {
      forbidden.length = 0;
    },
    setConflict(rule) {
      conflicts.push(rule);
    },
    setLatency(ms) {
      latencyMs = ms;
    },
    seed(object, seedOptions = {}) {
      const apiVersion = String(object.apiVersion);
      const resource = byKind(apiVersion, String(object.kind));
      if (!resource)
        throw new Error(`fake kube-apiserver: ${apiVersion} ${String(object.kind)} is not served`);
      const meta = metadataOf(object);
      const namespace = resource.namespaced ? String(meta.namespace ?? 'default') : undefined;
      const { object: stored } = applyObject({
        target: { resource, namespace, name: String(meta.name), subresource: undefined },
        body: clone(object),
        manager: seedOptions.manager ?? 'kubectl',
        force: true,
        dryRun: false,
      });
      if (seedOptions.status) {
        // The status is a second write, as a controller's status update after the create is.
        stored.status = clone(seedOptions.status);
        commit(keyOf(resource, namespace, String(meta.name)), stored);
      }
      return clone(stored);
    },
    get(apiVersion, kind, name, namespace) {
      const resource = byKind(apiVersion, kind);
      if (!resource) return undefined;
      const object = objects.get(keyOf(resource, namespace, name));
      return object ? clone(object) : undefined;
    },
    update(object) {
      const { resource, key } = refKey(refOf(object));
      const next = clone(object);
      const existing = objects.get(key);
      const meta = metadataOf(next);
      if (resource.namespaced) meta.namespace = meta.namespace ?? 'default';
      else delete meta.namespace;
      if (existing) {
        const before = metadataOf(existing);
        meta.uid = before.uid;
        meta.creationTimestamp = before.creationTimestamp;
        meta.managedFields = meta.managedFields ?? before.managedFields;
        const generation = typeof before.generation === 'number' ? before.generation : undefined;
        const specChanged = stableJson(next.spec) !== stableJson(existing.spec);
        if (generation !== undefined) meta.generation = specChanged ? generation + 1 : generation;
      } else {
        meta.uid = meta.uid ?? randomUUID();
        meta.creationTimestamp = meta.creationTimestamp ?? now();
        if (next.spec !== undefined) meta.generation = 1;
      }
      return clone(commit(key, next));
    },
    setStatus(ref, status) {
      const { resource, key } = refKey(ref);
      const existing = objects.get(key);
      if (!existing) {
        throw new Error(`fake kube-apiserver: ${qualified(resource)} "${ref.name}" not found`);
      }
      const next = clone(existing);
      next.status = clone(status);
      return clone(commit(key, next));
    },
    remove(ref) {
      const last = commitDelete(refKey(ref).key);
      return last ? clone(last) : undefined;
    },
    resourceVersion: () => resourceVersion,
    history: () => watches.history(),
    compact: (upTo) => watches.compact(upTo),
    bookmark: () => watches.bookmark(),
    setBookmarkInterval: (ms) => watches.setBookmarkInterval(ms),
    dropWatches: () => watches.dropWatches(),
    openWatches: () => watches.openWatches(),
    openWatchTargets: () => watches.openWatchTargets(),
    async stop() {
      await watches.closeAll();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };

  for (const name of ['default', 'kube-system', 'kube-public']) {
    fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  return fake;
}
