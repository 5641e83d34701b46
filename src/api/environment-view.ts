import { maskYamlFilePair } from '../diff/mask-files.ts';
import { DagError } from '../errors.ts';
import type { ClusterClient } from '../k8s/client.ts';
import { ClusterError } from '../k8s/cluster-error.ts';
import { isKubeObject, isRecord, type KubeObject } from '../k8s/object.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import type { ConfigStore, DeployStore } from '../store/types.ts';
import { buildBundle, releaseNameFor, type BundleTools } from '../workflows/deploy.ts';
import { bounded } from './fix-proposal-service.ts';
import type { ProposalSource } from './fix-proposals.ts';
import type { App, Environment } from '../model.ts';
import { environmentStatus, type EnvironmentStatus } from '../monitor/status.ts';
import type { SqlRolloutStore } from '../store/rollouts.ts';

/**
 * What runs where, for an agent (the MCP tool get_environment): an environment's settings, its
 * latest deploys (source commit, IAC commit, state), the bundle DAG renders for it at the
 * environment branch's tip (masked), and each rendered object as the cluster has it now, with
 * its conditions. Every part is bounded, and a part DAG cannot read says why instead of failing
 * the whole answer.
 */

export const VIEW_LIMITS = {
  deploys: 5,
  /** Rendered files' characters together. */
  renderedChars: 128 * 1024,
  /** Live objects read. */
  objects: 40,
  conditions: 10,
  messageChars: 300,
} as const;

export type EnvironmentViewDeps = {
  config: Pick<ConfigStore, 'getCluster' | 'getIac'>;
  deploys: Pick<DeployStore, 'listDeploys'>;
  source: ProposalSource;
  tools: BundleTools;
  clusters: { get(clusterId: number): Promise<ClusterClient> };
  /** What cluster monitoring last saw of the environment (the same as `dag envs status`). */
  rollouts: Pick<SqlRolloutStore, 'get' | 'committed'>;
  mask: (text: string) => string;
};

export type LiveObject = {
  apiVersion: string;
  kind: string;
  namespace: string | null;
  name: string;
  found: boolean;
  conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  replicas?: { desired?: number; ready?: number; updated?: number; available?: number };
  observedGeneration?: number;
  error?: string;
};

export type EnvironmentView = {
  app: { name: string; repoUrl: string };
  environment: {
    name: string;
    branch: string;
    cluster: string;
    namespace: string;
    releaseName: string;
    helmType: Environment['helmType'];
    iac: { name: string; path: string; branch: string | null };
  };
  /** The latest successful deploy: the source commit the environment runs, and its IAC commit. */
  running: { sourceCommit: string; iacCommit: string | null; deployedAt: string } | null;
  deploys: Array<{
    sourceCommit: string;
    attempt: number;
    state: string;
    iacCommit: string | null;
    updatedAt: string;
    error: string | null;
  }>;
  rendered:
    { at: { branch: string; sha: string }; files: Record<string, string> } | { error: string };
  live: LiveObject[] | { error: string };
  /** The rollout as cluster monitoring last saw it: committed and live commit, phase, drift. */
  rollout: EnvironmentStatus;
};

export async function environmentView(
  app: App,
  environment: Environment,
  deps: EnvironmentViewDeps,
): Promise<EnvironmentView> {
  const { mask } = deps;
  const [cluster, iac, deploys, rollout] = await Promise.all([
    deps.config.getCluster(environment.clusterId),
    deps.config.getIac(environment.iacId),
    deps.deploys.listDeploys({ environmentId: environment.id, limit: VIEW_LIMITS.deploys }),
    environmentStatus(deps.rollouts, environment.id),
  ]);
  const success = deploys.find((d) => d.state === 'success');
  const namespace = environment.helmNamespace ?? 'default';
  const rendered = await render(app, environment, deps);
  return {
    app: { name: app.name, repoUrl: app.repoUrl },
    environment: {
      name: environment.name,
      branch: environment.branch,
      cluster: cluster?.name ?? `#${environment.clusterId}`,
      namespace,
      releaseName: environment.helmName ?? releaseNameFor(app),
      helmType: environment.helmType,
      iac: {
        name: iac?.name ?? `#${environment.iacId}`,
        path: environment.iacPath,
        branch: environment.iacBranch,
      },
    },
    running: success
      ? {
          sourceCommit: success.sha,
          iacCommit: success.iacCommit,
          deployedAt: success.updatedAt.toISOString(),
        }
      : null,
    deploys: deploys.map((d) => ({
      sourceCommit: d.sha,
      attempt: d.attempt,
      state: d.state,
      iacCommit: d.iacCommit,
      updatedAt: d.updatedAt.toISOString(),
      error: d.error === null ? null : bounded(mask(d.error), VIEW_LIMITS.messageChars),
    })),
    rendered: 'error' in rendered ? rendered : { at: rendered.at, files: rendered.shown },
    live:
      'error' in rendered
        ? { error: 'nothing rendered to look for' }
        : await live(rendered.objects, environment, namespace, deps),
    rollout: { ...rollout, reason: rollout.reason === null ? null : mask(rollout.reason) },
  };
}

type Rendered =
  | {
      at: { branch: string; sha: string };
      shown: Record<string, string>;
      objects: KubeObject[];
    }
  | { error: string };

async function render(app: App, env: Environment, deps: EnvironmentViewDeps): Promise<Rendered> {
  try {
    const { reader, tip } = await deps.source(app, env);
    const { files } = await buildBundle(reader, deps.tools, app, env, tip);
    const shown: Record<string, string> = {};
    const objects: KubeObject[] = [];
    let left = VIEW_LIMITS.renderedChars;
    for (const path of Object.keys(files).sort()) {
      const text = files[path] as string;
      const masked = maskYamlFilePair(path, text, text)?.after ?? deps.mask(text);
      shown[path] = bounded(masked, Math.max(0, left));
      left -= shown[path].length;
      if (/\.ya?ml$/i.test(path)) {
        try {
          objects.push(...parseYamlDocuments(text, path).filter(isKubeObject));
        } catch {
          // A file that is not YAML names no object to look for.
        }
      }
    }
    return { at: { branch: tip.branch, sha: tip.sha }, shown, objects };
  } catch (error) {
    if (error instanceof DagError) return { error: bounded(deps.mask(error.message), 500) };
    throw error;
  }
}

async function live(
  objects: KubeObject[],
  env: Environment,
  namespace: string,
  deps: EnvironmentViewDeps,
): Promise<LiveObject[] | { error: string }> {
  let client: ClusterClient;
  try {
    client = await deps.clusters.get(env.clusterId);
  } catch (error) {
    if (error instanceof DagError) return { error: bounded(deps.mask(error.message), 500) };
    throw error;
  }
  const out: LiveObject[] = [];
  for (const object of objects.slice(0, VIEW_LIMITS.objects)) {
    const metadata = object.metadata;
    const ref = {
      apiVersion: String(object.apiVersion),
      kind: String(object.kind),
      name: String(metadata.name),
      namespace: null as string | null,
    };
    try {
      const namespaced = await client.isNamespaced(ref.apiVersion, ref.kind);
      ref.namespace = namespaced
        ? typeof metadata.namespace === 'string'
          ? metadata.namespace
          : namespace
        : null;
      const found = await client.read({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
      });
      out.push(
        found ? { ...ref, found: true, ...status(found, deps.mask) } : { ...ref, found: false },
      );
    } catch (error) {
      if (error instanceof ClusterError && error.clusterWide) {
        return { error: bounded(deps.mask(error.message), 500) };
      }
      if (!(error instanceof DagError)) throw error;
      out.push({ ...ref, found: false, error: bounded(deps.mask(error.message), 300) });
    }
  }
  return out;
}

/** The parts of an object's status an agent reads first: conditions, replicas, generation. */
function status(object: KubeObject, mask: (text: string) => string): Partial<LiveObject> {
  const status = isRecord(object.status) ? object.status : {};
  const out: Partial<LiveObject> = {};
  if (Array.isArray(status.conditions)) {
    out.conditions = status.conditions
      .filter(isRecord)
      .slice(0, VIEW_LIMITS.conditions)
      .map((c) => ({
        type: String(c.type),
        status: String(c.status),
        ...(typeof c.reason === 'string' ? { reason: c.reason } : {}),
        ...(typeof c.message === 'string'
          ? { message: bounded(mask(c.message), VIEW_LIMITS.messageChars) }
          : {}),
      }));
  }
  const count = (key: string) =>
    typeof status[key] === 'number' ? (status[key] as number) : undefined;
  const spec = isRecord(object.spec) ? object.spec : {};
  const replicas = {
    desired: typeof spec.replicas === 'number' ? spec.replicas : undefined,
    ready: count('readyReplicas'),
    updated: count('updatedReplicas'),
    available: count('availableReplicas'),
  };
  if (Object.values(replicas).some((v) => v !== undefined)) {
    out.replicas = Object.fromEntries(
      Object.entries(replicas).filter(([, v]) => v !== undefined),
    ) as LiveObject['replicas'];
  }
  const generation = count('observedGeneration');
  if (generation !== undefined) out.observedGeneration = generation;
  return out;
}
