// The Kubernetes manifests that run DAG itself (deploy/kubernetes): they build with kustomize,
// hold the properties the guide promises (non-root, read-only, probes, two replicas, a PDB, no
// secret values), feed DAG settings it accepts, and every object passes a server-side dry-run
// apply on the fake kube-apiserver through DAG's own cluster client.
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterClients } from '../../src/k8s/client.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { readSettings } from '../../src/settings.ts';
import { startFakeKubeApiserver, type FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { newToken, rowStore } from '../k8s/support.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const BASE = path.join(root, 'deploy/kubernetes/base');
const EXAMPLE = path.join(root, 'deploy/kubernetes/overlays/example');

type EnvVar = {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
};
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  ports: Array<{ name: string; containerPort: number }>;
  env: EnvVar[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
};
type PodSpec = {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  terminationGracePeriodSeconds: number;
  securityContext: Record<string, unknown>;
  topologySpreadConstraints: Array<{
    topologyKey: string;
    labelSelector: { matchLabels: Record<string, string> };
  }>;
  containers: Container[];
  volumes: Array<{ name: string; emptyDir?: Record<string, unknown> }>;
};
type Built = KubeObject & { spec?: Record<string, unknown> };
type Deployment = Built & {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
};

/** The secret settings the Deployment reads from the Secret `dag`, and whether it needs them. */
const SECRET_KEYS: Record<string, 'required' | 'optional'> = {
  DATABASE_URL: 'required',
  DAG_ENCRYPTION_KEY: 'required',
  DAG_ENCRYPTION_OLD_KEYS: 'optional',
  APP_ID: 'required',
  PRIVATE_KEY: 'required',
  WEBHOOK_SECRET: 'required',
  GITLAB_WEBHOOK_SECRET: 'optional',
  GITLAB_TOKEN: 'optional',
};

/** What the guide's `kubectl create secret generic dag ...` puts in the Secret (test values). */
const SECRET: Record<string, string> = {
  DATABASE_URL: 'postgres://dag:pw@postgres.db.svc:5432/dag',
  DAG_ENCRYPTION_KEY: 'ab'.repeat(32),
  APP_ID: '123456',
  PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n',
  WEBHOOK_SECRET: 'a-webhook-secret',
};

async function kustomize(dir: string): Promise<{ text: string; objects: Built[] }> {
  let text: string;
  try {
    ({ stdout: text } = await run('/usr/bin/kubectl', ['kustomize', dir], {
      maxBuffer: 16 * 1024 * 1024,
    }));
  } catch (error) {
    const detail = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`kubectl kustomize ${dir} failed: ${detail}`, { cause: error });
  }
  const docs = parseAllDocuments(text);
  const objects = docs.map((doc) => {
    if (!('toJS' in doc) || doc.errors.length > 0) throw new Error(`unparsable YAML from ${dir}`);
    return doc.toJS() as Built;
  });
  return { text, objects };
}

function only<T extends Built>(objects: Built[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as T;
}

/** The container's environment as the kubelet would give it, reading secrets from `secret`. */
function environment(container: Container, secret: Record<string, string>) {
  const env: Record<string, string> = {};
  for (const variable of container.env) {
    const ref = variable.valueFrom?.secretKeyRef;
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (ref) {
      const value = secret[ref.key];
      if (value !== undefined) env[variable.name] = value;
      else if (!ref.optional) throw new Error(`the Secret has no ${ref.key}: the pod cannot start`);
    }
  }
  return env;
}

let base: { text: string; objects: Built[] };
let example: { text: string; objects: Built[] };
let deployment: Deployment;
let pod: PodSpec;
let container: Container;

beforeAll(async () => {
  [base, example] = await Promise.all([kustomize(BASE), kustomize(EXAMPLE)]);
  deployment = only<Deployment>(base.objects, 'Deployment');
  pod = deployment.spec.template.spec;
  expect(pod.containers).toHaveLength(1);
  container = pod.containers[0]!;
});

describe('deploy/kubernetes/base', () => {
  it('builds a ServiceAccount, a Service, a Deployment and a PodDisruptionBudget, all named dag', () => {
    expect(base.objects.map((o) => `${o.apiVersion} ${o.kind} ${o.metadata.name}`).sort()).toEqual([
      'apps/v1 Deployment dag',
      'policy/v1 PodDisruptionBudget dag',
      'v1 Service dag',
      'v1 ServiceAccount dag',
    ]);
  });

  it('holds no secret value: every secret setting is a reference into the Secret dag', () => {
    expect(base.objects.map((o) => o.kind)).not.toContain('Secret');
    expect(base.objects.map((o) => o.kind)).not.toContain('ConfigMap');
    for (const [name, need] of Object.entries(SECRET_KEYS)) {
      const variable = container.env.find((v) => v.name === name);
      expect(variable, name).toEqual({
        name,
        valueFrom: {
          secretKeyRef: {
            name: 'dag',
            key: name,
            ...(need === 'optional' ? { optional: true } : {}),
          },
        },
      });
    }
    // Nothing else that looks secret is given as a literal value.
    const literal = container.env.filter((v) => v.value !== undefined).map((v) => v.name);
    expect(literal.filter((n) => /KEY|SECRET|TOKEN|PASSWORD|DATABASE_URL|APP_ID/.test(n))).toEqual(
      [],
    );
    expect(base.text).not.toMatch(/-----BEGIN|postgres(ql)?:\/\/|password/i);
  });

  it('gives DAG settings it accepts: Postgres, the GitHub App, GitLab only when its keys are set', () => {
    const settings = readSettings(environment(container, SECRET), '/app');
    expect(settings.database).toEqual({ kind: 'postgres', url: SECRET.DATABASE_URL });
    expect(settings.github?.appId).toBe(SECRET.APP_ID);
    expect(settings.gitlab).toBeUndefined();
    const http = container.ports.find((p) => p.name === 'http');
    expect(settings.port).toBe(http?.containerPort);
    const withGitlab = readSettings(
      environment(container, { ...SECRET, GITLAB_WEBHOOK_SECRET: 'gl', GITLAB_TOKEN: 'glpat' }),
      '/app',
    );
    expect(withGitlab.gitlab).toMatchObject({ webhookSecret: 'gl', token: 'glpat' });
    // A Secret without a required key keeps the pod from starting rather than half-configuring it.
    const incomplete = { ...SECRET };
    delete incomplete.WEBHOOK_SECRET;
    expect(() => environment(container, incomplete)).toThrow(/no WEBHOOK_SECRET/);

    // Every path DAG writes to is an emptyDir: the root filesystem is read-only.
    const emptyDirs = new Set(pod.volumes.filter((v) => v.emptyDir).map((v) => v.name));
    const writable = container.volumeMounts
      .filter((m) => emptyDirs.has(m.name))
      .map((m) => m.mountPath);
    expect(writable).toContain(settings.cacheDir);
    expect(writable).toContain('/tmp');
  });

  it('runs non-root, read-only, without privileges, capabilities or a service-account token', () => {
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    const account = only(base.objects, 'ServiceAccount');
    expect(pod.serviceAccountName).toBe(account.metadata.name);
    expect(account.automountServiceAccountToken).toBe(false);
  });

  it("probes DAG's /healthz (startup, liveness) and /readyz (readiness) on the http port", async () => {
    expect(container.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });

    // The paths are DAG's, with the meanings the probes rely on: liveness stays 200 while
    // readiness says 503 (a database outage must not restart DAG).
    const server = createHttpServer({
      handlers: [],
      log: quiet,
      readiness: async () => ({ ready: false, checks: { database: 'unreachable' } }),
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const status = async (p: string) => (await fetch(`http://127.0.0.1:${port}${p}`)).status;
      expect(await status(container.livenessProbe!.httpGet!.path)).toBe(200);
      expect(await status(container.readinessProbe!.httpGet!.path)).toBe(503);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('shuts down within its grace period, after a pause for the endpoints to drop the pod', () => {
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(30);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(60);
    const [program, seconds] = container.lifecycle?.preStop?.exec?.command ?? [];
    expect(program).toBe('sleep');
    // The pause and DAG's own stop (at most half a minute by default) fit in the grace period.
    expect(Number(seconds) + 30).toBeLessThanOrEqual(pod.terminationGracePeriodSeconds);
  });

  it('runs 2 replicas spread over nodes, a PDB keeping 1, and a Service on port 80 to http', () => {
    expect(deployment.spec.replicas).toBe(2);
    const podLabels = deployment.spec.template.metadata.labels;
    const selects = (selector: Record<string, string>) =>
      Object.keys(selector).length > 0 &&
      Object.entries(selector).every(([k, v]) => podLabels[k] === v);
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);

    const pdb = only(base.objects, 'PodDisruptionBudget');
    expect(pdb.spec).toMatchObject({ minAvailable: 1 });
    expect(pdb.spec?.maxUnavailable).toBeUndefined();
    expect(
      selects((pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels),
    ).toBe(true);

    const service = only(base.objects, 'Service');
    expect(selects(service.spec?.selector as Record<string, string>)).toBe(true);
    expect(service.spec?.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' },
    ]);
    expect(container.ports).toContainEqual(expect.objectContaining({ name: 'http' }));

    const byNode = pod.topologySpreadConstraints.find(
      (c) => c.topologyKey === 'kubernetes.io/hostname',
    );
    expect(byNode && selects(byNode.labelSelector.matchLabels)).toBe(true);
  });

  it('requests what DAG idles at, limits memory (not CPU), and keeps the V8 heap under the limit', () => {
    expect(container.resources).toEqual({
      requests: { cpu: '100m', memory: '256Mi' },
      limits: { memory: '1Gi' },
    });
    const heap = /--max-old-space-size=(\d+)/.exec(
      container.env.find((v) => v.name === 'NODE_OPTIONS')?.value ?? '',
    );
    expect(heap).not.toBeNull();
    expect(Number(heap![1])).toBeLessThan(1024 * 0.75);
  });

  it('pins an image tag through kustomize images:', () => {
    expect(container.image).toMatch(/^[^:@]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/);
    expect(container.image).not.toMatch(/:latest$/);
  });
});

describe('deploy/kubernetes/overlays/example', () => {
  it('puts every namespaced object in its namespace and swaps the image', () => {
    expect(example.objects.map((o) => o.kind).sort()).toEqual(
      base.objects.map((o) => o.kind).sort(),
    );
    for (const object of example.objects) expect(object.metadata.namespace).toBe('dag');
    const overlaid = only<Deployment>(example.objects, 'Deployment');
    const image = overlaid.spec.template.spec.containers[0]!.image;
    expect(image).toBe('registry.example.com/platform/dag:0.1.0');
  });
});

describe('a server-side dry-run apply of the built objects', () => {
  const token = newToken();
  let fake: FakeKubeApiserver;

  beforeAll(async () => {
    fake = await startFakeKubeApiserver({ token });
  });
  afterAll(() => fake?.stop());

  it.each([
    ['base', () => base.objects, 'default'],
    ['example overlay', () => example.objects, 'dag'],
  ] as const)('accepts every object of the %s and stores none', async (_name, objects, ns) => {
    // The guide creates the namespace (and the Secret in it) before `kubectl apply -k`.
    if (ns !== 'default')
      fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
    const { store } = rowStore(
      new Map([[1, { name: 'home', apiUrl: fake.url, caCert: fake.caCert, token }]]),
    );
    const client = await new ClusterClients({ store, log: quiet }).get(1);
    const before = fake.requests.length;

    for (const object of objects()) {
      const answer = await client.dryRunApply(object);
      expect(answer).toMatchObject({ kind: object.kind, metadata: { name: 'dag', namespace: ns } });
      expect(fake.get(object.apiVersion, object.kind, 'dag', ns)).toBeUndefined();
    }
    const patches = fake.requests.slice(before).filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => `${r.status} ${r.query.dryRun} ${r.contentType}`)).toEqual(
      objects().map(() => '201 All application/apply-patch+yaml'),
    );
  });
});
