// The fake kube-apiserver itself, spoken to over plain HTTPS: its answers must have the shapes
// the real API server sends, or the client tests prove nothing.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeApiserver, type FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import { newToken } from './support.ts';

const token = newToken();
let fake: FakeKubeApiserver;

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token });
});
afterAll(() => fake?.stop());

function call(
  method: string,
  path: string,
  options: { body?: string; contentType?: string; auth?: string } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${fake.url}${path}`,
      {
        method,
        ca: fake.caCert,
        headers: {
          Authorization: options.auth ?? `Bearer ${token}`,
          ...(options.contentType ? { 'Content-Type': options.contentType } : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const failure = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message,
  reason,
  code,
});

describe('fake kube-apiserver', () => {
  it('answers 401 Status to a wrong token, even for discovery', async () => {
    expect(await call('GET', '/api/v1', { auth: 'Bearer nope' })).toEqual({
      status: 401,
      body: failure(401, 'Unauthorized', 'Unauthorized'),
    });
  });

  it('serves discovery documents', async () => {
    const core = await call('GET', '/api/v1');
    expect(core.body).toMatchObject({ kind: 'APIResourceList', groupVersion: 'v1' });
    expect(core.body.resources).toContainEqual(
      expect.objectContaining({ name: 'namespaces', kind: 'Namespace', namespaced: false }),
    );
    const apps = await call('GET', '/apis/apps/v1');
    const names = (apps.body.resources as Array<{ name: string }>).map((r) => r.name);
    expect(names.indexOf('deployments')).toBeLessThan(names.indexOf('deployments/status'));
    const groups = await call('GET', '/apis');
    expect(groups.body).toMatchObject({ kind: 'APIGroupList' });
    expect(await call('GET', '/apis/helm.toolkit.fluxcd.io/v2')).toEqual({
      status: 404,
      body: {
        ...failure(404, 'NotFound', 'the server could not find the requested resource'),
        details: {},
      },
    });
    fake.addCrd('helm.toolkit.fluxcd.io', 'v2', 'HelmRelease', 'helmreleases', true);
    expect((await call('GET', '/apis/helm.toolkit.fluxcd.io/v2')).status).toBe(200);
  });

  it('answers 404 NotFound naming the object', async () => {
    expect(await call('GET', '/apis/apps/v1/namespaces/default/deployments/web')).toEqual({
      status: 404,
      body: {
        ...failure(404, 'NotFound', 'deployments.apps "web" not found'),
        details: { name: 'web', group: 'apps', kind: 'deployments' },
      },
    });
  });

  it('requires the apply content type and a field manager for server-side apply', async () => {
    const path = '/api/v1/namespaces/default/configmaps/c';
    const body = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: "1"\n';
    expect(
      (await call('PATCH', path, { body, contentType: 'application/merge-patch+json' })).status,
    ).toBe(415);
    const noManager = await call('PATCH', path, {
      body,
      contentType: 'application/apply-patch+yaml',
    });
    expect(noManager.status).toBe(422);
    expect(noManager.body.message).toContain('fieldManager: Required value');

    const stored = await call('PATCH', `${path}?fieldManager=dag`, {
      body,
      contentType: 'application/apply-patch+yaml',
    });
    expect(stored.status).toBe(201);
    expect(stored.body).toMatchObject({
      data: { a: '1' },
      metadata: { name: 'c', namespace: 'default' },
    });
    expect(fake.get('v1', 'ConfigMap', 'c', 'default')).toEqual(stored.body);
    const again = await call('PATCH', `${path}?fieldManager=dag`, {
      body,
      contentType: 'application/apply-patch+yaml',
    });
    expect(again).toEqual({ status: 200, body: stored.body }); // a no-op apply writes nothing
  });

  it('serves PodDisruptionBudgets (policy/v1) and validates them as the real API server does', async () => {
    const policy = await call('GET', '/apis/policy/v1');
    expect(policy.body.resources).toContainEqual(
      expect.objectContaining({
        name: 'poddisruptionbudgets',
        kind: 'PodDisruptionBudget',
        namespaced: true,
      }),
    );
    const path = '/apis/policy/v1/namespaces/default/poddisruptionbudgets/web?fieldManager=dag';
    const pdb = (spec: string) =>
      `apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: web\nspec:\n${spec}`;
    const selector = '  selector:\n    matchLabels:\n      app: web\n';
    const both = await call('PATCH', `${path}&dryRun=All`, {
      body: pdb(`  minAvailable: 1\n  maxUnavailable: 1\n${selector}`),
      contentType: 'application/apply-patch+yaml',
    });
    expect(both.status).toBe(422);
    expect(both.body).toMatchObject({
      reason: 'Invalid',
      details: { kind: 'PodDisruptionBudget', causes: [{ field: 'spec' }] },
    });
    expect(both.body.message).toContain('minAvailable and maxUnavailable cannot be both set');
    const ok = await call('PATCH', `${path}&dryRun=All`, {
      body: pdb(`  minAvailable: 1\n${selector}`),
      contentType: 'application/apply-patch+yaml',
    });
    expect(ok.status).toBe(201);
    expect(fake.get('policy/v1', 'PodDisruptionBudget', 'web', 'default')).toBeUndefined();
  });

  it('refuses a Deployment whose selector does not match its template labels', async () => {
    const body = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata:',
      '  name: web',
      'spec:',
      '  selector:',
      '    matchLabels:',
      '      app: web',
      '  template:',
      '    metadata:',
      '      labels:',
      '        app: api',
      '    spec:',
      '      containers:',
      '        - name: web',
      '          image: web:1',
      '',
    ].join('\n');
    const answer = await call(
      'PATCH',
      '/apis/apps/v1/namespaces/default/deployments/web?fieldManager=dag&dryRun=All',
      { body, contentType: 'application/apply-patch+yaml' },
    );
    expect(answer.status).toBe(422);
    expect(answer.body.message).toBe(
      'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"api"}: `selector` does not match template `labels`',
    );
  });

  it('never records the token', () => {
    expect(JSON.stringify(fake.requests)).not.toContain(token);
  });
});
