// Deterministic, realistic Kubernetes objects for diff tests and the diff bench: Deployments with
// many fields and ConfigMaps holding configuration files, each as a live/desired pair with a few
// changes (image tag, env values, replicas, config lines), including secrets that must be masked.

export type GeneratedPair = { live: Record<string, unknown>; desired: Record<string, unknown> };

/** A small seeded PRNG (mulberry32): the same seed gives the same objects on every machine. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEAMS = ['payments', 'search', 'checkout', 'identity', 'catalog', 'billing', 'growth'];

/** The secret values the generated objects carry: none may appear in any rendered output. */
export function generatedSecrets(index: number): string[] {
  return [`pw-${index}-Zq8#vLr2`, `pw-${index}-next-Zq8#vLr2`, `dbpass${index}XyZ`];
}

function hex(next: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(next() * 16).toString(16);
  return out;
}

function deployment(index: number, next: () => number, version: number): Record<string, unknown> {
  const name = `svc-${String(index).padStart(4, '0')}`;
  const team = TEAMS[index % TEAMS.length] ?? 'core';
  const namespace = `team-${team}`;
  const labels = {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': `${name}-prod`,
    'app.kubernetes.io/version': `1.${index % 40}.${version}`,
    'app.kubernetes.io/component': 'api',
    'app.kubernetes.io/part-of': team,
    'app.kubernetes.io/managed-by': 'dag',
    'team.example.com/owner': team,
    'cost-center': `cc-${1000 + (index % 97)}`,
  };
  const env = [
    { name: 'LOG_LEVEL', value: version === 0 ? 'info' : 'debug' },
    { name: 'PORT', value: '8080' },
    { name: 'GRPC_PORT', value: '9090' },
    { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability:4317' },
    { name: 'OTEL_SERVICE_NAME', value: name },
    { name: 'FEATURE_FLAGS', value: `search-v2,checkout-${version},beta-${index % 5}` },
    { name: 'CACHE_TTL_SECONDS', value: String(300 + version * 60) },
    { name: 'UPSTREAM_URL', value: `http://${name}-upstream.${namespace}.svc.cluster.local:8080` },
    { name: 'DB_PASSWORD', value: generatedSecrets(index)[version === 0 ? 0 : 1] },
    {
      name: 'DATABASE_URL',
      value: `postgres://app:${generatedSecrets(index)[2]}@db-${index % 13}.${namespace}:5432/app`,
    },
    { name: 'REGION', value: 'eu-west-1' },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    {
      name: 'API_SIGNING_KEY',
      valueFrom: { secretKeyRef: { name: `${name}-secrets`, key: 'signing-key' } },
    },
  ];
  const probe = (path: string, delay: number) => ({
    httpGet: { path, port: 'http', scheme: 'HTTP' },
    initialDelaySeconds: delay,
    periodSeconds: 10,
    timeoutSeconds: 2,
    successThreshold: 1,
    failureThreshold: 3,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace,
      labels,
      annotations: {
        'deployment.kubernetes.io/revision': String(10 + version),
        'dag.example.com/source': `https://github.com/example/${name}`,
        'dag.example.com/commit': hex(next, 40),
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': '9102',
      },
    },
    spec: {
      replicas: 2 + ((index + version) % 4),
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
      selector: { matchLabels: { 'app.kubernetes.io/name': name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 0 } },
      template: {
        metadata: {
          labels,
          annotations: { 'checksum/config': hex(next, 64), 'sidecar.istio.io/inject': 'true' },
        },
        spec: {
          serviceAccountName: name,
          terminationGracePeriodSeconds: 30,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, fsGroup: 10001 },
          containers: [
            {
              name: 'app',
              image: `registry.example.com/${team}/${name}:1.${index % 40}.${version}`,
              imagePullPolicy: 'IfNotPresent',
              args: ['--config=/etc/app/application.properties', `--workers=${4 + version}`],
              ports: [
                { name: 'http', containerPort: 8080, protocol: 'TCP' },
                { name: 'grpc', containerPort: 9090, protocol: 'TCP' },
                { name: 'metrics', containerPort: 9102, protocol: 'TCP' },
              ],
              env,
              resources: {
                requests: { cpu: `${100 + (index % 5) * 50}m`, memory: '256Mi' },
                limits: { cpu: '1', memory: `${512 + version * 256}Mi` },
              },
              livenessProbe: probe('/healthz', 10),
              readinessProbe: probe('/readyz', 5),
              startupProbe: probe('/startup', 0),
              volumeMounts: [
                { name: 'config', mountPath: '/etc/app', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
            {
              name: 'log-shipper',
              image: 'registry.example.com/platform/log-shipper:3.2.1',
              args: ['--input=/var/log/app', '--output=otlp://otel-collector.observability:4317'],
              resources: {
                requests: { cpu: '20m', memory: '32Mi' },
                limits: { cpu: '100m', memory: '64Mi' },
              },
              volumeMounts: [{ name: 'tmp', mountPath: '/var/log/app' }],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${name}-config` } },
            { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
          ],
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    topologyKey: 'kubernetes.io/hostname',
                    labelSelector: { matchLabels: { 'app.kubernetes.io/name': name } },
                  },
                },
              ],
            },
          },
          tolerations: [{ key: 'workload', operator: 'Equal', value: team, effect: 'NoSchedule' }],
          nodeSelector: { 'kubernetes.io/os': 'linux', 'node.example.com/pool': team },
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'topology.kubernetes.io/zone',
              whenUnsatisfiable: 'ScheduleAnyway',
              labelSelector: { matchLabels: { 'app.kubernetes.io/name': name } },
            },
          ],
        },
      },
    },
  };
}

function configMap(index: number, next: () => number, version: number): Record<string, unknown> {
  const name = `svc-${String(index).padStart(4, '0')}-config`;
  const team = TEAMS[index % TEAMS.length] ?? 'core';
  const lines: string[] = [];
  for (let i = 0; i < 70; i++) {
    const changed = version === 1 && (i === 7 || i === 41);
    lines.push(
      `app.section${Math.floor(i / 10)}.setting${i}=${changed ? 'updated-' : ''}${hex(next, 12)}`,
    );
  }
  lines.splice(
    20,
    0,
    `spring.datasource.password=${generatedSecrets(index)[version === 0 ? 0 : 1]}`,
  );
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      namespace: `team-${team}`,
      labels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': team },
    },
    data: {
      'application.properties': `${lines.join('\n')}\n`,
      'logging.yaml': `level: ${version === 0 ? 'info' : 'debug'}\nformat: json\nsampling:\n  initial: 100\n  thereafter: 100\n`,
      REDIS_PASSWORD: generatedSecrets(index)[2],
      'feature-flags.json': JSON.stringify({ searchV2: true, checkout: version, beta: index % 5 }),
    },
  };
}

/**
 * `count` live/desired pairs, alternately a Deployment (about 5 KB of YAML a side) and a
 * ConfigMap (about 4 KB), each changed in a few places. The same seed gives the same pairs.
 */
export function generatePairs(count: number, seed = 42): GeneratedPair[] {
  const pairs: GeneratedPair[] = [];
  for (let index = 0; index < count; index++) {
    const make = index % 2 === 0 ? deployment : configMap;
    // Both sides draw the same random values, so only the version-dependent fields differ.
    const live = make(index, random(seed + index), 0);
    const desired = make(index, random(seed + index), 1);
    pairs.push({ live, desired });
  }
  return pairs;
}
