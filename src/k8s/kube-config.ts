import { KubeConfig } from '@kubernetes/client-node';
import type { Cluster } from '../model.ts';

/**
 * A KubeConfig for one clusters row: its API URL, its CA certificate (else the system's CAs) and
 * the service-account token. Names are unique per cluster (`dag-cluster-<id>`), so credentials of
 * two clusters can never mix, whatever the client library caches by name.
 */
export function kubeConfigFor(
  cluster: Pick<Cluster, 'id' | 'apiUrl' | 'caCert'>,
  token: string,
): KubeConfig {
  const name = `dag-cluster-${cluster.id}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name,
        server: cluster.apiUrl,
        skipTLSVerify: false,
        ...(cluster.caCert ? { caData: Buffer.from(cluster.caCert).toString('base64') } : {}),
      },
    ],
    users: [{ name, token }],
    contexts: [{ name, cluster: name, user: name }],
    currentContext: name,
  });
  return kc;
}
