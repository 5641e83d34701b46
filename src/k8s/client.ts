import { createHash } from 'node:crypto';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { ConfigStore } from '../store/types.ts';
import { KubeClusterClient, type ClusterClient } from './cluster-client.ts';
import { kubeConfigFor } from './kube-config.ts';
import { RawObjectApi } from './raw-object-api.ts';

export type { ClusterClient } from './cluster-client.ts';

export const DEFAULT_KUBE_TIMEOUT_MS = 15_000;

export type ClusterClientsOptions = {
  store: Pick<ConfigStore, 'getCluster' | 'clusterToken'>;
  log: Logger;
  /** Per request, including connecting and reading the answer. */
  timeoutMs?: number;
};

/**
 * Kubernetes clients for the clusters table: one KubeConfig per row, built on first use and
 * cached until the row changes (API URL, CA certificate, name or token), when it is rebuilt.
 * The row is read on every get(), so a rotated token or CA is used on the next request.
 */
export class ClusterClients {
  readonly #store: ClusterClientsOptions['store'];
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #cache = new Map<number, { fingerprint: string; client: ClusterClient }>();

  constructor(options: ClusterClientsOptions) {
    this.#store = options.store;
    this.#log = options.log;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
  }

  async get(clusterId: number): Promise<ClusterClient> {
    const cluster = await this.#store.getCluster(clusterId);
    if (!cluster) {
      this.#cache.delete(clusterId);
      throw new ConfigError(`cluster ${clusterId} does not exist (see: dag clusters list)`);
    }
    const token = cluster.hasToken ? await this.#store.clusterToken(clusterId) : null;
    if (!token) {
      this.#cache.delete(clusterId);
      throw new ConfigError(
        `cluster ${cluster.name} has no service-account token, so DAG cannot talk to its API server (set one for the cluster, e.g. dag clusters add --token-stdin)`,
      );
    }
    // A hash, so the cache holds no second copy of the token in a comparable form.
    const fingerprint = createHash('sha256')
      .update([cluster.name, cluster.apiUrl, cluster.caCert ?? '', token].join('\0'))
      .digest('hex');
    const cached = this.#cache.get(clusterId);
    if (cached?.fingerprint === fingerprint) return cached.client;

    const api = RawObjectApi.create(kubeConfigFor(cluster, token), this.#timeoutMs);
    const client = new KubeClusterClient({
      cluster,
      api,
      timeoutMs: this.#timeoutMs,
      log: this.#log,
    });
    this.#cache.set(clusterId, { fingerprint, client });
    this.#log.info(
      { clusterId, cluster: cluster.name, apiUrl: cluster.apiUrl, ca: cluster.caCert !== null },
      cached ? 'kubernetes client rebuilt: the cluster row changed' : 'kubernetes client built',
    );
    return client;
  }
}
