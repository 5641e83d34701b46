import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeClusterClient } from '../../src/k8s/cluster-client.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import type { RawObjectApi } from '../../src/k8s/raw-object-api.ts';
import { memoryLog } from './support.ts';

const PASSWORD = 'echoed-Pl4nted-Value';

const deployment: KubeObject = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'apps' },
  spec: {
    template: {
      spec: { containers: [{ name: 'web', env: [{ name: 'DB_PASSWORD', value: PASSWORD }] }] },
    },
  },
} as KubeObject;

describe('KubeClusterClient', () => {
  it("logs a rejected dry-run without the values the server's message echoes", async () => {
    const message = `Deployment.apps "web" is invalid: spec.template.spec.containers[0].env[0].value: Invalid value: "${PASSWORD}": too long`;
    const api = {
      discover: async () => ({ name: 'deployments', namespaced: true, kind: 'Deployment' }),
      patch: async () => {
        throw new ApiException(
          422,
          'Unprocessable Entity',
          JSON.stringify({
            kind: 'Status',
            status: 'Failure',
            reason: 'Invalid',
            code: 422,
            message,
          }),
          {},
        );
      },
    } as unknown as RawObjectApi;
    const { log, lines } = memoryLog();
    const client = new KubeClusterClient({
      cluster: { id: 1, name: 'c1', apiUrl: 'https://k8s.example.com', caCert: null },
      api,
      timeoutMs: 1_000,
      log,
    });
    const error = await client.dryRunApply(deployment).catch((e: unknown) => e);
    // Without masking, the message (which the preview masks the same way) holds the value.
    expect(String((error as Error).message)).toContain(PASSWORD);
    expect(lines.join('')).toContain('Invalid value: \\"***\\"');
    expect(lines.join('')).not.toContain(PASSWORD);
  });
});
