// `dag proposals list` against the embedded database while DAG runs on it (through its socket):
// proposals recorded by the store as the REST API records them.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { Db } from '../../src/store/db.ts';
import { SqlFixProposalStore, type NewFixProposal } from '../../src/store/fix-proposals.ts';
import { randomKey as keyBytes } from '../helpers/lanes.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';

type ProposalJson = {
  id: number;
  state: string;
  app: string | null;
  environment: string | null;
  token: { id: number | null; name: string };
  pullRequest: { number: number; url: string | null } | null;
  reasons: { field: string; message: string }[];
};

let dir: string;
let db: Db;
let dag: Dag;

beforeAll(async () => {
  dir = tempDir('dag-proposals-');
  const dataDir = path.join(dir, 'data');
  db = await runningDatabase(dataDir);
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() });
  await runSteps(dag, appWithStaging('github', 'https://github.com/org/my-app'));
}, 120_000);
afterAll(async () => {
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function listJson(...args: string[]): Promise<ProposalJson[]> {
  const result = await dag(['proposals', 'list', '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as ProposalJson[];
}

describe('dag proposals list', () => {
  it('says there are none yet', async () => {
    expect(await dag(['proposals', 'list'])).toEqual({
      code: 0,
      stdout: '',
      stderr: 'no fix proposals yet (agents send them to POST /api/v1/fix-proposals)\n',
    });
  });

  it('lists proposals newest first, filtered by app and state', async () => {
    const config = new SqlConfigStore(db, new Keyring(keyBytes()));
    const { token } = await new SqlApiTokenStore(db, config).create({
      name: 'fixer',
      permission: 'propose',
      scope: { all: true },
      lifetimeMs: 86_400_000,
    });
    const [env] = await config.listEnvironments('my-app');
    const proposals = new SqlFixProposalStore(db);
    const base: NewFixProposal = {
      tokenId: token.id,
      tokenName: token.name,
      agentName: 'fixer',
      agentModel: 'model-1',
      title: 'Raise the memory limit',
      rationale: 'OOMKilled',
      target: { app: 'my-app', environment: 'staging' },
      appId: env?.appId ?? null,
      environmentId: env?.id ?? null,
      fingerprint: 'a'.repeat(64),
      changeKind: 'values-patch',
      state: 'validating',
    };
    const rejected = await proposals.create({
      ...base,
      state: 'rejected',
      statusCode: 422,
      reasons: [{ field: 'change.patch', message: 'does not render' }],
    });
    const open = await proposals.create({ ...base, fingerprint: 'b'.repeat(64) });
    await proposals.update(open.id, {
      state: 'open',
      prNumber: 7,
      prUrl: 'https://github.com/org/my-app/pull/7',
      branch: 'dag/fix/staging',
      pushedHead: 'c'.repeat(40),
    });

    const all = await listJson();
    expect(all.map((p) => [p.id, p.state])).toEqual([
      [open.id, 'open'],
      [rejected.id, 'rejected'],
    ]);
    expect(all[0]).toMatchObject({
      app: 'my-app',
      environment: 'staging',
      token: { name: 'fixer' },
      pullRequest: { number: 7, url: 'https://github.com/org/my-app/pull/7' },
    });
    expect(all[1]?.reasons).toEqual([{ field: 'change.patch', message: 'does not render' }]);
    expect((await listJson('--state', 'rejected')).map((p) => p.id)).toEqual([rejected.id]);
    expect((await listJson('--app', 'my-app', '--limit', '1')).map((p) => p.id)).toEqual([open.id]);

    const table = await dag(['proposals', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^ID +STATE +APP +ENVIRONMENT +CHANGE +TOKEN +AGENT +PR +CREATED\n/,
    );
    expect(table.stdout).toContain('rejected (422)');
    expect(table.stdout).toContain('https://github.com/org/my-app/pull/7');
  });

  it('refuses an unknown app or state', async () => {
    const app = await dag(['proposals', 'list', '--app', 'nope']);
    expect(app.code).not.toBe(0);
    expect(app.stderr).toContain('unknown app: nope');
    const state = await dag(['proposals', 'list', '--state', 'done']);
    expect(state.code).not.toBe(0);
    expect(state.stderr).toContain('state must be one of validating, rejected, open');
  });
});
