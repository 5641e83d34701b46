// The fix proposal endpoints over real HTTP, against the embedded database with real tokens
// (SqlApiTokenStore), the real validation, workload resolution (over a fake cluster client) and
// verification (over an in-memory app repository); only the pull request's publishing is a fake.
import { readFileSync } from 'node:fs';
import { request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sharedTokenRateLimit } from '../../src/api/auth.ts';
import { iacRepoAccess } from '../../src/api/iac-repo-source.ts';
import {
  fixProposalsHandler,
  MAX_PROPOSAL_BODY_BYTES,
  runFixProposalJob,
  type FixProposalApiDeps,
  type FixProposalJob,
  type FixProposalOutcome,
} from '../../src/api/fix-proposals.ts';
import type { PublishFixInput, PublishFixResult } from '../../src/fix/publish-types.ts';
import { PROVENANCE } from '../../src/render/provenance.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates, type Templates } from '../../src/render/templates.ts';
import { parseValuesFile } from '../../src/render/yaml.ts';
import { createHttpServer } from '../../src/server/http.ts';
import { SqlApiTokenStore, type NewApiToken } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlFixProposalStore } from '../../src/store/fix-proposals.ts';
import type { ClusterClient } from '../../src/k8s/client.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { mismatch } from './openapi-conformance.ts';

const seed = readFileSync(
  new URL('../fixtures/seeds/multiple-environments.sql', import.meta.url),
  'utf8',
);
const DAY = 86_400_000;

let templates: Templates;
beforeAll(() => {
  templates = loadTemplates();
});

/** The app repository at every branch's tip, in memory. */
function repoFiles(): Record<string, string> {
  return {
    'deploy/values.yaml': 'image:\n  repository: ghcr.io/org/my-app\nreplicaCount: 1\n',
    'deploy/values-staging.yaml': 'resources:\n  limits:\n    memory: 128Mi\nreplicaCount: 1\n',
    'deploy/values-production.yaml': 'replicaCount: 3\n',
    'chart/Chart.yaml': 'apiVersion: v2\nname: my-app\nversion: 1.0.0\n',
    'chart/values.yaml': 'replicaCount: 1\n',
    'chart/templates/deployment.yaml': 'kind: Deployment\nreplicas: {{ .Values.replicaCount }}\n',
  };
}

const SHA = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b';

/** Objects the fake cluster holds, by `kind/namespace/name`. */
let clusterObjects: Map<string, Record<string, unknown>>;
const fakeCluster = {
  read: async (object: { kind: string; metadata: { name: string; namespace?: string } }) =>
    clusterObjects.get(`${object.kind}/${object.metadata.namespace}/${object.metadata.name}`),
} as unknown as ClusterClient;

function proposal(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    target: { app: 'my-app', environment: 'staging' },
    change: { kind: 'values-patch', patch: { resources: { limits: { memory: '256Mi' } } } },
    title: 'Raise the memory limit of my-app in staging',
    rationale: 'The pods are OOMKilled at peak.',
    evidence: [{ kind: 'event', text: 'OOMKilled' }],
    agent: { name: 'fixer', model: 'some-model' },
    ...overrides,
  };
}

type Answer = { status: number; headers: Record<string, unknown>; body: Record<string, unknown> };

let server: Server;
let base: string;

/**
 * One request over HTTP. The body is written in `chunks` (chunked encoding unless
 * `contentLength` is given); a server that answers before the body is sent is fine.
 */
function send(options: {
  method?: string;
  path?: string;
  token?: string | undefined;
  contentType?: string | undefined;
  body?: string | Buffer;
  chunks?: Iterable<Buffer>;
  contentLength?: number;
}): Promise<Answer> {
  const url = new URL(options.path ?? '/api/v1/fix-proposals', base);
  const headers: Record<string, string | number> = {};
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  const contentType = 'contentType' in options ? options.contentType : 'application/json';
  if (contentType !== undefined) headers['content-type'] = contentType;
  if (options.contentLength !== undefined) headers['content-length'] = options.contentLength;
  else if (options.body !== undefined) headers['content-length'] = Buffer.byteLength(options.body);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { method: options.method ?? 'POST', headers, agent: false }, (res) => {
      answered = true;
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        const body = JSON.parse(text) as Record<string, unknown>;
        // Every answer is one the OpenAPI document declares, of the schema it declares.
        const method = options.method ?? 'POST';
        const wrong = mismatch(method, url.pathname, res.statusCode ?? 0, body);
        if (wrong) reject(new Error(wrong));
        else resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        req.destroy();
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    if (options.chunks) {
      const iterator = options.chunks[Symbol.iterator]();
      const pump = () => {
        for (;;) {
          if (answered || req.destroyed) return;
          const next = iterator.next();
          if (next.done) {
            req.end();
            return;
          }
          if (!req.write(next.value)) {
            req.once('drain', pump);
            return;
          }
        }
      };
      pump();
    } else if (options.contentLength !== undefined && options.body === undefined) {
      req.flushHeaders(); // a declared body that never comes: answered from the header
    } else {
      req.end(options.body);
    }
  });
}

describe('fix proposal API', () => {
  let lane: LaneDb;
  let config: SqlConfigStore;
  let tokens: SqlApiTokenStore;
  let proposals: SqlFixProposalStore;
  let jobs: FixProposalJob[];
  let outcomes: FixProposalOutcome[];
  let files: Record<string, string>;
  let now: number;
  let deps: FixProposalApiDeps;

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

  const recorded = async () =>
    (
      await lane.db.query<{ id: number; state: string }>(
        'SELECT id, state FROM fix_proposals ORDER BY id',
      )
    ).rows;

  beforeAll(async () => {
    lane = await openLane('embedded');
  }, 120_000);
  afterAll(async () => {
    await lane.drop();
  });

  beforeEach(async () => {
    await lane.db.query(
      'TRUNCATE fix_proposals, api_token_limits, api_token_scopes, api_tokens, apps, iacs, clusters RESTART IDENTITY CASCADE',
    );
    config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(seed);
    await config.normalize();
    now = Date.parse('2030-01-01T00:00:00Z');
    tokens = new SqlApiTokenStore(lane.db, config, { now: () => new Date(now) });
    proposals = new SqlFixProposalStore(lane.db);
    jobs = [];
    outcomes = [];
    files = repoFiles();
    clusterObjects = new Map();
    deps = {
      tokens,
      rateLimit: sharedTokenRateLimit(lane.db, quiet, { points: 1000 }),
      log: quiet,
      config,
      proposals,
      clusters: { get: async () => fakeCluster },
      source: async (_app, environment) => ({
        reader: {
          readFile: async (path) => files[path],
          readFolder: async (folder) => {
            const prefix = `${folder}/`;
            const inside = Object.entries(files).filter(([p]) => p.startsWith(prefix));
            return inside.length
              ? Object.fromEntries(inside.map(([p, c]) => [p.slice(prefix.length), c]))
              : undefined;
          },
        },
        tip: {
          sha: SHA,
          branch: environment.branch,
          commitUrl: `https://gitlab.com/org/my-app/-/commit/${SHA}`,
        },
      }),
      tools: { render: (input) => renderBundle(input, templates), parseValues: parseValuesFile },
      enqueue: async (job) => {
        jobs.push(job);
      },
      onOutcome: (outcome) => outcomes.push(outcome),
    };
    server = createHttpServer({
      handlers: [fixProposalsHandler(deps)],
      readiness: async () => ({ ready: true, checks: {} }),
      log: quiet,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (secret: string | undefined, body: unknown) =>
    send({ token: secret, body: JSON.stringify(body) });

  /** Runs the queued job with a publish that answers `result`; what publish was given. */
  async function runJob(
    job: FixProposalJob,
    result: PublishFixResult | Error,
    options: { lastAttempt?: boolean } = {},
  ) {
    const calls: PublishFixInput[] = [];
    const record = await runFixProposalJob(job, {
      proposals,
      config,
      source: deps.source,
      tools: deps.tools,
      appPlatform: async () => ({
        platform: { provider: 'gitlab' },
        repo: { provider: 'gitlab', fullName: 'org/my-app', urls: [], webUrl: '' },
      }),
      publish: async (input) => {
        calls.push(input);
        if (result instanceof Error) throw result;
        return result;
      },
      log: quiet,
      onOutcome: (outcome) => outcomes.push(outcome),
      ...options,
    });
    return { record, calls };
  }

  describe('refuses', () => {
    it('a request without a token, or with a malformed one (401, nothing recorded)', async () => {
      const missing = await post(undefined, proposal());
      expect(missing.status).toBe(401);
      expect(missing.headers['www-authenticate']).toBe('Bearer realm="dag"');
      expect(missing.body).toEqual({ error: 'an API token is required' });
      const malformed = await post('dag_nope', proposal());
      expect(malformed.status).toBe(401);
      expect(malformed.body.error).toMatch(/malformed token/);
      expect(await recorded()).toEqual([]);
      expect(outcomes).toEqual(['refused', 'refused']);
    });

    it('an expired and a revoked token (401)', async () => {
      const expiring = await token({ name: 'old', lifetimeMs: DAY });
      const revoked = await token({ name: 'gone' });
      await tokens.revoke('gone');
      now += 2 * DAY;
      const expired = await post(expiring, proposal());
      expect(expired.status).toBe(401);
      expect(expired.body.error).toMatch(/expired/);
      const answer = await post(revoked, proposal());
      expect(answer.status).toBe(401);
      expect(answer.body.error).toBe('unknown or revoked token');
      expect(JSON.stringify([expired, answer])).not.toContain(revoked.slice(12));
    });

    it('a token over its rate limit (429 with Retry-After)', async () => {
      deps.rateLimit = sharedTokenRateLimit(lane.db, quiet, { points: 1 });
      const secret = await token();
      expect((await post(secret, { nonsense: true })).status).toBe(400);
      const limited = await post(secret, proposal());
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    });

    it('a token with read permission, or out of scope (403)', async () => {
      const reader = await token({ permission: 'read' });
      const read = await post(reader, proposal());
      expect(read.status).toBe(403);
      expect(read.body.error).toMatch(/needs propose/);
      const production = await token({
        scope: {
          all: false,
          apps: [],
          environments: [{ app: 'my-app', environment: 'production' }],
        },
      });
      const scoped = await post(production, proposal());
      expect(scoped.status).toBe(403);
      expect(scoped.body.error).toMatch(/does not reach environment staging of app my-app/);
      expect(await recorded()).toEqual([]);
    });

    it('an unknown app or environment (404 naming the field)', async () => {
      const secret = await token();
      const app = await post(secret, proposal({ target: { app: 'nope', environment: 'staging' } }));
      expect(app.status).toBe(404);
      expect(app.body.errors).toEqual([{ field: 'target.app', message: expect.any(String) }]);
      const env = await post(secret, proposal({ target: { app: 'my-app', environment: 'qa' } }));
      expect(env.status).toBe(404);
      expect(env.body.errors).toEqual([
        { field: 'target.environment', message: 'is not an environment of app my-app' },
      ]);
    });

    it('a workload DAG cannot find, with what it looked at (404)', async () => {
      const secret = await token();
      const workload = { cluster: 'prod-1', namespace: 'staging', kind: 'Deployment', name: 'web' };
      const answer = await post(secret, proposal({ target: workload }));
      expect(answer.status).toBe(404);
      expect(answer.body.error).toMatch(/not found on cluster prod-1/);
      expect(answer.body.lookedAt).toEqual([expect.stringMatching(/not found on cluster prod-1/)]);
      const noCluster = await post(secret, proposal({ target: { ...workload, cluster: 'x' } }));
      expect(noCluster.status).toBe(404);
      expect(noCluster.body.lookedAt).toEqual(['clusters: none with id or name x']);
    });

    it('bad JSON, invalid UTF-8 and unknown fields (400)', async () => {
      const secret = await token();
      const json = await send({ token: secret, body: '{"target": ' });
      expect(json).toMatchObject({ status: 400, body: { error: 'the body is not JSON' } });
      const utf8 = await send({
        token: secret,
        body: Buffer.concat([
          Buffer.from('{"title": "'),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"}'),
        ]),
      });
      expect(utf8).toMatchObject({ status: 400, body: { error: 'the body is not valid UTF-8' } });
      const unknown = await post(secret, { ...proposal(), extra: 1 });
      expect(unknown.status).toBe(400);
      expect(unknown.body.errors).toEqual([{ field: 'extra', message: 'is not a known field' }]);
      expect(await recorded()).toEqual([]);
    });

    it('a body over the cap, declared or chunked, unread (413)', async () => {
      const secret = await token();
      const declared = await send({ token: secret, contentLength: MAX_PROPOSAL_BODY_BYTES + 1 });
      expect(declared.status).toBe(413);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const chunked = await send({
        token: secret,
        chunks: (function* () {
          for (let i = 0; i < 1000; i++) yield chunk; // 64 MiB if it were all read
        })(),
      });
      expect(chunked.status).toBe(413);
      expect(chunked.body.error).toMatch(/larger than 2097152 bytes/);
    });

    it('a field over its cap (413 from validation)', async () => {
      const secret = await token();
      const answer = await post(secret, proposal({ rationale: 'x'.repeat(10_001) }));
      expect(answer.status).toBe(413);
      expect(answer.body.errors).toEqual([{ field: 'rationale', message: expect.any(String) }]);
    });

    it('any content type but JSON (415), and other methods (405)', async () => {
      const secret = await token();
      for (const contentType of [undefined, 'text/plain', 'application/json; charset=latin1']) {
        const answer = await send({ token: secret, contentType, body: JSON.stringify(proposal()) });
        expect(answer.status).toBe(415);
      }
      expect((await send({ method: 'PUT', token: secret })).status).toBe(405);
    });

    it('a change that does not verify at the tip: recorded rejected, with its reasons (409)', async () => {
      const secret = await token();
      // What needs no repository is refused before anything is read or recorded.
      const broken = await post(
        secret,
        proposal({
          change: {
            kind: 'files',
            files: [{ path: 'deploy/values-staging.yaml', content: 'a: [' }],
          },
        }),
      );
      expect(broken.status).toBe(422);
      expect(broken.body.errors).toEqual([
        expect.objectContaining({ field: expect.stringMatching(/^change\.files\[0\]/) }),
      ]);
      expect(await proposals.list()).toEqual([]);
      // A diff that does not apply to the tip is known only at the tip: recorded rejected.
      const answer = await post(
        secret,
        proposal({
          change: {
            kind: 'diff',
            diff: '--- a/deploy/values-staging.yaml\n+++ b/deploy/values-staging.yaml\n@@ -1,1 +1,1 @@\n-replicaCount: 7\n+replicaCount: 8\n',
          },
        }),
      );
      expect(answer.status).toBe(409);
      expect(answer.body.errors).toEqual([expect.objectContaining({ field: 'change.diff' })]);
      const rows = await proposals.list();
      expect(rows).toMatchObject([
        {
          state: 'rejected',
          statusCode: 409,
          reasons: answer.body.errors,
          title: expect.any(String),
        },
      ]);
      expect(jobs).toEqual([]);
      expect(outcomes).toEqual(['refused', 'rejected']);
    });
  });

  it('takes a proposal, queues one job, and shows the pull request the job opened', async () => {
    const secret = await token();
    const accepted = await post(secret, proposal());
    expect(accepted).toMatchObject({
      status: 202,
      body: { id: 1, state: 'validating', links: { self: '/api/v1/fix-proposals/1' } },
    });
    const again = await post(secret, { ...proposal(), title: 'Same change, other words' });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(1);
    expect(await recorded()).toEqual([{ id: 1, state: 'validating' }]);
    expect(jobs).toHaveLength(1);

    const { calls } = await runJob(jobs[0]!, {
      state: 'open',
      number: 7,
      url: 'https://gitlab.com/org/my-app/-/merge_requests/7',
      branch: 'dag/fix/staging',
      pushedHead: SHA,
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      proposalId: 1,
      app: { name: 'my-app' },
      environment: { name: 'staging' },
      verified: { ok: true, changedFiles: { 'deploy/values-staging.yaml': expect.any(Object) } },
      sender: { tokenName: expect.any(String) },
    });
    const shown = await send({ method: 'GET', path: '/api/v1/fix-proposals/1', token: secret });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({
      id: 1,
      state: 'open',
      pullRequest: { number: 7, url: 'https://gitlab.com/org/my-app/-/merge_requests/7' },
      links: { pullRequest: 'https://gitlab.com/org/my-app/-/merge_requests/7' },
    });
    expect(outcomes).toEqual(['accepted', 'duplicate', 'opened']);
  });

  it('records a proposal it cannot verify for want of the app repository as failed (503)', async () => {
    const secret = await token();
    deps.source = async () => {
      throw new Error('GitLab is down');
    };
    const answer = await post(secret, proposal());
    expect(answer).toMatchObject({ status: 503, body: { id: 1 } });
    expect(JSON.stringify(answer.body)).not.toContain('GitLab is down');
    expect(await proposals.get(1)).toMatchObject({ state: 'failed', statusCode: 503 });
    expect(jobs).toEqual([]);
    expect(outcomes).toEqual(['failed']);
  });

  it('fails a queued proposal that no longer verifies at the tip, without publishing', async () => {
    const secret = await token();
    await post(secret, proposal());
    files['deploy/values-staging.yaml'] = 'resources: [\n'; // the branch moved on, broken
    const { record, calls } = await runJob(jobs[0]!, {
      state: 'open',
      number: 1,
      url: 'u',
      branch: 'b',
      pushedHead: SHA,
    });
    expect(calls).toEqual([]);
    expect(record).toMatchObject({ state: 'failed', statusCode: expect.any(Number) });
    expect(record?.reasons.length).toBeGreaterThan(0);
  });

  it('records a pull request a person pushed to, and a publish that failed for good', async () => {
    const secret = await token();
    await post(secret, proposal());
    const { record } = await runJob(jobs[0]!, {
      state: 'person-pushed',
      number: 3,
      url: 'https://gitlab.com/org/my-app/-/merge_requests/3',
      branch: 'dag/fix/staging',
      reason: 'someone pushed to the branch: DAG leaves it alone',
    });
    expect(record).toMatchObject({
      state: 'open',
      prNumber: 3,
      pushedHead: null,
      reasons: [
        { field: 'pullRequest', message: 'someone pushed to the branch: DAG leaves it alone' },
      ],
    });

    await post(secret, proposal({ change: { kind: 'values-patch', patch: { replicaCount: 2 } } }));
    await expect(runJob(jobs[1]!, new Error('502 from GitLab'))).rejects.toThrow('502');
    expect((await proposals.get(2))?.state).toBe('validating'); // retried later
    await expect(
      runJob(jobs[1]!, new Error('502 from GitLab'), { lastAttempt: true }),
    ).rejects.toThrow();
    expect(await proposals.get(2)).toMatchObject({ state: 'failed', statusCode: 502 });
    // A job for a proposal that ended is not run again.
    const again = await runJob(jobs[1]!, {
      state: 'open',
      number: 4,
      url: 'u',
      branch: 'b',
      pushedHead: SHA,
    });
    expect(again.calls).toEqual([]);
  });

  it('makes one proposal of the same one sent twice at once', async () => {
    const secret = await token();
    const answers = await Promise.all([post(secret, proposal()), post(secret, proposal())]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 202]);
    expect(answers.map((a) => a.body.id)).toEqual([1, 1]);
    expect(await recorded()).toEqual([{ id: 1, state: 'validating' }]);
    expect(jobs).toHaveLength(1);

    // The race itself: the check for an open proposal found none, then the insert collided.
    let asked = 0;
    deps.proposals = {
      create: (input) => proposals.create(input),
      get: (id) => proposals.get(id),
      update: (id, changes) => proposals.update(id, changes),
      supersedeOthers: (id) => proposals.supersedeOthers(id),
      list: (filter) => proposals.list(filter),
      findOpenByFingerprint: async (fingerprint) =>
        asked++ === 0 ? undefined : proposals.findOpenByFingerprint(fingerprint),
    };
    const raced = await post(secret, proposal());
    expect(raced).toMatchObject({ status: 200, body: { id: 1 } });
    expect(asked).toBe(2);
    expect(jobs).toHaveLength(1);
  });

  it('takes a live workload as the target, traced to its environment', async () => {
    clusterObjects.set('Deployment/staging/web', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'staging',
        annotations: { [PROVENANCE.app]: 'my-app', [PROVENANCE.environment]: 'staging' },
      },
    });
    const secret = await token();
    const target = { cluster: 'prod-1', namespace: 'staging', kind: 'Deployment', name: 'web' };
    const answer = await post(secret, proposal({ target }));
    expect(answer.status).toBe(202);
    expect(await proposals.get(1)).toMatchObject({ appId: 1, environmentId: 1, target });
  });

  it('refuses a workload two environments install, naming what it looked at (409)', async () => {
    // Another app whose environment installs the same release in the same namespace.
    await lane.db.query(
      `INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'https://gitlab.com/org/other');
       INSERT INTO apps_environments
         (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name)
       VALUES (2, 'develop', 1, 'clusters/staging/other', 1, 'flux', 'staging', 'my-app')`,
    );
    await config.normalize();
    clusterObjects.set('Deployment/staging/web', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'staging',
        annotations: {
          'meta.helm.sh/release-name': 'my-app',
          'meta.helm.sh/release-namespace': 'staging',
        },
      },
    });
    const secret = await token();
    const target = { cluster: 'prod-1', namespace: 'staging', kind: 'Deployment', name: 'web' };
    const answer = await post(secret, proposal({ target }));
    expect(answer.status).toBe(409);
    expect(answer.body.error).toMatch(/matches more than one environment/);
    expect(answer.body.lookedAt).toEqual(
      expect.arrayContaining([expect.stringMatching(/meta\.helm\.sh|Helm release/)]),
    );
    expect(await recorded()).toEqual([]);
  });

  it('supersedes the earlier proposal for a target when a revision updates its pull request', async () => {
    const secret = await token();
    await post(secret, proposal());
    await runJob(jobs[0]!, { state: 'open', number: 7, url: 'u', branch: 'b', pushedHead: SHA });
    const revised = await post(
      secret,
      proposal({
        change: { kind: 'values-patch', patch: { resources: { limits: { memory: '512Mi' } } } },
      }),
    );
    expect(revised.status).toBe(202);
    const { record } = await runJob(jobs[1]!, {
      state: 'updated',
      number: 7,
      url: 'u',
      branch: 'b',
      pushedHead: 'f'.repeat(40),
    });
    expect(record).toMatchObject({ id: 2, state: 'updated', prNumber: 7 });
    expect(await proposals.get(1)).toMatchObject({ state: 'superseded', supersededBy: 2 });
  });

  it('takes a change to IAC files DAG does not render, and the job publishes it on the IAC repository', async () => {
    // The IAC repository (org/iac-repo on GitLab, its default branch main) in memory, reached
    // through iacRepoAccess over the real configuration: the folders DAG renders come from it.
    const iacFiles: Record<string, string> = {
      'clusters/staging/kustomization.yaml': 'resources:\n  - my-app\n',
      'clusters/staging/my-app/release.yaml': 'kind: HelmRelease\n',
    };
    const iacPlatform = {
      provider: 'gitlab',
      branchHead: async (_repo: unknown, branch: string) => (branch === 'main' ? SHA : null),
      readFile: async (_repo: unknown, _ref: string, path: string) => iacFiles[path],
      readFolder: async () => undefined,
      commitFiles: async () => ({ sha: SHA }),
    };
    const iacRepo = {
      provider: 'gitlab' as const,
      fullName: 'org/iac-repo',
      urls: ['https://gitlab.com/org/iac-repo.git'],
      webUrl: 'https://gitlab.com/org/iac-repo',
    };
    const access = iacRepoAccess(
      async (iac, token) => {
        expect({ repoUrl: iac.repoUrl, token }).toEqual({
          repoUrl: 'https://gitlab.com/org/iac-repo.git',
          token: 'your-access-token',
        });
        return { platform: iacPlatform as never, repo: iacRepo, via: 'token' };
      },
      config,
      async () => 'main',
    );
    deps.iacSource = access.source;
    const secret = await token();
    const iacChange = (path: string) => ({
      change: {
        kind: 'files',
        repository: 'iac',
        files: [{ path, content: 'kind: NetworkPolicy\nmetadata:\n  name: allow-db\n' }],
      },
    });

    const inside = await post(secret, proposal(iacChange('clusters/production/my-app/np.yaml')));
    expect(inside.status).toBe(422);
    expect(JSON.stringify(inside.body)).toContain(
      'is inside clusters/production/my-app, the folder DAG renders for my-app production',
    );

    const accepted = await post(secret, proposal(iacChange('clusters/staging/policies/np.yaml')));
    expect(accepted).toMatchObject({ status: 202, body: { id: 2, state: 'validating' } });
    const published: { repo: string; where: string; branch?: string }[] = [];
    const record = await runFixProposalJob(jobs[0]!, {
      proposals,
      config,
      source: deps.source,
      iacSource: access.source,
      tools: deps.tools,
      appPlatform: async () => {
        throw new Error('an IAC-repository fix does not go to the app repository');
      },
      iacPlatform: async (environment) => access.writable(environment),
      publish: async (input, target) => {
        published.push({
          repo: target.repo.fullName,
          where: input.verified.where,
          branch: input.verified.iac?.branch,
        });
        return {
          state: 'open',
          number: 4,
          url: 'https://gitlab.com/org/iac-repo/-/merge_requests/4',
          branch: 'dag/fix-iac/my-app/staging',
          pushedHead: SHA,
        };
      },
      log: quiet,
    });
    expect(published).toEqual([{ repo: 'org/iac-repo', where: 'iac-repo', branch: 'main' }]);
    expect(record).toMatchObject({
      state: 'open',
      prUrl: 'https://gitlab.com/org/iac-repo/-/merge_requests/4',
    });
  });

  it('shows a proposal only to tokens that reach it', async () => {
    const secret = await token();
    await post(secret, proposal());
    const staging = await token({
      permission: 'read',
      scope: { all: false, apps: [], environments: [{ app: 'my-app', environment: 'staging' }] },
    });
    const production = await token({
      permission: 'read',
      scope: { all: false, apps: [], environments: [{ app: 'my-app', environment: 'production' }] },
    });
    const get = (who: string | undefined, id = '1') =>
      send({ method: 'GET', path: `/api/v1/fix-proposals/${id}`, token: who });
    expect((await get(staging)).status).toBe(200);
    expect(await get(production)).toMatchObject({
      status: 404,
      body: { error: 'no fix proposal 1' },
    });
    expect((await get(staging, '2')).status).toBe(404);
    expect((await get(staging, '../1')).status).toBe(404);
    expect((await get(undefined)).status).toBe(401);
  });

  // Hostile and malformed requests, each over real HTTP: every one gets a 4xx, the server keeps
  // answering, only rejections are recorded, no job is queued, and memory stays bounded.
  it(
    'answers hostile bodies with 4xx and stays up, its memory bounded',
    { timeout: 120_000 },
    async () => {
      const secret = await token();
      const expiring = await token({ name: 'expiring', lifetimeMs: DAY });
      const revoked = await token({ name: 'revoked' });
      await tokens.revoke('revoked');
      const valid = JSON.stringify(proposal());
      const laughs = [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        ...Array.from({ length: 8 }, (_, i) => {
          const prev = i === 0 ? 'a' : `l${i - 1}`;
          return `l${i}: &l${i} [*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev},*${prev}]`;
        }),
      ].join('\n');
      const nested = (depth: number): unknown => (depth === 0 ? 'x' : { a: nested(depth - 1) });
      const files = (path: string, content = 'a: 1\n') =>
        JSON.stringify(proposal({ change: { kind: 'files', files: [{ path, content }] } }));
      const bodies: Array<{
        label: string;
        body: string | Buffer;
        contentType?: string;
        as?: string;
      }> = [
        { label: 'nested arrays', body: `${'['.repeat(200_000)}${']'.repeat(200_000)}` },
        { label: 'nested objects', body: `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}` },
        { label: 'unclosed nesting', body: '['.repeat(1_000_000) },
        {
          label: 'a deep patch',
          body: JSON.stringify(proposal({ change: { kind: 'values-patch', patch: nested(40) } })),
        },
        { label: 'a huge title', body: JSON.stringify(proposal({ title: 'x'.repeat(1_900_000) })) },
        {
          label: 'a huge key',
          body: JSON.stringify({ ...proposal(), ['k'.repeat(1_000_000)]: 1 }),
        },
        {
          label: 'many errors',
          body: JSON.stringify(
            Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`f${i}`, i])),
          ),
        },
        { label: 'a YAML bomb in a file', body: files('deploy/values-staging.yaml', laughs) },
        {
          label: 'a YAML bomb in a diff',
          body: JSON.stringify(
            proposal({
              change: {
                kind: 'diff',
                diff: `--- a/deploy/values-staging.yaml\n+++ b/deploy/values-staging.yaml\n@@ -1,1 +1,10 @@\n-resources:\n+${laughs.split('\n').join('\n+')}\n`,
              },
            }),
          ),
        },
        { label: 'a parent path', body: files('../etc/passwd') },
        { label: 'an absolute path', body: files('/etc/passwd') },
        { label: 'a path out of the repo', body: files('deploy/../../x.yaml') },
        { label: 'a .git path', body: files('.git/config') },
        { label: 'a NUL in a path', body: files('deploy/values-staging.yaml\u0000.txt') },
        { label: 'a lone surrogate in a path', body: files('deploy/\ud800.yaml') },
        { label: 'a backslash path', body: files('deploy\\..\\..\\x.yaml') },
        {
          label: 'overlong UTF-8',
          body: Buffer.concat([
            Buffer.from(valid.slice(0, 20)),
            Buffer.from([0xc0, 0xaf]),
            Buffer.from(valid.slice(20)),
          ]),
        },
        {
          label: 'UTF-8 surrogate bytes',
          body: Buffer.concat([
            Buffer.from('{"title":"'),
            Buffer.from([0xed, 0xa0, 0x80]),
            Buffer.from('"}'),
          ]),
        },
        { label: 'a BOM and garbage', body: Buffer.from([0xef, 0xbb, 0xbf, 0xff, 0xfe]) },
        { label: 'null', body: 'null' },
        { label: 'an array', body: '[]' },
        { label: 'a string', body: '"proposal"' },
        { label: 'a huge number', body: JSON.stringify(proposal()).replace('"fixer"', '1e400') },
        { label: '__proto__', body: `{"__proto__": {"admin": true}, ${valid.slice(1)}` },
        {
          label: 'a Secret as the workload',
          body: JSON.stringify(
            proposal({
              target: { cluster: 'prod-1', namespace: 'staging', kind: 'Secret', name: 'db' },
            }),
          ),
        },
        { label: 'form data', body: valid, contentType: 'application/x-www-form-urlencoded' },
        { label: 'UTF-16 JSON', body: valid, contentType: 'application/json; charset=utf-16' },
        { label: 'multipart', body: valid, contentType: 'multipart/form-data; boundary=x' },
        { label: 'an expired token', body: valid, as: 'expired' },
        { label: 'a revoked token', body: valid, as: 'revoked' },
        { label: 'a token in the wrong place', body: valid, as: 'none' },
      ];
      // Mutations that always break a valid body: proper prefixes, and a stray 0xff byte.
      let seed = 12345;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let i = 0; i < 20; i++) {
        const at = 1 + random(valid.length - 2);
        bodies.push({ label: `cut at ${at}`, body: valid.slice(0, at) });
        const bytes = Buffer.from(valid);
        bodies.push({
          label: `0xff at ${at}`,
          body: Buffer.concat([bytes.subarray(0, at), Buffer.from([0xff]), bytes.subarray(at)]),
        });
      }

      now += 2 * DAY; // `expiring` expires; `secret` (30 days) does not
      const start = process.memoryUsage().rss;
      let peak = start;
      const answers: Array<{ label: string; status: number; size: number }> = [];
      for (const { label, body, contentType, as } of bodies) {
        const who =
          as === 'expired'
            ? expiring
            : as === 'revoked'
              ? revoked
              : as === 'none'
                ? undefined
                : secret;
        const answer = await send({
          token: who,
          body,
          ...(contentType ? { contentType } : {}),
          ...(as === 'none' ? { path: `/api/v1/fix-proposals?access_token=${secret}` } : {}),
        });
        answers.push({ label, status: answer.status, size: JSON.stringify(answer.body).length });
        expect(JSON.stringify(answer.body)).not.toContain(secret.slice(12));
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      for (const answer of answers) {
        expect(answer.status, answer.label).toBeGreaterThanOrEqual(400);
        expect(answer.status, answer.label).toBeLessThan(500);
        // Nothing hostile is echoed back whole.
        expect(answer.size, answer.label).toBeLessThan(64 * 1024);
      }
      expect(answers.find((a) => a.label === 'nested arrays')?.status).toBe(400);
      expect(answers.find((a) => a.label === 'a parent path')?.status).toBe(400);
      expect(answers.find((a) => a.label === 'form data')?.status).toBe(415);
      expect(answers.find((a) => a.label === 'a revoked token')?.status).toBe(401);
      // Still up and serving, having recorded only rejections and queued nothing.
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect((await recorded()).every((row) => row.state === 'rejected')).toBe(true);
      expect(jobs).toEqual([]);
      expect(outcomes.every((o) => o === 'refused' || o === 'rejected')).toBe(true);
      // Bounded: a body is at most 2 MiB, and none is held longer than its request.
      expect((peak - start) / 2 ** 20).toBeLessThan(512);
    },
  );
});
