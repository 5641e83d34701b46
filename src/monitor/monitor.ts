// Cluster monitoring in one DAG process: the clusters this process holds the lease of
// (leases.ts) are watched (cluster-monitor.ts); each change to an environment's objects is
// evaluated (rollout-state.ts) against what DAG committed for it, stored (environment_rollouts),
// and handed to `onState` when it reads differently to a person than the state before it, so
// reports follow the rollout without repeating themselves.

import type { Logger } from '../log.ts';
import { kubeConfigFor } from '../k8s/kube-config.ts';
import { RawObjectApi } from '../k8s/raw-object-api.ts';
import type { Cluster, Environment, App } from '../model.ts';
import type { SqlRolloutStore } from '../store/rollouts.ts';
import { releaseNameFor } from '../workflows/deploy.ts';
import { ClusterMonitor } from './cluster-monitor.ts';
import type { EnvironmentObjects, WatchedEnvironment, WatchedKind } from './environment-objects.ts';
import { LeaseKeeper, type WatchLeases } from './leases.ts';
import type { Reconnect } from './resource-watch.ts';
import { reportKey, rolloutState } from './rollout-state.ts';
import type { RolloutOptions, RolloutState } from './types.ts';

export type MonitorDeps = {
  config: {
    listApps(): Promise<App[]>;
    listEnvironments(): Promise<Environment[]>;
    getCluster(id: number): Promise<Cluster | undefined>;
    clusterToken(id: number): Promise<string | null>;
  };
  rollouts: SqlRolloutStore;
  leases: WatchLeases;
  log: Logger;
  /** A state that reads differently from the environment's previous one (see reportKey). */
  onState?: (
    environment: WatchedEnvironment,
    state: RolloutState,
    previous: RolloutState | undefined,
  ) => void;
  onReconnect?: (clusterId: number, kind: WatchedKind, why: Reconnect) => void;
  rollout?: RolloutOptions;
  /**
   * Scrubs secrets from the reasons a cluster gives (events and conditions carry what
   * controllers print) before the state is kept: every reader (/status, `dag envs status`, the
   * MCP tool, statuses, cards, promotion bodies) shows it as kept.
   */
  mask?: (text: string) => string;
  /** Per Kubernetes request other than a watch. */
  timeoutMs?: number;
  roundMs?: number;
  settleMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  now?: () => Date;
};

const leaseName = (clusterId: number) => `cluster:${clusterId}`;

/**
 * How often an unchanged state is written again (its `observed_at`, when DAG last looked). Every
 * lease round evaluates every environment again (a commit not live past its grace period turns
 * into drift without any event), so an unchanged state is not written each time.
 */
const REWRITE_UNCHANGED_MS = 60_000;

/** Every environment DAG deploys, as monitoring finds its objects. */
export async function watchedEnvironments(
  config: MonitorDeps['config'],
): Promise<WatchedEnvironment[]> {
  const apps = new Map((await config.listApps()).map((app) => [app.id, app]));
  return (await config.listEnvironments()).flatMap((env) => {
    const app = apps.get(env.appId);
    if (!app) return [];
    return [
      {
        id: env.id,
        app: app.name,
        name: env.name,
        clusterId: env.clusterId,
        namespace: env.helmNamespace ?? 'default',
        releaseName: env.helmName ?? releaseNameFor(app),
        helmType: env.helmType,
        reconciled: env.reconciledBranch !== null,
      },
    ];
  });
}

export class Monitor {
  readonly #deps: MonitorDeps;
  readonly #clusters = new Map<number, ClusterMonitor>();
  readonly #keeper: LeaseKeeper;
  /** Evaluations run one at a time per environment, in the order their changes came. */
  readonly #queues = new Map<number, Promise<void>>();
  #environments: WatchedEnvironment[] = [];
  /** Clusters being set up to watch (reading their row and token). */
  readonly #starting = new Set<Promise<void>>();

  constructor(deps: MonitorDeps) {
    this.#deps = deps;
    this.#keeper = new LeaseKeeper({
      leases: deps.leases,
      wanted: async () => {
        this.#environments = await watchedEnvironments(deps.config);
        this.#refresh();
        return [...new Set(this.#environments.map((e) => leaseName(e.clusterId)))];
      },
      onAcquire: (name) => {
        const starting = this.#watch(Number(name.slice('cluster:'.length)));
        this.#starting.add(starting);
        void starting.finally(() => this.#starting.delete(starting));
      },
      onLose: (name) => this.#unwatch(Number(name.slice('cluster:'.length))),
      log: deps.log,
      ...(deps.roundMs !== undefined ? { roundMs: deps.roundMs } : {}),
    });
  }

  /** The clusters this process watches now. */
  get watching(): number[] {
    return [...this.#clusters.keys()].sort((a, b) => a - b);
  }

  start(): void {
    this.#keeper.start();
  }

  /** One lease round now, and the watches it started set up (tests). */
  async round(): Promise<void> {
    await this.#keeper.runRound();
    await Promise.all(this.#starting);
  }

  async stop(): Promise<void> {
    await this.#keeper.stop();
    await Promise.all(this.#starting);
    for (const id of [...this.#clusters.keys()]) this.#unwatch(id);
    await Promise.all(this.#queues.values());
  }

  async #watch(clusterId: number): Promise<void> {
    const { config, log } = this.#deps;
    try {
      const cluster = await config.getCluster(clusterId);
      const token = await config.clusterToken(clusterId);
      if (!cluster || !token) {
        log.warn({ clusterId }, 'cannot watch a cluster without an API URL and a token');
        return;
      }
      if (this.#clusters.has(clusterId)) return;
      const kubeConfig = kubeConfigFor(cluster, token);
      const monitor = new ClusterMonitor({
        kubeConfig,
        api: RawObjectApi.create(kubeConfig, this.#deps.timeoutMs ?? 15_000),
        environments: this.#environments.filter((e) => e.clusterId === clusterId),
        onObjects: (environment, objects) => this.#evaluate(environment, objects),
        onReconnect: (kind, why) => this.#deps.onReconnect?.(clusterId, kind, why),
        log: log.child({ clusterId, cluster: cluster.name }),
        ...(this.#deps.settleMs !== undefined ? { settleMs: this.#deps.settleMs } : {}),
        ...(this.#deps.backoff ? { backoff: this.#deps.backoff } : {}),
      });
      this.#clusters.set(clusterId, monitor);
      monitor.start();
    } catch (error) {
      log.warn({ err: error, clusterId }, 'could not start watching a cluster');
    }
  }

  #unwatch(clusterId: number): void {
    this.#clusters.get(clusterId)?.stop();
    this.#clusters.delete(clusterId);
  }

  /** Environments added, changed or removed since the last round reach the watches. */
  #refresh(): void {
    for (const [clusterId, monitor] of this.#clusters) {
      monitor.update(this.#environments.filter((e) => e.clusterId === clusterId));
    }
  }

  #evaluate(environment: WatchedEnvironment, objects: EnvironmentObjects): void {
    const previous = this.#queues.get(environment.id) ?? Promise.resolve();
    const next = previous
      .then(() => this.#evaluateNow(environment, objects))
      .catch((error: unknown) =>
        this.#deps.log.warn(
          { err: error, environmentId: environment.id },
          'could not evaluate an environment',
        ),
      );
    this.#queues.set(environment.id, next);
  }

  #masked(state: RolloutState): RolloutState {
    const { mask } = this.#deps;
    if (!mask) return state;
    const scrub = (text: string | null) => (text === null ? null : mask(text));
    return {
      ...state,
      reason: scrub(state.reason),
      workloads: state.workloads.map((w) => ({ ...w, reason: scrub(w.reason) })),
    };
  }

  async #evaluateNow(environment: WatchedEnvironment, objects: EnvironmentObjects): Promise<void> {
    const { rollouts } = this.#deps;
    const stored = await rollouts.get(environment.id);
    const evaluated = rolloutState({
      environment,
      objects: [
        ...(objects.helmRelease ? [objects.helmRelease] : []),
        ...objects.sources,
        ...objects.workloads,
        ...objects.pods,
        ...objects.events,
      ],
      committed: environment.reconciled
        ? await rollouts.released(environment.id)
        : await rollouts.committed(environment.id),
      now: (this.#deps.now ?? (() => new Date()))(),
      previous: stored?.state ?? null,
      ...(this.#deps.rollout ? { options: this.#deps.rollout } : {}),
    });
    const state = this.#masked(evaluated);
    const now = (this.#deps.now ?? (() => new Date()))().getTime();
    const unchanged =
      stored !== undefined &&
      JSON.stringify(stored.state) === JSON.stringify(state) &&
      now - stored.observedAt.getTime() < REWRITE_UNCHANGED_MS;
    if (!unchanged) await rollouts.save(environment.id, state);
    if (stored && reportKey(stored.state) === reportKey(state)) return;
    this.#deps.log.info(
      {
        environmentId: environment.id,
        phase: state.phase,
        live: state.liveCommit?.sha.slice(0, 7),
        drifted: state.drift.drifted,
      },
      `rollout of ${environment.app} in ${environment.name}: ${state.phase}`,
    );
    this.#deps.onState?.(environment, state, stored?.state);
  }
}
