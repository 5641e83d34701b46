// Small builders of live objects as the API server returns them (only the fields that matter).
import type { MonitoredEnvironment } from '../../src/monitor/types.ts';

export const OLD = '1111111aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
export const NEW = '2222222bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
export const NAMESPACE = 'shop';
export const RELEASE = 'web';
export const T0 = new Date('2026-12-01T10:00:00Z');
export const minutes = (n: number): Date => new Date(T0.getTime() + n * 60_000);

export const FLUX: MonitoredEnvironment = {
  name: 'staging',
  namespace: NAMESPACE,
  releaseName: RELEASE,
  helmType: 'flux',
};
export const PLAIN: MonitoredEnvironment = { ...FLUX, helmType: 'plain' };

const provenance = (sha: string | undefined): Record<string, string> =>
  sha === undefined
    ? {}
    : {
        'dag.dev/app': 'web',
        'dag.dev/environment': 'staging',
        'dag.dev/source-commit': sha,
        'dag.dev/source-commit-url': `https://github.com/acme/web/commit/${sha}`,
        'dag.dev/iac-path': 'apps/web/staging',
      };

type Condition = { type: string; status: string; reason?: string; message?: string; at?: Date };
const conditions = (list: readonly Condition[]) =>
  list.map(({ at, ...rest }) => ({
    ...rest,
    lastTransitionTime: (at ?? T0).toISOString(),
  }));

export function helmRelease(
  options: {
    sha?: string;
    generation?: number;
    observedGeneration?: number;
    conditions?: Condition[];
    history?: Record<string, unknown>[];
    suspend?: boolean;
    /** Where its chart comes from (`spec.chart.spec.sourceRef`). */
    sourceRef?: { kind: string; name: string; namespace?: string };
  } = {},
): Record<string, unknown> {
  const generation = options.generation ?? 2;
  return {
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: {
      name: RELEASE,
      namespace: NAMESPACE,
      generation,
      annotations: provenance(options.sha ?? NEW),
    },
    spec: {
      releaseName: RELEASE,
      interval: '5m',
      ...(options.suspend ? { suspend: true } : {}),
      ...(options.sourceRef
        ? { chart: { spec: { chart: RELEASE, sourceRef: options.sourceRef } } }
        : {}),
    },
    status: {
      observedGeneration: options.observedGeneration ?? generation,
      conditions: conditions(
        options.conditions ?? [
          {
            type: 'Ready',
            status: 'True',
            reason: 'UpgradeSucceeded',
            message: 'Helm upgrade succeeded',
          },
          { type: 'Released', status: 'True', reason: 'UpgradeSucceeded' },
        ],
      ),
      lastAttemptedRevision: '0.1.0',
      lastAppliedRevision: '0.1.0',
      history: options.history ?? [
        {
          chartVersion: '0.1.0',
          digest: 'sha256:abc',
          status: 'deployed',
          firstDeployed: T0.toISOString(),
          lastDeployed: T0.toISOString(),
        },
      ],
    },
  };
}

type Counts = {
  replicas?: number;
  total?: number;
  updated?: number;
  ready?: number;
  available?: number;
};

export function deployment(
  options: Counts & {
    name?: string;
    sha?: string;
    generation?: number;
    observedGeneration?: number;
    conditions?: Condition[];
  } = {},
): Record<string, unknown> {
  const replicas = options.replicas ?? 3;
  const generation = options.generation ?? 4;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: options.name ?? RELEASE,
      namespace: NAMESPACE,
      generation,
      annotations: { 'meta.helm.sh/release-name': RELEASE, ...provenance(options.sha ?? NEW) },
    },
    spec: {
      replicas,
      template: {
        metadata: { annotations: provenance(options.sha ?? NEW) },
        spec: { containers: [{ name: 'app', env: [{ name: 'PASSWORD', value: 'hunter2' }] }] },
      },
    },
    status: {
      observedGeneration: options.observedGeneration ?? generation,
      replicas: options.total ?? replicas,
      updatedReplicas: options.updated ?? replicas,
      readyReplicas: options.ready ?? replicas,
      availableReplicas: options.available ?? replicas,
      conditions: conditions(
        options.conditions ?? [
          { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
          { type: 'Progressing', status: 'True', reason: 'NewReplicaSetAvailable' },
        ],
      ),
    },
  };
}

export function statefulSet(
  options: Counts & {
    sha?: string;
    partition?: number;
    currentRevision?: string;
    updateRevision?: string;
  } = {},
): Record<string, unknown> {
  const replicas = options.replicas ?? 3;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'db', namespace: NAMESPACE, generation: 3 },
    spec: {
      replicas,
      updateStrategy: {
        type: 'RollingUpdate',
        rollingUpdate: { partition: options.partition ?? 0 },
      },
      template: { metadata: { annotations: provenance(options.sha ?? NEW) } },
    },
    status: {
      observedGeneration: 3,
      replicas: options.total ?? replicas,
      updatedReplicas: options.updated ?? replicas,
      readyReplicas: options.ready ?? replicas,
      availableReplicas: options.available ?? replicas,
      currentRevision: options.currentRevision ?? 'db-7c9f',
      updateRevision: options.updateRevision ?? 'db-7c9f',
    },
  };
}

export function daemonSet(
  options: { desired?: number; updated?: number; available?: number; sha?: string } = {},
): Record<string, unknown> {
  const desired = options.desired ?? 4;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'agent', namespace: NAMESPACE, generation: 2 },
    spec: { template: { metadata: { annotations: provenance(options.sha ?? NEW) } } },
    status: {
      observedGeneration: 2,
      desiredNumberScheduled: desired,
      currentNumberScheduled: desired,
      updatedNumberScheduled: options.updated ?? desired,
      numberReady: options.available ?? desired,
      numberAvailable: options.available ?? desired,
    },
  };
}

type ContainerOptions = {
  name?: string;
  ready?: boolean;
  restarts?: number;
  waiting?: { reason: string; message?: string };
  lastTerminated?: string;
};

export function pod(
  options: {
    name?: string;
    owner?: { kind: string; name: string };
    sha?: string;
    labels?: Record<string, string>;
    containers?: ContainerOptions[];
  } = {},
): Record<string, unknown> {
  const containers = options.containers ?? [{}];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name ?? 'web-5d9c7b-x2x4z',
      namespace: NAMESPACE,
      labels: options.labels ?? { 'pod-template-hash': '5d9c7b' },
      annotations: provenance(options.sha ?? NEW),
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          controller: true,
          ...(options.owner ?? { kind: 'ReplicaSet', name: 'web-5d9c7b' }),
        },
      ],
    },
    spec: { containers: [{ name: 'app', env: [{ name: 'PASSWORD', value: 'hunter2' }] }] },
    status: {
      phase: 'Running',
      containerStatuses: containers.map((c) => ({
        name: c.name ?? 'app',
        ready: c.ready ?? true,
        restartCount: c.restarts ?? 0,
        state: c.waiting ? { waiting: c.waiting } : { running: { startedAt: T0.toISOString() } },
        lastState: c.lastTerminated
          ? { terminated: { reason: c.lastTerminated, exitCode: 137 } }
          : {},
      })),
    },
  };
}

export function event(options: {
  kind: string;
  name: string;
  reason: string;
  message: string;
  type?: string;
  at?: Date;
}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${options.name}.1789abc`, namespace: NAMESPACE },
    involvedObject: { kind: options.kind, name: options.name, namespace: NAMESPACE },
    reason: options.reason,
    message: options.message,
    type: options.type ?? 'Warning',
    count: 1,
    lastTimestamp: (options.at ?? T0).toISOString(),
  };
}

/** A Flux source (GitRepository by default) of the namespace, with its conditions. */
export function fluxSource(options: {
  kind?: string;
  name?: string;
  conditions: Condition[];
}): Record<string, unknown> {
  return {
    apiVersion: 'source.toolkit.fluxcd.io/v1',
    kind: options.kind ?? 'GitRepository',
    metadata: { name: options.name ?? RELEASE, namespace: NAMESPACE, generation: 1 },
    spec: { url: 'https://github.com/acme/web', interval: '5m' },
    status: { observedGeneration: 1, conditions: conditions(options.conditions) },
  };
}
