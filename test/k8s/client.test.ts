import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { ClusterClients } from '../../src/k8s/client.ts';
import { ClusterError } from '../../src/k8s/cluster-error.ts';
import { startFakeKubeApiserver, type FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import {
  configMap,
  everythingIn,
  memoryLog,
  newToken,
  rowStore,
  type ClusterRow,
} from './support.ts';

const token = newToken();
let fake: FakeKubeApiserver;

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token });
});
afterAll(() => fake?.stop());

function setup(rows: Array<[number, ClusterRow]>) {
  const table = new Map(rows);
  const { store, calls } = rowStore(table);
  const { log, lines } = memoryLog();
  return { table, calls, lines, clients: new ClusterClients({ store, log }) };
}

describe('ClusterClients', () => {
  it('builds one client per cluster and reuses it while the row is unchanged', async () => {
    const { clients, lines } = setup([
      [1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token }],
      [2, { name: 'prod', apiUrl: fake.url, caCert: fake.caCert, token }],
    ]);
    const first = await clients.get(1);
    expect(await clients.get(1)).toBe(first);
    const other = await clients.get(2);
    expect(other).not.toBe(first);
    expect(first.cluster).toEqual({ id: 1, name: 'staging', apiUrl: fake.url });
    expect(other.cluster.name).toBe('prod');
    expect(lines.filter((l) => l.includes('kubernetes client built'))).toHaveLength(2);
    expect(await first.read(configMap('absent', {}, 'default'))).toBeUndefined();
  });

  it.each([
    ['token', { token: newToken() }],
    [
      'CA certificate',
      { caCert: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' },
    ],
    ['API URL', { apiUrl: 'https://127.0.0.1:1' }],
    ['name', { name: 'staging-renamed' }],
  ] as Array<[string, Partial<ClusterRow>]>)(
    'rebuilds the client when the %s changes',
    async (_what, change) => {
      const { clients, table, lines } = setup([
        [1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token }],
      ]);
      const before = await clients.get(1);
      table.set(1, { ...table.get(1)!, ...change });
      const after = await clients.get(1);
      expect(after).not.toBe(before);
      expect(await clients.get(1)).toBe(after);
      expect(
        lines.some((l) => l.includes('kubernetes client rebuilt: the cluster row changed')),
      ).toBe(true);
    },
  );

  it('uses a rotated token on the next get()', async () => {
    const { clients, table } = setup([
      [1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token: newToken() }],
    ]);
    const stale = await clients.get(1);
    const error = await stale.read(configMap('a', {}, 'default')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ClusterError);
    expect(error).toMatchObject({ reason: 'unauthorized' });

    table.set(1, { ...table.get(1)!, token });
    const fresh = await clients.get(1);
    expect(await fresh.read(configMap('a', {}, 'default'))).toBeUndefined();
  });

  it('refuses a cluster without a token, naming it', async () => {
    const { clients, calls } = setup([
      [3, { name: 'edge-1', apiUrl: fake.url, caCert: fake.caCert, token: null }],
    ]);
    const error = await clients.get(3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^cluster edge-1 has no service-account token/);
    expect(calls.clusterToken).toBe(0);
  });

  it('refuses an unknown cluster id', async () => {
    const { clients } = setup([]);
    await expect(clients.get(99)).rejects.toThrow(
      new ConfigError('cluster 99 does not exist (see: dag clusters list)'),
    );
  });

  it('keeps the token out of its log lines', async () => {
    const { clients, lines, table } = setup([
      [1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token }],
    ]);
    const client = await clients.get(1);
    await client.read(configMap('a', {}, 'default'));
    table.set(1, { ...table.get(1)!, token: `${token}-next` });
    const next = await clients.get(1);
    const failure = await next.read(configMap('a', {}, 'default')).catch((e: unknown) => e);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((l) => l.includes(token))).toEqual([]);
    expect(everythingIn(failure)).not.toContain(token);
  });
});
