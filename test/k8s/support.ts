import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { createLogger, type Logger } from '../../src/log.ts';
import type { ConfigStore } from '../../src/store/types.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import type { Cluster } from '../../src/model.ts';

/** A token that cannot appear anywhere by accident, so finding it means it leaked. */
export function newToken(): string {
  return `dag-sa-token-${randomBytes(16).toString('hex')}`;
}

/** A logger at debug level whose lines are kept for assertions. */
export function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line) => lines.push(line) } });
  return { log, lines };
}

export type ClusterRow = {
  name: string;
  apiUrl: string;
  caCert: string | null;
  token: string | null;
};

/** The two ConfigStore methods ClusterClients uses, over rows a test edits in place. */
export function rowStore(rows: Map<number, ClusterRow>) {
  const calls = { getCluster: 0, clusterToken: 0 };
  const store: Pick<ConfigStore, 'getCluster' | 'clusterToken'> = {
    async getCluster(id: number): Promise<Cluster | undefined> {
      calls.getCluster += 1;
      const row = rows.get(id);
      if (!row) return undefined;
      return {
        id,
        name: row.name,
        apiUrl: row.apiUrl,
        caCert: row.caCert,
        hasToken: row.token !== null,
        createdAt: new Date(0),
      };
    },
    async clusterToken(id: number): Promise<string | null> {
      calls.clusterToken += 1;
      return rows.get(id)?.token ?? null;
    },
  };
  return { store, calls };
}

/** Everything an error could show: message, stack, causes and own properties, deeply. */
export function everythingIn(value: unknown): string {
  return inspect(value, { depth: 12, showHidden: false, getters: false });
}

export function deployment(
  image = 'ghcr.io/acme/web:1.2.3',
  extra: { namespace?: string; annotations?: Record<string, string> } = {},
): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      labels: { app: 'web' },
      ...(extra.namespace ? { namespace: extra.namespace } : {}),
      ...(extra.annotations ? { annotations: extra.annotations } : {}),
    },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: {
          containers: [
            {
              name: 'web',
              image,
              ports: [{ name: 'http', containerPort: 8080 }],
              env: [{ name: 'MODE', value: 'staging' }],
            },
          ],
        },
      },
    },
  };
}

export function configMap(
  name: string,
  data: Record<string, string>,
  namespace?: string,
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, ...(namespace ? { namespace } : {}) },
    data,
  };
}

export function helmRelease(name = 'web'): KubeObject {
  return {
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: { name },
    spec: {
      interval: '5m',
      chart: {
        spec: {
          chart: 'web',
          sourceRef: { kind: 'HelmRepository', name: 'acme' },
          version: '1.2.3',
        },
      },
      values: { image: { tag: '1.2.3' } },
    },
  };
}
