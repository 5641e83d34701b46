// The fix-proposal API as `npm start` serves it: a real DAG process (GitLab mode) with a token
// issued on its database before it started. It answers the OpenAPI document, refuses a request
// without a token (401 with WWW-Authenticate), and reads a token's request to its target (404 for
// an app DAG does not know). The handler's every answer is tested in test/api/.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { startRealDagStand, type Dag, type RealDagStand } from '../helpers/real-dag.ts';

let stand: RealDagStand;
let dag: Dag;
let secret: string;

beforeAll(async () => {
  stand = await startRealDagStand('dag-fix-api');
  const dataDir = path.join(stand.dir, 'data');
  await stand.seed(dataDir);
  const db = await stand.openDag(dataDir);
  try {
    const tokens = new SqlApiTokenStore(db, {
      findApp: async () => undefined,
      listApps: async () => [],
      listEnvironments: async () => [],
    });
    ({ secret } = await tokens.create({
      name: 'sre-agent',
      permission: 'propose',
      scope: { all: true },
      lifetimeMs: 3_600_000,
    }));
  } finally {
    await db.close();
  }
  dag = await stand.startDag(dataDir);
}, 180_000);

afterAll(async () => {
  stand?.killAll();
  await stand?.stop();
});

const proposal = {
  target: { app: 'no-such-app', environment: 'production' },
  change: { kind: 'values-patch', patch: { replicaCount: 2 } },
  title: 'Two replicas',
  rationale: 'One replica is not enough.',
  evidence: [],
  agent: { name: 'sre-agent', model: 'test' },
};

function post(headers: Record<string, string>): Promise<Response> {
  return fetch(`http://127.0.0.1:${dag.port}/api/v1/fix-proposals`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(proposal),
  });
}

describe('the fix-proposal API in a running DAG', () => {
  it('serves its OpenAPI document', async () => {
    const res = await fetch(`http://127.0.0.1:${dag.port}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\.1/);
    expect(Object.keys(doc.paths)).toContain('/api/v1/fix-proposals');
  });

  it('refuses a proposal without a token', async () => {
    const res = await post({});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('takes a token issued on its database, and answers 404 for an app it does not know', async () => {
    const res = await post({ authorization: `Bearer ${secret}` });
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toContain('no-such-app');
  });
});
