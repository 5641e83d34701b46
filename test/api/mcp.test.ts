// DAG's MCP server over streamable HTTP, called by the SDK's own Client, next to the REST API on
// the same HTTP server, tokens and pipeline: the embedded database with real tokens, workload
// resolution and live objects over a fake kube-apiserver (HTTPS, its own CA), verification over
// an in-memory app repository. Also the budget of failed authentications per client address.
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sharedFailedAuthLimit, sharedTokenRateLimit } from '../../src/api/auth.ts';
import { FixProposalService } from '../../src/api/fix-proposal-service.ts';
import {
  fixProposalsHandler,
  type FixProposalApiDeps,
  type FixProposalJob,
} from '../../src/api/fix-proposals.ts';
import { mcpHandler } from '../../src/api/mcp-http.ts';
import { maskText } from '../../src/diff/mask-text.ts';
import { ClusterClients } from '../../src/k8s/client.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import { parseValuesFile } from '../../src/render/yaml.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { SqlApiTokenStore, type NewApiToken } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlFixProposalStore } from '../../src/store/fix-proposals.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
  type Json,
} from '../helpers/fake-kube-apiserver.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { newToken } from '../k8s/support.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';

const seed = readFileSync(
  new URL('../fixtures/seeds/multiple-environments.sql', import.meta.url),
  'utf8',
);
const DAY = 86_400_000;
const SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b';
const IAC_SHA = 'c'.repeat(40);

const repo: Record<string, string> = {
  'deploy/values.yaml': 'image:\n  repository: ghcr.io/org/my-app\nreplicaCount: 1\n',
  'deploy/values-staging.yaml': 'resources:\n  limits:\n    memory: 128Mi\nreplicaCount: 1\n',
  'deploy/values-production.yaml': 'replicaCount: 3\n',
  'chart/Chart.yaml': 'apiVersion: v2\nname: my-app\nversion: 1.0.0\n',
  'chart/values.yaml': 'replicaCount: 1\n',
  'chart/templates/deployment.yaml': 'kind: Deployment\nreplicas: {{ .Values.replicaCount }}\n',
};

const proposal = {
  target: { app: 'my-app', environment: 'staging' },
  change: { kind: 'values-patch', patch: { resources: { limits: { memory: '256Mi' } } } },
  title: 'Raise the memory limit of my-app in staging',
  rationale: 'The pods are OOMKilled at peak.',
  evidence: [{ kind: 'event', text: 'OOMKilled' }],
  agent: { name: 'fixer', model: 'some-model' },
};

type ToolAnswer = { isError: boolean; body: Record<string, unknown> };

let lane: LaneDb;
let kube: FakeKubeApiserver;
const saToken = newToken();

beforeAll(async () => {
  lane = await openLane('embedded');
  kube = await startFakeKubeApiserver({ token: saToken, crds: FLUX_CRDS });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } });
  // The running workload, as DAG's chart stamps it, and the pod its ReplicaSet made.
  const web = kube.seed({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'staging',
      annotations: { 'dag.dev/app': 'my-app', 'dag.dev/environment': 'staging' },
    },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      template: {
        metadata: { labels: { app: 'web' } },
        spec: { containers: [{ name: 'app', image: 'ghcr.io/org/my-app:1' }] },
      },
    },
  });
  const owner = (o: Json) => {
    const meta = o.metadata as { name: string; uid: string };
    return [
      { apiVersion: o.apiVersion, kind: o.kind, name: meta.name, uid: meta.uid, controller: true },
    ];
  };
  const rs = kube.seed({
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata: { name: 'web-5d8f', namespace: 'staging', ownerReferences: owner(web) },
  });
  kube.seed({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-5d8f-x2v9q', namespace: 'staging', ownerReferences: owner(rs) },
    spec: { containers: [{ name: 'app', image: 'ghcr.io/org/my-app:1' }] },
  });
  // What DAG rendered for staging, live, failing.
  kube.seed(
    {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'my-app', namespace: 'staging' },
      spec: { interval: '5m' },
    },
    {
      status: {
        observedGeneration: 1,
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'UpgradeFailed',
            message: 'container app OOMKilled; password=hunter2-not-shown',
          },
        ],
      },
    },
  );
}, 120_000);

afterAll(async () => {
  await kube?.stop();
  await lane?.drop();
});

describe('the MCP server over streamable HTTP', () => {
  let config: SqlConfigStore;
  let tokens: SqlApiTokenStore;
  let proposals: SqlFixProposalStore;
  let jobs: FixProposalJob[];
  let server: Server;
  let base: string;
  let clients: Client[];
  let failedAuthPoints: number;

  const token = async (input: Partial<NewApiToken> = {}) =>
    (
      await tokens.create({
        name: `t${Math.random().toString(36).slice(2, 10)}`,
        permission: 'propose',
        scope: { all: true },
        lifetimeMs: 30 * DAY,
        ...input,
      })
    ).secret;

  const rows = async () =>
    (await lane.db.query<{ id: number; state: string }>('SELECT id, state FROM fix_proposals'))
      .rows;

  async function connect(secret: string): Promise<Client> {
    const client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${secret}` } },
      }),
    );
    clients.push(client);
    return client;
  }

  async function call(client: Client, name: string, args: Record<string, unknown>) {
    const result = await client.callTool({ name, arguments: args });
    const content = result.content as Array<{ type: string; text: string }>;
    return {
      isError: result.isError === true,
      body: JSON.parse(content[0]?.text ?? '{}') as Record<string, unknown>,
    } satisfies ToolAnswer;
  }

  beforeEach(async () => {
    await lane.db.query(
      'TRUNCATE fix_proposals, api_token_limits, api_token_scopes, api_tokens, apps, iacs, clusters RESTART IDENTITY CASCADE',
    );
    await lane.db.query(seed);
    await lane.db.query(
      'UPDATE clusters SET api_url = $1, service_account_token = $2, ca_cert = $3',
      [kube.url, saToken, kube.caCert],
    );
    config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await config.normalize();
    const deploy = await config.beginDeploy({
      environmentId: 1,
      sha: SHA,
      ref: 'develop',
      pusher: 'alice',
      attempt: 1,
    });
    await config.updateDeploy(deploy.id, { state: 'success', iacCommit: IAC_SHA });
    tokens = new SqlApiTokenStore(lane.db, config);
    proposals = new SqlFixProposalStore(lane.db);
    jobs = [];
    clients = [];
    failedAuthPoints = 1000;
    const templates = loadTemplates();
    const source: FixProposalApiDeps['source'] = async (_app, environment) => ({
      reader: {
        readFile: async (path) => repo[path],
        readFolder: async (folder) => {
          const inside = Object.entries(repo).filter(([p]) => p.startsWith(`${folder}/`));
          return inside.length
            ? Object.fromEntries(inside.map(([p, c]) => [p.slice(folder.length + 1), c]))
            : undefined;
        },
      },
      tip: {
        sha: SHA,
        branch: environment.branch,
        commitUrl: `https://gitlab.com/org/my-app/-/commit/${SHA}`,
      },
    });
    const tools = {
      render: (input: Parameters<typeof renderBundle>[0]) => renderBundle(input, templates),
      parseValues: parseValuesFile,
    };
    const failedAuth = () => sharedFailedAuthLimit(lane.db, quiet, { points: failedAuthPoints });
    const clusters = new ClusterClients({ store: config, log: quiet, timeoutMs: 10_000 });
    const deps: FixProposalApiDeps = {
      tokens,
      rateLimit: sharedTokenRateLimit(lane.db, quiet, { points: 1000 }),
      // The budget as the test sets it (failedAuthPoints), kept in the database.
      failedAuth: {
        check: (address) => failedAuth().check(address),
        fail: (address) => failedAuth().fail(address),
      },
      log: quiet,
      config,
      proposals,
      clusters,
      source,
      tools,
      enqueue: async (job) => {
        jobs.push(job);
      },
    };
    const service = new FixProposalService(deps);
    server = createHttpServer({
      handlers: [
        fixProposalsHandler(deps, service),
        mcpHandler({
          ...deps,
          service,
          mask: maskText,
          view: {
            config,
            deploys: config,
            source,
            tools,
            clusters,
            rollouts: new SqlRolloutStore(lane.db),
          },
        }),
      ],
      readiness: async () => ({ ready: true, checks: {} }),
      log: quiet,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('lists five tools, the read-only ones marked so and propose_fix as not destructive', async () => {
    const client = await connect(await token());
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual([
      'find_environment',
      'get_environment',
      'get_proposal',
      'preview_fix',
      'propose_fix',
    ]);
    for (const name of ['find_environment', 'get_environment', 'preview_fix', 'get_proposal']) {
      expect(byName[name]?.annotations, name).toMatchObject({ readOnlyHint: true });
    }
    expect(byName.propose_fix?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
    });
    expect(byName.propose_fix?.description).toMatch(/pull request .* for a person to review/);
    // An agent sees the proposal's fields and what each tool leads to.
    expect(byName.preview_fix?.inputSchema.required).toEqual(
      expect.arrayContaining(['target', 'change', 'title', 'rationale', 'agent']),
    );
    expect(byName.find_environment?.description).toMatch(/get_environment next/);
  });

  it('calls every tool: a pod to its environment, what runs there, a preview, a proposal', async () => {
    const client = await connect(await token());

    const found = await call(client, 'find_environment', {
      cluster: 'prod-1',
      namespace: 'staging',
      kind: 'Pod',
      name: 'web-5d8f-x2v9q',
    });
    expect(found).toMatchObject({
      isError: false,
      body: {
        app: 'my-app',
        environment: 'staging',
        matchedBy: 'provenance',
        workload: { kind: 'Deployment', name: 'web', namespace: 'staging' },
      },
    });

    const env = await call(client, 'get_environment', { app: 'my-app', environment: 'staging' });
    expect(env.isError).toBe(false);
    expect(env.body).toMatchObject({
      environment: { name: 'staging', branch: 'develop', cluster: 'prod-1', namespace: 'staging' },
      running: { sourceCommit: SHA, iacCommit: IAC_SHA },
      rendered: { at: { branch: 'develop', sha: SHA } },
      // What `dag envs status` says too: monitoring has not watched this cluster.
      rollout: { committedCommit: SHA, liveCommit: null, phase: 'not-observed' },
    });
    const rendered = (env.body.rendered as { files: Record<string, string> }).files;
    expect(Object.keys(rendered).length).toBeGreaterThan(0);
    const live = env.body.live as Array<Record<string, unknown>>;
    expect(live).toContainEqual(
      expect.objectContaining({
        kind: 'HelmRelease',
        name: 'my-app',
        found: true,
        conditions: [expect.objectContaining({ type: 'Ready', status: 'False' })],
      }),
    );
    expect(JSON.stringify(env.body)).not.toContain('hunter2');

    const preview = await call(client, 'preview_fix', proposal);
    expect(preview.isError).toBe(false);
    expect(preview.body).toMatchObject({
      target: { app: 'my-app', environment: 'staging' },
      changedFiles: ['deploy/values-staging.yaml'],
      sourceDiff: expect.stringContaining('+    memory: 256Mi'),
    });
    expect(Object.keys(preview.body.bundleDiffs as object)).toEqual(['staging']);
    // A preview writes nothing.
    expect(await rows()).toEqual([]);
    expect(jobs).toEqual([]);

    const proposed = await call(client, 'propose_fix', proposal);
    expect(proposed).toMatchObject({ isError: false, body: { id: 1, state: 'validating' } });
    expect(jobs).toEqual([{ proposalId: 1, proposal: expect.objectContaining(proposal) }]);

    // The REST API sees the same proposal: one pipeline, one row, one job.
    const rest = await fetch(`${base}/api/v1/fix-proposals`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await token()}`,
      },
      body: JSON.stringify(proposal),
    });
    expect(rest.status).toBe(200);
    expect(((await rest.json()) as { id: number }).id).toBe(1);
    expect(await rows()).toEqual([{ id: 1, state: 'validating' }]);
    expect(jobs).toHaveLength(1);

    const shown = await call(client, 'get_proposal', { id: 1 });
    expect(shown).toMatchObject({
      isError: false,
      body: { id: 1, state: 'validating', title: proposal.title, pullRequest: null },
    });
  });

  it('keeps to the token: read cannot propose, another app sees nothing', async () => {
    const reader = await connect(await token({ permission: 'read' }));
    const refused = await call(reader, 'propose_fix', proposal);
    expect(refused).toMatchObject({ isError: true, body: { status: 403 } });
    expect(String(refused.body.error)).toMatch(/needs propose/);
    // A read token may preview: it writes nothing.
    expect((await call(reader, 'preview_fix', proposal)).isError).toBe(false);

    await lane.db.query(
      "INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'https://gitlab.com/org/other')",
    );
    await config.normalize();
    const other = await connect(
      await token({ scope: { all: false, apps: ['other'], environments: [] } }),
    );
    const pod = { cluster: 'prod-1', namespace: 'staging', kind: 'Pod', name: 'web-5d8f-x2v9q' };
    for (const [tool, args] of [
      ['find_environment', pod],
      ['get_environment', { app: 'my-app', environment: 'staging' }],
      ['preview_fix', proposal],
      ['propose_fix', proposal],
    ] as const) {
      const answer = await call(other, tool, args);
      expect(answer, tool).toMatchObject({ isError: true, body: { status: 403 } });
    }
    await call(await connect(await token()), 'propose_fix', proposal);
    expect(await call(other, 'get_proposal', { id: 1 })).toMatchObject({
      isError: true,
      body: { status: 404, error: 'no fix proposal 1' },
    });
    expect(await rows()).toHaveLength(1);
  });

  it('answers a proposal that does not verify with its reasons, and bad arguments as errors', async () => {
    const client = await connect(await token());
    const broken = {
      ...proposal,
      change: { kind: 'files', files: [{ path: '../etc/passwd', content: 'a: 1\n' }] },
    };
    const preview = await call(client, 'preview_fix', broken);
    expect(preview).toMatchObject({ isError: true, body: { status: 400 } });
    expect(preview.body.errors).toEqual([
      expect.objectContaining({ field: expect.stringMatching(/^change\.files\[0\]/) }),
    ]);
    const missing = await client.callTool({ name: 'get_proposal', arguments: { id: 'x' } });
    expect(missing.isError).toBe(true);
    expect(await rows()).toEqual([]);
  });

  it('refuses an address after too many failed authentications, for REST and MCP alike (429)', async () => {
    failedAuthPoints = 3;
    const good = await token();
    const revoked = await token({ name: 'revoked' });
    await tokens.revoke('revoked');
    const post = (path: string, secret: string) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${secret}`,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
    // A missing token guesses nothing: not counted.
    const none = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(none.status).toBe(401);
    expect((await post('/mcp', revoked)).status).toBe(401);
    expect((await post('/api/v1/fix-proposals', 'dag_garbage')).status).toBe(401);
    expect((await post('/mcp', `${revoked.slice(0, -1)}x`)).status).toBe(401);
    for (const path of ['/mcp', '/api/v1/fix-proposals']) {
      const limited = await post(path, good); // even a good token, from this address
      expect(limited.status, path).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await limited.json()) as { error: string }).error).toMatch(
        /too many failed authentications/,
      );
    }
    // When the window is over (here: its count removed), the address is served again.
    await lane.db.query("DELETE FROM api_token_limits WHERE key LIKE 'authfail%'");
    expect((await post('/mcp', good)).status).toBe(200);
  });
});
