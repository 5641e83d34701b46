// `dag mcp`: the real command spawned as an agent spawns it, called over stdio by the SDK's own
// Client. Its data folder holds an app on a GitLab stand-in (keeping GitLab's contract) and a
// cluster on a fake kube-apiserver; the token comes from DAG_API_TOKEN and nothing else.
import { execFile } from 'node:child_process';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/jobs/queue.ts';
import { readSettings } from '../../src/settings.ts';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { loadKeyring } from '../../src/store/keys.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { contractKeeping, GitLabContract } from '../helpers/gitlab-contract.ts';
import { startGitServer, type GitServer } from '../helpers/git-server.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { newToken } from '../k8s/support.ts';
import { randomKey, runningDatabase, tempDir } from './run-dag.ts';

const root = path.resolve(import.meta.dirname, '../..');
const SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b';
const saToken = newToken();

const repo: Record<string, string> = {
  'deploy/values.yaml': 'image:\n  repository: ghcr.io/org/my-app\nreplicaCount: 1\n',
  'deploy/values-staging.yaml': 'replicaCount: 1\n',
  'chart/Chart.yaml': 'apiVersion: v2\nname: my-app\nversion: 1.0.0\n',
  'chart/values.yaml': 'replicaCount: 1\n',
  'chart/templates/deployment.yaml': 'kind: Deployment\nreplicas: {{ .Values.replicaCount }}\n',
};

const proposal = {
  target: { app: 'my-app', environment: 'staging' },
  change: { kind: 'values-patch', patch: { replicaCount: 2 } },
  title: 'Two replicas of my-app in staging',
  rationale: 'One replica is not enough at peak.',
  agent: { name: 'fixer', model: 'some-model' },
};

let dir: string;
let env: Record<string, string>;
let gitlab: Server;
const contract = new GitLabContract();
let kube: FakeKubeApiserver;
let secrets: { propose: string; read: string; revoked: string };
let gitlabWrites = 0;
const IAC_TOKEN = 'iac-git-token-stdio';
let git: GitServer;

/** The app repository of the stand-in: one branch, `develop`, at SHA. */
function answerGitlab(res: ServerResponse, request: { method: string; path: string }) {
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (request.method !== 'GET') gitlabWrites += 1;
  const project = '/api/v4/projects/org%2Fmy-app/repository';
  if (request.path === `${project}/branches/develop`) {
    return json(200, { name: 'develop', commit: { id: SHA } });
  }
  if (request.path === `${project}/tree`) {
    return json(
      200,
      Object.keys(repo).map((p) => ({ path: p, type: 'blob', name: path.basename(p) })),
    );
  }
  const file = new RegExp(`^${project}/files/(.+)/raw$`).exec(request.path);
  const text = file ? repo[decodeURIComponent(file[1] ?? '')] : undefined;
  if (text !== undefined) {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(text);
    return;
  }
  json(404, { message: '404 Not Found' });
}

beforeAll(async () => {
  dir = tempDir('dag-mcp-');
  gitlab = createServer(
    contractKeeping(contract, (_req, res, request) => answerGitlab(res, request)),
  );
  await new Promise<void>((resolve) => gitlab.listen(0, '127.0.0.1', resolve));
  const gitlabUrl = `http://127.0.0.1:${(gitlab.address() as AddressInfo).port}`;
  kube = await startFakeKubeApiserver({ token: saToken, crds: FLUX_CRDS });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'staging' } });
  kube.seed({
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

  git = await startGitServer({ token: IAC_TOKEN });
  await git.createRepo('iac', { defaultBranch: 'main', files: { 'README.md': 'IAC\n' } });

  const dataDir = path.join(dir, 'data');
  const encryptionKey = randomKey();
  env = {
    PATH: process.env.PATH ?? '',
    HOME: dir,
    DAG_DATA_DIR: dataDir,
    DAG_ENCRYPTION_KEY: encryptionKey,
    GITLAB_URL: gitlabUrl,
    GITLAB_TOKEN: 'glpat-dag-bot-token',
    GITLAB_WEBHOOK_SECRET: 'gl-secret',
  };
  const settings = readSettings(env);
  const db = await runningDatabase(dataDir);
  try {
    await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', $1)", [
      `${gitlabUrl}/org/my-app`,
    ]);
    // The IAC repository on a real git server: the dry run reads the folder from it.
    await db.query("INSERT INTO iacs (name, repo_url, access_token) VALUES ('iac', $1, $2)", [
      git.url('iac'),
      IAC_TOKEN,
    ]);
    await db.query(
      'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4)',
      ['prod-1', kube.url, saToken, kube.caCert],
    );
    await db.query(
      `INSERT INTO apps_environments
         (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name)
       VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'staging', 'my-app')`,
    );
    const store = new SqlConfigStore(db, loadKeyring(settings.encryption, settings.database));
    await store.normalize();
    const tokens = new SqlApiTokenStore(db, store);
    const create = async (name: string, permission: 'read' | 'propose') =>
      (await tokens.create({ name, permission, scope: { all: true }, lifetimeMs: 3_600_000 }))
        .secret;
    secrets = {
      propose: await create('agent', 'propose'),
      read: await create('reader', 'read'),
      revoked: await create('gone', 'propose'),
    };
    await tokens.revoke('gone');
    // The queues, as a DAG that ran once on this folder made them (dag mcp only sends to them).
    const queue = await JobQueue.create(db, quiet, { supervise: false });
    await queue.stop(1_000);
  } finally {
    await db.close();
  }
}, 180_000);

afterAll(async () => {
  await kube?.stop();
  await git?.stop();
  await new Promise((resolve) => gitlab?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
  contract.assertKept();
});

/** `dag mcp` run to its end, for the cases where it refuses to start. */
function dagMcp(extra: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['src/cli/main.ts', 'mcp'],
      { cwd: root, env: { ...env, ...extra }, timeout: 60_000 },
      (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
    );
  });
}

async function connect(secret: string): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['src/cli/main.ts', 'mcp'],
    cwd: root,
    env: { ...env, DAG_API_TOKEN: secret },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

async function call(client: Client, name: string, args: Record<string, unknown>) {
  const result = await client.callTool({ name, arguments: args });
  const content = result.content as Array<{ type: string; text: string }>;
  return {
    isError: result.isError === true,
    body: JSON.parse(content[0]?.text ?? '{}') as Record<string, unknown>,
  };
}

describe('dag mcp', () => {
  it('refuses to start without DAG_API_TOKEN, or with a revoked token, saying so on stderr', async () => {
    const none = await dagMcp({});
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/set DAG_API_TOKEN/);
    const revoked = await dagMcp({ DAG_API_TOKEN: secrets.revoked });
    expect(revoked.code).toBe(2);
    expect(revoked.stderr).toContain('DAG_API_TOKEN: unknown or revoked token');
    expect(revoked.stderr).not.toContain(secrets.revoked);
  }, 120_000);

  it('serves every tool over stdio to the SDK client, on the token of DAG_API_TOKEN', async () => {
    const { client, stderr } = await connect(secrets.propose);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([
        'find_environment',
        'get_environment',
        'get_proposal',
        'preview_fix',
        'propose_fix',
      ]);
      expect(tools.find((t) => t.name === 'propose_fix')?.annotations).toMatchObject({
        destructiveHint: false,
      });

      const found = await call(client, 'find_environment', {
        cluster: 'prod-1',
        namespace: 'staging',
        kind: 'Deployment',
        name: 'web',
      });
      expect(found).toMatchObject({
        isError: false,
        body: { app: 'my-app', environment: 'staging', matchedBy: 'provenance' },
      });
      const environment = await call(client, 'get_environment', {
        app: 'my-app',
        environment: 'staging',
      });
      expect(environment).toMatchObject({
        isError: false,
        body: { running: null, rendered: { at: { sha: SHA, branch: 'develop' } } },
      });
      const preview = await call(client, 'preview_fix', proposal);
      expect(preview).toMatchObject({
        isError: false,
        body: { changedFiles: ['deploy/values-staging.yaml'] },
      });
      // The same checks as DAG's server: the Flux CRDs, and a dry run on the cluster.
      const checks = JSON.stringify((preview.body as { checks?: unknown }).checks);
      expect(checks).toContain('validates');
      expect(checks).toContain("dry run: the cluster accepts staging's objects");
      const proposed = await call(client, 'propose_fix', proposal);
      expect(proposed).toMatchObject({ isError: false, body: { id: 1, state: 'validating' } });
      const shown = await call(client, 'get_proposal', { id: 1 });
      expect(shown).toMatchObject({ isError: false, body: { id: 1, title: proposal.title } });
      // Read only: DAG's workers (not running here) open the pull request from the queued job.
      expect(gitlabWrites).toBe(0);
      expect(stderr()).not.toContain(secrets.propose);
    } finally {
      await client.close();
    }

    const { client: reader } = await connect(secrets.read);
    try {
      const refused = await call(reader, 'propose_fix', {
        ...proposal,
        change: { kind: 'values-patch', patch: { replicaCount: 3 } },
      });
      expect(refused).toMatchObject({ isError: true, body: { status: 403 } });
    } finally {
      await reader.close();
    }
    // What the session left: one proposal, and its job queued for DAG's workers.
    const db = await runningDatabase(env.DAG_DATA_DIR as string);
    try {
      const rows = await db.query<{ id: number; state: string }>(
        'SELECT id, state FROM fix_proposals',
      );
      expect(rows.rows).toEqual([{ id: 1, state: 'validating' }]);
      const jobs = await db.query<{ data: { proposalId: number } }>(
        "SELECT data FROM pgboss.job WHERE name = 'dag.fix-proposal'",
      );
      expect(jobs.rows.map((j) => j.data.proposalId)).toEqual([1]);
    } finally {
      await db.close();
    }
  }, 180_000);
});
