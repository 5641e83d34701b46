// The watches of one cluster: for each namespace that holds a monitored environment, one
// ResourceWatch per watched kind; on any change there, each environment of that namespace gets
// its objects again (environmentObjects), at most once per `settleMs`, so a burst of events
// (a rollout replacing ten pods) is one evaluation. One cluster's trouble stays its own: its
// watches retry on their own backoff, and nothing here waits on another cluster.

import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { RawObjectApi } from '../k8s/raw-object-api.ts';
import {
  WATCHED_KINDS,
  environmentObjects,
  type EnvironmentObjects,
  type WatchedEnvironment,
  type WatchedKind,
} from './environment-objects.ts';
import { ResourceWatch, type Reconnect } from './resource-watch.ts';

export type ClusterMonitorOptions = {
  kubeConfig: KubeConfig;
  api: RawObjectApi;
  /** The environments on this cluster to monitor. */
  environments: readonly WatchedEnvironment[];
  /** An environment's objects, after a change in its namespace. */
  onObjects: (environment: WatchedEnvironment, objects: EnvironmentObjects) => void;
  onReconnect?: (kind: WatchedKind, why: Reconnect) => void;
  log: Logger;
  /** Changes within this long are evaluated together (default 200 ms). */
  settleMs?: number;
  backoff?: { initialMs: number; maxMs: number };
};

type NamespaceWatches = {
  watches: Map<WatchedKind, ResourceWatch>;
  timer: NodeJS.Timeout | undefined;
};

export class ClusterMonitor {
  readonly #options: ClusterMonitorOptions;
  readonly #namespaces = new Map<string, NamespaceWatches>();
  #environments: readonly WatchedEnvironment[];

  constructor(options: ClusterMonitorOptions) {
    this.#options = options;
    this.#environments = options.environments;
  }

  start(): void {
    this.#sync();
  }

  /** Follows a new set of environments: watches for new namespaces, none for namespaces gone. */
  update(environments: readonly WatchedEnvironment[]): void {
    this.#environments = environments;
    this.#sync();
    for (const namespace of this.#namespaces.keys()) this.#changed(namespace);
  }

  stop(): void {
    for (const namespace of [...this.#namespaces.keys()]) this.#drop(namespace);
  }

  #sync(): void {
    const wanted = new Set(this.#environments.map((e) => e.namespace));
    for (const namespace of [...this.#namespaces.keys()]) {
      if (!wanted.has(namespace)) this.#drop(namespace);
    }
    for (const namespace of wanted) {
      if (this.#namespaces.has(namespace)) continue;
      const watches = new Map<WatchedKind, ResourceWatch>();
      const entry: NamespaceWatches = { watches, timer: undefined };
      this.#namespaces.set(namespace, entry);
      for (const target of WATCHED_KINDS) {
        // No Flux kinds to watch where every environment there renders a plain chart.
        if (
          'flux' in target &&
          !this.#environments.some((e) => e.namespace === namespace && e.helmType === 'flux')
        ) {
          continue;
        }
        const watch = new ResourceWatch({
          kubeConfig: this.#options.kubeConfig,
          api: this.#options.api,
          target: { apiVersion: target.apiVersion, kind: target.kind, namespace },
          onChange: () => this.#changed(namespace),
          onReconnect: (why) => this.#options.onReconnect?.(target.kind, why),
          log: this.#options.log.child({ namespace, kind: target.kind }),
          ...(this.#options.backoff ? { backoff: this.#options.backoff } : {}),
        });
        watches.set(target.kind, watch);
        watch.start();
      }
    }
  }

  #drop(namespace: string): void {
    const entry = this.#namespaces.get(namespace);
    if (!entry) return;
    clearTimeout(entry.timer);
    for (const watch of entry.watches.values()) watch.stop();
    this.#namespaces.delete(namespace);
  }

  /** Evaluates the namespace's environments once things settle. */
  #changed(namespace: string): void {
    const entry = this.#namespaces.get(namespace);
    if (!entry || entry.timer) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      const byKind: Partial<Record<WatchedKind, readonly KubernetesObject[]>> = {};
      for (const [kind, watch] of entry.watches) byKind[kind] = watch.objects();
      for (const environment of this.#environments) {
        if (environment.namespace !== namespace) continue;
        this.#options.onObjects(environment, environmentObjects(environment, byKind));
      }
    }, this.#options.settleMs ?? 200);
    entry.timer.unref();
  }
}
