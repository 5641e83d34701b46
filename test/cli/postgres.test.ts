// The seed flow through `dag` against a real Postgres server (DATABASE_URL set).

import { rmSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { dagWith, randomKey, tempDir, writeCaFile, type Dag } from './run-dag.ts';
import { runSeedFlow, seedTokens } from './seed-flow.ts';

const tokens = seedTokens();
let database: FreshDatabase;
let dir: string;
let dag: Dag;

beforeAll(async () => {
  database = await freshPostgresDatabase();
  dir = tempDir();
  dag = dagWith({ DATABASE_URL: database.url, DAG_ENCRYPTION_KEY: randomKey() });
});

afterAll(async () => {
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

async function query<R>(sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as R[];
  } finally {
    await client.end();
  }
}

describe('dag on Postgres', () => {
  it('migrates, runs the seed flow and stores tokens sealed', async () => {
    expect((await dag(['envs', 'list'])).code).toBe(3);
    expect(await dag(['db', 'migrate'])).toMatchObject({ code: 0, stderr: '' });

    await runSeedFlow(dag, writeCaFile(dir), tokens);

    const [row] = await query<{ access_token: string; service_account_token: string }>(
      'SELECT i.access_token, c.service_account_token FROM iacs i, clusters c',
    );
    expect(row?.access_token).toMatch(/^dag:v1:/);
    expect(row?.service_account_token).toMatch(/^dag:v1:/);
    expect(dag.transcript()).not.toContain(tokens.iac);
    expect(dag.transcript()).not.toContain(tokens.cluster);
  });

  it('lists jobs and passes doctor', async () => {
    expect(await dag(['jobs', 'list', '--json'])).toMatchObject({ code: 0, stdout: '[]\n' });
    const doctor = await dag(['doctor']);
    expect(doctor.code).toBe(0);
    const url = new URL(database.url);
    expect(doctor.stdout).toContain(
      `reachable: postgres://${url.username}@${url.host}${url.pathname}`,
    );
    if (url.password) expect(doctor.stdout).not.toContain(url.password);
  });
});
