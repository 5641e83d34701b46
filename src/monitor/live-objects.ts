// Defensive readers for the live objects the rollout state looks at. Each field DAG reads is
// parsed on its own and falls back to undefined when it is missing or of the wrong type, so one
// malformed field (a controller bug, a hand-edited object, a truncated watch event) degrades to
// "unknown" instead of throwing or hiding the rest of the object.
import { z } from 'zod';
import { PROVENANCE } from '../render/provenance.ts';
import type { MonitoredEnvironment, WorkloadKind } from './types.ts';
import { MONITORED_WORKLOAD_KINDS } from './types.ts';

const text = z.string().optional().catch(undefined);
const count = z.number().int().min(0).optional().catch(undefined);
const flag = z.boolean().optional().catch(undefined);
const stringMap = z.record(z.string(), z.unknown()).optional().catch(undefined);
/** A list whose bad entries are dropped one by one rather than the whole list. */
function listOf<T extends z.ZodType>(item: T) {
  return z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((items) =>
      (items ?? []).flatMap((entry) => {
        const parsed = item.safeParse(entry);
        return parsed.success ? [parsed.data as z.output<T>] : [];
      }),
    );
}
/** A nested object that may be absent or not an object: {} then, so its fields read undefined. */
function section<T extends z.core.$ZodLooseShape>(shape: T) {
  return z
    .looseObject(shape)
    .optional()
    .catch(undefined)
    .transform((value) => value ?? z.looseObject(shape).parse({}));
}

const metadata = section({
  name: text,
  namespace: text,
  generation: count,
  annotations: stringMap,
  labels: stringMap,
  ownerReferences: listOf(z.looseObject({ kind: z.string(), name: z.string(), controller: flag })),
});

const condition = z.looseObject({
  type: z.string(),
  status: z.string().optional().catch(undefined),
  reason: text,
  message: text,
  lastTransitionTime: text,
});
export type Condition = z.output<typeof condition>;
const conditions = listOf(condition);

const sourceRef = section({ kind: text, name: text, namespace: text });

const helmRelease = z.looseObject({
  metadata,
  spec: section({
    suspend: flag,
    // Where its chart comes from: a source in `chart.spec`, or an OCIRepository in `chartRef`.
    chart: section({ spec: section({ sourceRef }) }),
    chartRef: sourceRef,
  }),
  status: section({
    observedGeneration: z.number().int().optional().catch(undefined),
    conditions,
    history: listOf(
      z.looseObject({
        chartVersion: text,
        status: text,
        firstDeployed: text,
        lastDeployed: text,
      }),
    ),
  }),
});
export type HelmReleaseView = z.output<typeof helmRelease>;

/** The Flux source kinds a HelmRelease's chart comes from. */
export const FLUX_SOURCE_KINDS = ['GitRepository', 'HelmRepository', 'OCIRepository'] as const;

const fluxSource = z.looseObject({
  kind: z.enum(FLUX_SOURCE_KINDS),
  metadata,
  status: section({
    observedGeneration: z.number().int().optional().catch(undefined),
    conditions,
  }),
});
export type FluxSourceView = z.output<typeof fluxSource>;

const workload = z.looseObject({
  kind: z.enum(MONITORED_WORKLOAD_KINDS),
  metadata,
  spec: section({
    replicas: count,
    paused: flag,
    updateStrategy: section({
      type: text,
      rollingUpdate: section({ partition: count }),
    }),
    template: section({ metadata: section({ annotations: stringMap }) }),
  }),
  status: section({
    observedGeneration: z.number().int().optional().catch(undefined),
    replicas: count,
    updatedReplicas: count,
    readyReplicas: count,
    availableReplicas: count,
    unavailableReplicas: count,
    currentRevision: text,
    updateRevision: text,
    desiredNumberScheduled: count,
    updatedNumberScheduled: count,
    numberAvailable: count,
    numberReady: count,
    conditions,
  }),
});
export type WorkloadView = z.output<typeof workload> & { kind: WorkloadKind };

const containerStatus = z.looseObject({
  name: z.string(),
  ready: flag,
  restartCount: count,
  state: section({ waiting: section({ reason: text, message: text }) }),
  lastState: section({
    terminated: section({ reason: text, exitCode: z.number().optional().catch(undefined) }),
  }),
});
export type ContainerStatusView = z.output<typeof containerStatus>;

const pod = z.looseObject({
  metadata,
  status: section({
    phase: text,
    reason: text,
    message: text,
    containerStatuses: listOf(containerStatus),
    initContainerStatuses: listOf(containerStatus),
  }),
});
export type PodView = z.output<typeof pod>;

const event = z.looseObject({
  metadata,
  type: text,
  reason: text,
  message: text,
  count: count,
  lastTimestamp: text,
  eventTime: text,
  firstTimestamp: text,
  involvedObject: section({ kind: text, name: text, namespace: text }),
  // events.k8s.io/v1 names it `regarding` and the message `note`.
  regarding: section({ kind: text, name: text, namespace: text }),
  note: text,
});
export type EventView = {
  type: string | undefined;
  reason: string | undefined;
  message: string | undefined;
  involved: { kind: string | undefined; name: string | undefined };
  at: Date | undefined;
};

export type LiveObjects = {
  helmRelease: HelmReleaseView | undefined;
  /** The Flux sources of the namespace (the HelmRelease's is picked by sourceOf). */
  sources: FluxSourceView[];
  workloads: WorkloadView[];
  pods: PodView[];
  events: EventView[];
};

const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';

const envelope = z.looseObject({ apiVersion: text, kind: text, metadata });

/** A valid date from an RFC 3339 string, else undefined. */
export function timeOf(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * The objects of one environment, by kind. An object in another namespace, a HelmRelease of
 * another name, or an object that is not an object at all is skipped: the watches select by
 * namespace and release, this only guards against a wrong feed.
 */
export function readLiveObjects(
  objects: readonly unknown[],
  environment: MonitoredEnvironment,
): LiveObjects {
  const live: LiveObjects = {
    helmRelease: undefined,
    sources: [],
    workloads: [],
    pods: [],
    events: [],
  };
  for (const object of objects) {
    const head = envelope.safeParse(object);
    if (!head.success) continue;
    const { apiVersion, kind, metadata: meta } = head.data;
    if (meta.namespace !== undefined && meta.namespace !== environment.namespace) continue;
    if (kind === 'HelmRelease' && apiVersion?.startsWith('helm.toolkit.fluxcd.io/')) {
      if (meta.name !== environment.releaseName) continue;
      const parsed = helmRelease.safeParse(object);
      if (parsed.success) live.helmRelease = parsed.data;
    } else if (apiVersion?.startsWith('source.toolkit.fluxcd.io/')) {
      const parsed = fluxSource.safeParse(object);
      if (parsed.success && parsed.data.metadata.name) live.sources.push(parsed.data);
    } else if (apiVersion === 'apps/v1' && isWorkloadKind(kind)) {
      // Helm stamps the objects of a release with its name (`helm template`, as Argo CD runs
      // it, does not): one stamped for another release is not ours, whatever the feed says.
      const release = stringAt(meta.annotations, HELM_RELEASE_NAME);
      if (release !== undefined && release !== environment.releaseName) continue;
      const parsed = workload.safeParse(object);
      if (parsed.success && parsed.data.metadata.name) live.workloads.push(parsed.data);
    } else if (kind === 'Pod' && apiVersion === 'v1') {
      const parsed = pod.safeParse(object);
      if (parsed.success && parsed.data.metadata.name) live.pods.push(parsed.data);
    } else if (kind === 'Event') {
      const parsed = event.safeParse(object);
      if (parsed.success) live.events.push(eventView(parsed.data));
    }
  }
  // Watches hand objects over in no particular order: sort so the same objects give the same state.
  live.workloads.sort((a, b) =>
    `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`),
  );
  live.pods.sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''));
  return live;
}

function isWorkloadKind(kind: string | undefined): kind is WorkloadKind {
  return (MONITORED_WORKLOAD_KINDS as readonly (string | undefined)[]).includes(kind);
}

function eventView(raw: z.output<typeof event>): EventView {
  const involved = raw.involvedObject.kind ? raw.involvedObject : raw.regarding;
  return {
    type: raw.type,
    reason: raw.reason,
    message: raw.message ?? raw.note,
    involved: { kind: involved.kind, name: involved.name },
    at: timeOf(raw.lastTimestamp) ?? timeOf(raw.eventTime) ?? timeOf(raw.firstTimestamp),
  };
}

/** The value of a string annotation or label, else undefined. */
export function stringAt(
  map: Record<string, unknown> | undefined,
  key: string,
): string | undefined {
  const value = map?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

const SHA = /^[0-9a-f]{7,64}$/i;

/** The source commit in a set of annotations, lower-cased, when it looks like a commit. */
export function commitIn(annotations: Record<string, unknown> | undefined): string | undefined {
  const sha = stringAt(annotations, PROVENANCE.sourceCommit);
  return sha !== undefined && SHA.test(sha) ? sha.toLowerCase() : undefined;
}

/** The condition of a type, if the list has it. */
export function conditionOf(list: readonly Condition[], type: string): Condition | undefined {
  return list.find((entry) => entry.type === type);
}

/**
 * The Flux source the HelmRelease's chart comes from, when it is among `sources` (those of the
 * environment's namespace: one in another namespace is not watched).
 */
export function sourceOf(
  release: HelmReleaseView,
  sources: readonly FluxSourceView[],
): FluxSourceView | undefined {
  const own = release.metadata.namespace;
  const ref = release.spec.chartRef.name
    ? release.spec.chartRef
    : release.spec.chart.spec.sourceRef;
  if (!ref.name || !ref.kind) return undefined;
  if (ref.namespace !== undefined && own !== undefined && ref.namespace !== own) return undefined;
  return sources.find((source) => source.kind === ref.kind && source.metadata.name === ref.name);
}
