// Which live objects of a namespace belong to one environment's release: its Flux HelmRelease
// (named after the release, in the environment's namespace, as DAG renders it), the workloads
// Helm installed for the release (Helm marks every object of a release with
// `meta.helm.sh/release-name`; DAG's provenance `dag.dev/app` and `dag.dev/environment` mark
// what DAG's own chart renders), the pods those workloads select, and the events about any of
// them. Plain objects in, plain objects out: nothing here trusts a field's type.

import type { KubernetesObject } from '@kubernetes/client-node';
import { PROVENANCE } from '../render/provenance.ts';
import type { MonitoredEnvironment } from './types.ts';

/** An environment the monitor watches: where its release lives, and whose it is. */
export type WatchedEnvironment = MonitoredEnvironment & {
  id: number;
  app: string;
  clusterId: number;
  /**
   * Its cluster reconciles another branch than DAG writes (the d1 layout): what runs there is
   * compared with the newest released deploy (a merged promotion), not the newest committed.
   */
  reconciled?: boolean;
};

/** The kinds a cluster monitor watches in each namespace it covers. */
export const WATCHED_KINDS = [
  { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', flux: true },
  // The chart sources DAG renders beside a HelmRelease (its bundle's source.yaml).
  { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'GitRepository', flux: true },
  { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'HelmRepository', flux: true },
  { apiVersion: 'source.toolkit.fluxcd.io/v1', kind: 'OCIRepository', flux: true },
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: 'v1', kind: 'Pod' },
  { apiVersion: 'v1', kind: 'Event' },
] as const;

export type WatchedKind = (typeof WATCHED_KINDS)[number]['kind'];

export type EnvironmentObjects = {
  helmRelease: KubernetesObject | undefined;
  /** The namespace's Flux sources (the rollout state picks the HelmRelease's). */
  sources: KubernetesObject[];
  workloads: KubernetesObject[];
  pods: KubernetesObject[];
  events: KubernetesObject[];
};

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);
const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function stringMap(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(record(value))) if (typeof v === 'string') out[key] = v;
  return out;
}

const metadataOf = (object: KubernetesObject) => record(object.metadata);
const annotationsOf = (object: KubernetesObject) => stringMap(metadataOf(object).annotations);
const nameOf = (object: KubernetesObject) => String(metadataOf(object).name ?? '');

/** Whether a workload is the release's: Helm's release annotation, or DAG's provenance. */
function isReleaseWorkload(env: WatchedEnvironment, object: KubernetesObject): boolean {
  const annotations = annotationsOf(object);
  if (annotations[HELM_RELEASE_NAME] === env.releaseName) return true;
  return (
    annotations[PROVENANCE.app] === env.app && annotations[PROVENANCE.environment] === env.name
  );
}

/** The pod labels a workload selects (`spec.selector.matchLabels`), or undefined for none. */
function selectorOf(workload: KubernetesObject): Record<string, string> | undefined {
  const spec = record((workload as { spec?: unknown }).spec);
  const labels = stringMap(record(spec.selector).matchLabels);
  return Object.keys(labels).length > 0 ? labels : undefined;
}

function selects(selector: Record<string, string>, pod: KubernetesObject): boolean {
  const labels = stringMap(metadataOf(pod).labels);
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

/**
 * The environment's objects among a namespace's (already limited to its namespace by the
 * watches): `byKind` holds every watched kind's objects there.
 */
export function environmentObjects(
  env: WatchedEnvironment,
  byKind: Partial<Record<WatchedKind, readonly KubernetesObject[]>>,
): EnvironmentObjects {
  const helmRelease =
    env.helmType === 'flux'
      ? byKind.HelmRelease?.find((object) => nameOf(object) === env.releaseName)
      : undefined;
  const workloads = [
    ...(byKind.Deployment ?? []),
    ...(byKind.StatefulSet ?? []),
    ...(byKind.DaemonSet ?? []),
  ].filter((object) => WORKLOAD_KINDS.has(object.kind ?? '') && isReleaseWorkload(env, object));
  const selectors = workloads.map(selectorOf).filter((s) => s !== undefined);
  const pods = (byKind.Pod ?? []).filter((pod) => selectors.some((s) => selects(s, pod)));
  const about = new Set(
    [...(helmRelease ? [helmRelease] : []), ...workloads, ...pods].map(
      (object) => `${object.kind ?? ''}/${nameOf(object)}`,
    ),
  );
  const events = (byKind.Event ?? []).filter((event) => {
    const involved = record((event as { involvedObject?: unknown }).involvedObject);
    return about.has(`${String(involved.kind ?? '')}/${String(involved.name ?? '')}`);
  });
  const sources =
    env.helmType === 'flux'
      ? [
          ...(byKind.GitRepository ?? []),
          ...(byKind.HelmRepository ?? []),
          ...(byKind.OCIRepository ?? []),
        ]
      : [];
  return { helmRelease, sources, workloads, pods, events };
}
