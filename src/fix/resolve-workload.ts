import { ConfigError, DagError } from '../errors.ts';
import type { ClusterClient } from '../k8s/client.ts';
import { ClusterError } from '../k8s/cluster-error.ts';
import { groupOf, isRecord, type KubeObject } from '../k8s/object.ts';
import { PROVENANCE } from '../render/provenance.ts';
import type { ConfigStore } from '../store/types.ts';
import { releaseNameFor } from '../workflows/deploy.ts';
import type { App, Cluster, Environment } from '../model.ts';

/**
 * Which app environment a live workload belongs to, traced through its cluster.
 *
 * Order: the named object; its controller owners up to the top workload (Pod -> ReplicaSet/Job ->
 * Deployment/StatefulSet/DaemonSet/CronJob); then, on the chain from the top down, DAG's
 * provenance (`dag.dev/app` + `dag.dev/environment`, checked against the store: the environment
 * must exist, be on this cluster and deploy to this namespace); then Helm's release metadata
 * (`meta.helm.sh/release-name` + `-namespace`, else the `app.kubernetes.io/instance` label)
 * matched to environments on this cluster by release name and namespace; then the Flux labels
 * helm-controller sets (`helm.toolkit.fluxcd.io/name` + `namespace`), which lead to the
 * HelmRelease and from it to the environment that renders it. The first rule that finds
 * environments decides; two environments there are a 409 naming both.
 */

/** The kinds a caller may name, with the apiVersion DAG reads them at. */
export const WORKLOAD_KINDS = {
  Pod: 'v1',
  ReplicaSet: 'apps/v1',
  Deployment: 'apps/v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  Job: 'batch/v1',
  CronJob: 'batch/v1',
} as const;
export type WorkloadKind = keyof typeof WORKLOAD_KINDS;

/** Pod -> ReplicaSet -> Deployment is two hops, Pod -> Job -> CronJob too; a little slack. */
export const MAX_OWNER_DEPTH = 4;
/** lookedAt and via never grow beyond this many lines. */
export const MAX_STEPS = 40;

const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
const INSTANCE_LABEL = 'app.kubernetes.io/instance';
const FLUX_NAME = 'helm.toolkit.fluxcd.io/name';
const FLUX_NAMESPACE = 'helm.toolkit.fluxcd.io/namespace';
const HELM_RELEASE_API_VERSION = 'helm.toolkit.fluxcd.io/v2';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CLUSTER_NAME = /^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$/;

export type WorkloadInput = {
  /** The cluster's id, or its name as in `dag clusters list`. */
  cluster: number | string;
  namespace: string;
  kind: string;
  name: string;
};

export type ResolveDeps = {
  store: Pick<ConfigStore, 'findCluster' | 'listApps' | 'listEnvironments'>;
  clusters: { get(clusterId: number): Promise<ClusterClient> };
};

export type ObjectRef = { kind: string; name: string; namespace: string };

/** Which rule found the environment. */
export type MatchedBy = 'provenance' | 'helm-release' | 'flux-helmrelease';

export type ResolvedEnvironment = {
  app: { id: number; name: string };
  environment: {
    id: number;
    name: string;
    namespace: string;
    releaseName: string;
    helmType: Environment['helmType'];
  };
};

export type WorkloadResolved = ResolvedEnvironment & {
  ok: true;
  cluster: { id: number; name: string };
  /** The top workload: the last controller owner DAG could read. */
  workload: ObjectRef;
  /** The owner chain from the named object up to the workload. */
  chain: ObjectRef[];
  matchedBy: MatchedBy;
  /** What led to the environment, one line a step. */
  via: string[];
};

export type WorkloadUnresolved = {
  ok: false;
  /** 400 invalid input, 404 nothing found, 409 ambiguous, 502/503 the cluster failed. */
  status: 400 | 404 | 409 | 502 | 503;
  error: string;
  /** The input field at fault (400 only). */
  field?: keyof WorkloadInput;
  /** The environments that matched equally (409 only). */
  candidates?: ResolvedEnvironment[];
  /** Each thing DAG checked, in order. */
  lookedAt: string[];
};

export type WorkloadResolution = WorkloadResolved | WorkloadUnresolved;

/** A value read from a cluster or typed by a caller, as it may appear in a message. */
function shown(value: unknown): string {
  const text = String(value).replace(/[\u0000-\u001f\u007f]/g, '?'); // eslint-disable-line no-control-regex
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function describe(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace}/${shown(ref.name)}`;
}

class Steps {
  readonly lines: string[] = [];
  #dropped = 0;

  add(line: string): void {
    if (this.lines.length < MAX_STEPS - 1) this.lines.push(line);
    else this.#dropped += 1;
  }

  list(): string[] {
    return this.#dropped === 0
      ? [...this.lines]
      : [...this.lines, `... and ${this.#dropped} more steps`];
  }
}

type Validated = { cluster: number | string; namespace: string; kind: WorkloadKind; name: string };

function validate(input: WorkloadInput): Validated | { field: keyof WorkloadInput; error: string } {
  const { cluster, namespace, kind, name } = input as Partial<Record<string, unknown>>;
  if (typeof cluster === 'number') {
    if (!Number.isSafeInteger(cluster) || cluster <= 0) {
      return { field: 'cluster', error: 'cluster: an id must be a positive integer' };
    }
  } else if (typeof cluster !== 'string' || cluster.length > 63 || !CLUSTER_NAME.test(cluster)) {
    return {
      field: 'cluster',
      error:
        'cluster: a cluster id, or a name of letters, digits, ".", "_" and "-" (at most 63 characters)',
    };
  }
  if (typeof namespace !== 'string' || namespace.length > 63 || !DNS_LABEL.test(namespace)) {
    return {
      field: 'namespace',
      error:
        'namespace: a DNS-1123 label (lower-case letters, digits and "-", at most 63 characters)',
    };
  }
  const kinds = Object.keys(WORKLOAD_KINDS) as WorkloadKind[];
  const canonical =
    typeof kind === 'string'
      ? kinds.find((k) => k.toLowerCase() === kind.toLowerCase())
      : undefined;
  if (!canonical) {
    return { field: 'kind', error: `kind: one of ${kinds.join(', ')}` };
  }
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    return {
      field: 'name',
      error:
        'name: a DNS-1123 subdomain (lower-case letters, digits, "-" and ".", at most 253 characters)',
    };
  }
  return { cluster, namespace, kind: canonical, name };
}

function stringMap(value: unknown): Record<string, string> {
  if (!isRecord(value)) return {};
  const out: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) if (typeof entry === 'string') out[key] = entry;
  return out;
}

function metadataMaps(metadata: unknown): {
  annotations: Record<string, string>;
  labels: Record<string, string>;
} {
  const meta = isRecord(metadata) ? metadata : {};
  return { annotations: stringMap(meta.annotations), labels: stringMap(meta.labels) };
}

/** Metadata to read for one object: its own, then its pod template's (and a CronJob's job's). */
function metadataOf(object: KubeObject): Array<{ where: string; metadata: unknown }> {
  const out: Array<{ where: string; metadata: unknown }> = [
    { where: '', metadata: object.metadata },
  ];
  const spec = isRecord(object.spec) ? object.spec : {};
  const jobTemplate = isRecord(spec.jobTemplate) ? spec.jobTemplate : undefined;
  if (jobTemplate) {
    out.push({ where: ' job template', metadata: jobTemplate.metadata });
    const jobSpec = isRecord(jobTemplate.spec) ? jobTemplate.spec : {};
    const template = isRecord(jobSpec.template) ? jobSpec.template : {};
    out.push({ where: ' pod template', metadata: template.metadata });
  } else if (isRecord(spec.template)) {
    out.push({ where: ' pod template', metadata: spec.template.metadata });
  }
  return out;
}

type ControllerRef = { apiVersion: string; kind: string; name: string; uid: string | undefined };

function controllerOf(object: KubeObject): ControllerRef | undefined {
  const refs = object.metadata.ownerReferences;
  if (!Array.isArray(refs)) return undefined;
  for (const ref of refs) {
    if (!isRecord(ref) || ref.controller !== true) continue;
    const { apiVersion, kind, name, uid } = ref;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string' || typeof name !== 'string') {
      continue;
    }
    return { apiVersion, kind, name, uid: typeof uid === 'string' ? uid : undefined };
  }
  return undefined;
}

type Context = {
  cluster: Cluster;
  /** The named workload's namespace (its owners share it). */
  readonly namespace: string;
  apps: Map<number, App>;
  environments: Environment[];
  steps: Steps;
};

function envNamespace(env: Environment): string {
  return env.helmNamespace ?? 'default';
}

function envRelease(env: Environment, apps: Map<number, App>): string {
  const app = apps.get(env.appId);
  return env.helmName ?? (app ? releaseNameFor(app) : `app-${env.appId}`);
}

function resolved(env: Environment, ctx: Context): ResolvedEnvironment {
  const app = ctx.apps.get(env.appId);
  return {
    app: { id: env.appId, name: app?.name ?? `app ${env.appId}` },
    environment: {
      id: env.id,
      name: env.name,
      namespace: envNamespace(env),
      releaseName: envRelease(env, ctx.apps),
      helmType: env.helmType,
    },
  };
}

function label(env: Environment, ctx: Context): string {
  return `${ctx.apps.get(env.appId)?.name ?? `app ${env.appId}`}/${env.name}`;
}

/**
 * The environment `dag.dev/app` + `dag.dev/environment` name, if the store has it on this cluster
 * in this namespace; otherwise a step saying why the claim was refused.
 */
function checkProvenance(
  appName: string,
  envName: string,
  where: string,
  namespace: string,
  ctx: Context,
): Environment | undefined {
  const claim = `${where}: ${PROVENANCE.app}=${shown(appName)}, ${PROVENANCE.environment}=${shown(envName)}`;
  const app = [...ctx.apps.values()].find((a) => a.name === appName);
  if (!app) {
    ctx.steps.add(`${claim}, but DAG has no app ${shown(appName)}`);
    return undefined;
  }
  const env = ctx.environments.find((e) => e.appId === app.id && e.name === envName);
  if (!env) {
    ctx.steps.add(`${claim}, but app ${app.name} has no environment ${shown(envName)}`);
    return undefined;
  }
  if (env.clusterId !== ctx.cluster.id) {
    ctx.steps.add(
      `${claim}, but that environment deploys to another cluster, not ${ctx.cluster.name}: refused`,
    );
    return undefined;
  }
  if (envNamespace(env) !== namespace) {
    ctx.steps.add(
      `${claim}, but that environment deploys to namespace ${envNamespace(env)}, not ${namespace}: refused`,
    );
    return undefined;
  }
  ctx.steps.add(`${claim}: environment ${label(env, ctx)} on cluster ${ctx.cluster.name}`);
  return env;
}

function byProvenance(objects: Array<{ ref: ObjectRef; object: KubeObject }>, ctx: Context) {
  const found: Environment[] = [];
  const via: string[] = [];
  for (const { ref, object } of objects) {
    let seen = false;
    for (const { where, metadata } of metadataOf(object)) {
      const { annotations, labels } = metadataMaps(metadata);
      for (const [source, map] of [
        ['annotations', annotations],
        ['labels', labels],
      ] as const) {
        const appName = map[PROVENANCE.app];
        const envName = map[PROVENANCE.environment];
        if (appName === undefined || envName === undefined) continue;
        seen = true;
        const env = checkProvenance(
          appName,
          envName,
          `${describe(ref)}${where} ${source}`,
          ctx.namespace,
          ctx,
        );
        if (env && !found.includes(env)) {
          found.push(env);
          via.push(
            `${describe(ref)}${where}: ${PROVENANCE.app}=${shown(appName)}, ${PROVENANCE.environment}=${shown(envName)}`,
          );
        }
      }
    }
    if (!seen) ctx.steps.add(`${describe(ref)}: no ${PROVENANCE.app}/${PROVENANCE.environment}`);
  }
  return { found, via };
}

function matchRelease(release: string, namespace: string, ctx: Context, onlyFlux = false) {
  return ctx.environments.filter(
    (env) =>
      env.clusterId === ctx.cluster.id &&
      (!onlyFlux || env.helmType === 'flux') &&
      envRelease(env, ctx.apps) === release &&
      envNamespace(env) === namespace,
  );
}

function byHelmRelease(objects: Array<{ ref: ObjectRef; object: KubeObject }>, ctx: Context) {
  const tried = new Set<string>();
  for (const { ref, object } of objects) {
    const { annotations, labels } = metadataMaps(object.metadata);
    const name = annotations[HELM_RELEASE_NAME];
    let release: { name: string; namespace: string; evidence: string } | undefined;
    if (name !== undefined) {
      const namespace = annotations[HELM_RELEASE_NAMESPACE] ?? ref.namespace;
      release = {
        name,
        namespace,
        evidence: `${describe(ref)}: Helm release ${shown(name)} in ${shown(namespace)} (${HELM_RELEASE_NAME})`,
      };
    } else if (labels[INSTANCE_LABEL] !== undefined) {
      const instance = labels[INSTANCE_LABEL];
      release = {
        name: instance,
        namespace: ref.namespace,
        evidence: `${describe(ref)}: Helm release ${shown(instance)} in ${ref.namespace} (${INSTANCE_LABEL} label)`,
      };
    }
    if (!release) {
      ctx.steps.add(`${describe(ref)}: no Helm release metadata`);
      continue;
    }
    const key = `${release.namespace}/${release.name}`;
    if (tried.has(key)) continue;
    tried.add(key);
    ctx.steps.add(release.evidence);
    const found = matchRelease(release.name, release.namespace, ctx);
    if (found.length > 0) return { found, via: [release.evidence] };
    ctx.steps.add(
      `no environment on cluster ${ctx.cluster.name} with helm release ${shown(release.name)} in ${shown(release.namespace)}`,
    );
  }
  return { found: [], via: [] };
}

async function byFlux(
  objects: Array<{ ref: ObjectRef; object: KubeObject }>,
  client: ClusterClient,
  ctx: Context,
) {
  const tried = new Set<string>();
  for (const { ref, object } of objects) {
    const { labels } = metadataMaps(object.metadata);
    const name = labels[FLUX_NAME];
    const namespace = labels[FLUX_NAMESPACE];
    if (name === undefined || namespace === undefined) {
      ctx.steps.add(`${describe(ref)}: no ${FLUX_NAME}/${FLUX_NAMESPACE} labels`);
      continue;
    }
    const key = `${namespace}/${name}`;
    if (tried.has(key)) continue;
    tried.add(key);
    const evidence = `${describe(ref)}: installed by HelmRelease ${shown(namespace)}/${shown(name)} (Flux labels)`;
    ctx.steps.add(evidence);
    const hr: ObjectRef = { kind: 'HelmRelease', namespace, name };
    if (!DNS_LABEL.test(namespace) || !DNS_SUBDOMAIN.test(name) || name.length > 253) {
      ctx.steps.add(`${describe(hr)}: not a valid object name`);
      continue;
    }
    let release: KubeObject | undefined;
    try {
      release = await client.read({
        apiVersion: HELM_RELEASE_API_VERSION,
        kind: 'HelmRelease',
        metadata: { name, namespace },
      });
    } catch (error) {
      if (!(error instanceof ClusterError) || error.clusterWide) throw error;
      ctx.steps.add(`${describe(hr)}: not read (${error.message})`);
    }
    const via = [evidence];
    if (release) {
      const { annotations } = metadataMaps(release.metadata);
      const appName = annotations[PROVENANCE.app];
      const envName = annotations[PROVENANCE.environment];
      if (appName !== undefined && envName !== undefined) {
        // The HelmRelease lives in the environment's namespace (DAG sets no targetNamespace).
        const env = checkProvenance(
          appName,
          envName,
          `${describe(hr)} annotations`,
          namespace,
          ctx,
        );
        if (env && env.helmType === 'flux' && envRelease(env, ctx.apps) === name) {
          return {
            found: [env],
            via: [
              ...via,
              `${describe(hr)}: ${PROVENANCE.app}=${shown(appName)}, ${PROVENANCE.environment}=${shown(envName)}`,
            ],
          };
        }
        if (env) {
          ctx.steps.add(
            `${describe(hr)}: environment ${label(env, ctx)} does not render a HelmRelease named ${shown(name)}: refused`,
          );
        }
      } else {
        ctx.steps.add(`${describe(hr)}: no ${PROVENANCE.app}/${PROVENANCE.environment}`);
      }
    } else {
      ctx.steps.add(`${describe(hr)}: not found on cluster ${ctx.cluster.name}`);
    }
    const found = matchRelease(name, namespace, ctx, true);
    if (found.length > 0) return { found, via: [...via, `${describe(hr)}: rendered by DAG`] };
    ctx.steps.add(
      `no Flux environment on cluster ${ctx.cluster.name} renders HelmRelease ${shown(namespace)}/${shown(name)}`,
    );
  }
  return { found: [] as Environment[], via: [] as string[] };
}

function clusterFailure(error: unknown, steps: Steps): WorkloadUnresolved {
  if (error instanceof ClusterError) {
    const status = error.reason === 'unreachable' || error.reason === 'server-error' ? 503 : 502;
    steps.add(`cluster ${error.cluster}: ${error.reason}`);
    return { ok: false, status, error: error.message, lookedAt: steps.list() };
  }
  if (error instanceof ConfigError) {
    steps.add('cluster client: not usable');
    return { ok: false, status: 503, error: error.message, lookedAt: steps.list() };
  }
  if (error instanceof DagError) {
    return { ok: false, status: 502, error: error.message, lookedAt: steps.list() };
  }
  throw error;
}

/** Traces a live workload to the app environment DAG renders it from. */
export async function resolveWorkload(
  input: WorkloadInput,
  deps: ResolveDeps,
): Promise<WorkloadResolution> {
  const steps = new Steps();
  const valid = validate(input);
  if ('error' in valid) {
    return { ok: false, status: 400, error: valid.error, field: valid.field, lookedAt: [] };
  }
  const cluster = await deps.store.findCluster(String(valid.cluster));
  if (!cluster) {
    steps.add(`clusters: none with id or name ${shown(valid.cluster)}`);
    return {
      ok: false,
      status: 404,
      error: `DAG has no cluster ${shown(valid.cluster)}`,
      lookedAt: steps.list(),
    };
  }
  const [apps, environments] = await Promise.all([
    deps.store.listApps(),
    deps.store.listEnvironments(),
  ]);
  const ctx: Context = {
    cluster,
    namespace: valid.namespace,
    apps: new Map(apps.map((a) => [a.id, a])),
    environments,
    steps,
  };

  let client: ClusterClient;
  const named: ObjectRef = { kind: valid.kind, namespace: valid.namespace, name: valid.name };
  const chain: Array<{ ref: ObjectRef; object: KubeObject }> = [];
  try {
    client = await deps.clusters.get(cluster.id);
    const first = await client.read({
      apiVersion: WORKLOAD_KINDS[valid.kind],
      kind: valid.kind,
      metadata: { name: valid.name, namespace: valid.namespace },
    });
    if (!first) {
      steps.add(`${describe(named)}: not found on cluster ${cluster.name}`);
      return {
        ok: false,
        status: 404,
        error: `${describe(named)} not found on cluster ${cluster.name}`,
        lookedAt: steps.list(),
      };
    }
    chain.push({ ref: named, object: first });

    // Up the controller owners, as far as they are workloads DAG knows and can read.
    for (let depth = 0; ; depth += 1) {
      const current = chain[chain.length - 1]!;
      const owner = controllerOf(current.object);
      if (!owner) {
        steps.add(`${describe(current.ref)}: no controller owner`);
        break;
      }
      const ownerRef: ObjectRef = {
        kind: owner.kind,
        name: owner.name,
        namespace: valid.namespace,
      };
      const kind = owner.kind as WorkloadKind;
      if (
        !Object.hasOwn(WORKLOAD_KINDS, owner.kind) ||
        groupOf(owner.apiVersion) !== groupOf(WORKLOAD_KINDS[kind])
      ) {
        steps.add(
          `${describe(current.ref)}: owner ${shown(owner.apiVersion)} ${shown(owner.kind)} ${shown(owner.name)} is not a workload kind DAG follows`,
        );
        break;
      }
      if (depth >= MAX_OWNER_DEPTH) {
        steps.add(
          `${describe(current.ref)}: owner ${kind} ${shown(owner.name)} not followed (more than ${MAX_OWNER_DEPTH} owners)`,
        );
        break;
      }
      steps.add(`${describe(current.ref)}: owner ${kind} ${shown(owner.name)}`);
      if (!DNS_SUBDOMAIN.test(owner.name) || owner.name.length > 253) {
        steps.add(`${describe(ownerRef)}: not a valid object name`);
        break;
      }
      let read: KubeObject | undefined;
      try {
        read = await client.read({
          apiVersion: owner.apiVersion,
          kind,
          metadata: { name: owner.name, namespace: valid.namespace },
        });
      } catch (error) {
        if (!(error instanceof ClusterError) || error.clusterWide) throw error;
        steps.add(`${describe(ownerRef)}: not read (${error.message})`);
        break;
      }
      if (!read) {
        steps.add(`${describe(ownerRef)}: not found (deleted?)`);
        break;
      }
      const uid = read.metadata.uid;
      if (owner.uid !== undefined && typeof uid === 'string' && uid !== owner.uid) {
        steps.add(
          `${describe(ownerRef)}: a different object of that name (uid differs), not followed`,
        );
        break;
      }
      chain.push({ ref: ownerRef, object: read });
    }
  } catch (error) {
    return clusterFailure(error, steps);
  }

  const top = chain[chain.length - 1]!.ref;
  const topDown = [...chain].reverse();
  const chainVia = chain
    .slice(1)
    .map((c, i) => `${describe(chain[i]!.ref)}: owner ${c.ref.kind} ${shown(c.ref.name)}`);

  const rules: Array<{
    matchedBy: MatchedBy;
    run: () => Promise<{ found: Environment[]; via: string[] }>;
  }> = [
    { matchedBy: 'provenance', run: async () => byProvenance(topDown, ctx) },
    { matchedBy: 'helm-release', run: async () => byHelmRelease(topDown, ctx) },
    { matchedBy: 'flux-helmrelease', run: () => byFlux(topDown, client, ctx) },
  ];
  for (const rule of rules) {
    let result: { found: Environment[]; via: string[] };
    try {
      result = await rule.run();
    } catch (error) {
      return clusterFailure(error, steps);
    }
    if (result.found.length > 1) {
      const names = result.found.map((env) => label(env, ctx));
      return {
        ok: false,
        status: 409,
        error: `${describe(top)} on cluster ${cluster.name} matches more than one environment (${rule.matchedBy}): ${names.join(' and ')}`,
        candidates: result.found.map((env) => resolved(env, ctx)),
        lookedAt: steps.list(),
      };
    }
    const env = result.found[0];
    if (env) {
      return {
        ok: true,
        ...resolved(env, ctx),
        cluster: { id: cluster.id, name: cluster.name },
        workload: top,
        chain: chain.map((c) => c.ref),
        matchedBy: rule.matchedBy,
        via: [...chainVia, ...result.via].slice(0, MAX_STEPS),
      };
    }
  }
  return {
    ok: false,
    status: 404,
    error: `DAG cannot trace ${describe(top)} on cluster ${cluster.name} to an environment: no ${PROVENANCE.app}/${PROVENANCE.environment} it trusts, no Helm release or Flux HelmRelease of an environment on this cluster`,
    lookedAt: steps.list(),
  };
}
