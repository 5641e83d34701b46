// `dag db sql` and `dag db url`: the seed's SQL, verbatim, on the embedded database whether
// DAG runs or not, and on Postgres; `psql` itself on the URL `dag db url` prints.

import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { dagWith, randomKey, runningDatabase, tempDir, type Dag } from './run-dag.ts';

const run = promisify(execFile);
const SEED = path.resolve(import.meta.dirname, '../fixtures/seeds/multiple-environments.sql');
const SEED_RESULT = 'INSERT 0 1\n'.repeat(5);

async function environmentNames(dag: Dag): Promise<string[]> {
  const result = await dag(['envs', 'list', '--json']);
  expect(result.code, result.stderr).toBe(0);
  return (JSON.parse(result.stdout) as { name: string }[]).map((e) => e.name);
}

/** `psql` as an operator runs it, on nothing but the connection string. */
async function psql(url: string, sql: string): Promise<string> {
  const { stdout } = await run('psql', [url, '-X', '-A', '-t', '-c', sql], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return stdout;
}

describe('dag db sql on the embedded database, DAG not running', () => {
  let dir: string;
  let dag: Dag;

  beforeAll(async () => {
    dir = tempDir('dag-sql-');
    await (await runningDatabase(dir)).close(); // a migrated database, then nobody on it
    dag = dagWith({ DAG_DATA_DIR: dir, DAG_ENCRYPTION_KEY: randomKey() });
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has no URL to give while nothing serves the database', async () => {
    expect(await dag(['db', 'url'])).toEqual({
      code: 4,
      stdout: '',
      stderr: `dag: DAG is not running on ${dir}: nothing serves its database now (dag db sql opens it by itself)\n`,
    });
  });

  it("runs the seed's SQL verbatim from a file; the environments are then listed", async () => {
    const seeded = await dag(['db', 'sql', '-f', SEED]);
    expect(seeded).toEqual({ code: 0, stdout: SEED_RESULT, stderr: '' });
    expect(await environmentNames(dag)).toEqual(['staging', 'production']);
  }, 60_000);

  it('prints rows as psql does, or as JSON; reads stdin', async () => {
    const table = await dag([
      ...['db', 'sql', '-c'],
      'SELECT id, name, iac_path FROM apps_environments ORDER BY id; SELECT 2 + 2 AS four',
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toBe(
      [
        ' id |    name    |          iac_path',
        '----+------------+----------------------------',
        '  1 | staging    | clusters/staging/my-app',
        '  2 | production | clusters/production/my-app',
        '(2 rows)',
        ' four',
        '------',
        '    4',
        '(1 row)',
        '',
      ].join('\n'),
    );
    const json = await dag(['db', 'sql', '--json'], {
      stdin: 'SELECT id, name, iac_branch, id > 1 AS later FROM apps_environments ORDER BY id',
    });
    expect(JSON.parse(json.stdout)).toEqual([
      { id: 1, name: 'staging', iac_branch: null, later: false },
      { id: 2, name: 'production', iac_branch: null, later: true },
    ]);
  }, 60_000);

  it('says what is wrong with the SQL, with exit code 2, and changes nothing', async () => {
    const failed = await dag([
      ...['db', 'sql', '-c'],
      'DELETE FROM apps_environments; SELECT * FROM nope',
    ]);
    expect(failed).toEqual({
      code: 2,
      stdout: '',
      stderr: 'dag: ERROR: relation "nope" does not exist (at character 46) (SQLSTATE 42P01)\n',
    });
    expect(await environmentNames(dag)).toEqual(['staging', 'production']);
    expect(await dag(['db', 'sql', '-c', 'SELECT 1', '-f', SEED])).toMatchObject({
      code: 2,
      stderr: 'dag: give the SQL with -c or with -f, not both\n',
    });
  }, 60_000);
});

describe('dag db sql and psql while DAG runs on the embedded database', () => {
  let dir: string;
  let service: TestService;
  let dag: Dag;

  beforeAll(async () => {
    dir = tempDir('dag-sql-running-');
    await (await runningDatabase(dir)).close();
    service = await startTestService({ DAG_DATA_DIR: dir });
    dag = dagWith({ DAG_DATA_DIR: dir, DAG_ENCRYPTION_KEY: service.secrets.encryptionKey });
  }, 120_000);
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints the running database's URL, which psql connects to", async () => {
    const url = await dag(['db', 'url']);
    expect(url).toEqual({
      code: 0,
      stdout: `postgresql://postgres@/postgres?host=${dir}/socket\n`,
      stderr: '',
    });
    expect(await psql(url.stdout.trim(), 'SELECT count(*) FROM apps')).toBe('0\n');
    expect(await psql(`host=${dir}/socket dbname=postgres`, 'SELECT 1')).toBe('1\n');
  });

  it("runs the seed's SQL verbatim through DAG's database; DAG and psql see it", async () => {
    expect(await dag(['db', 'sql', '-f', SEED])).toEqual({
      code: 0,
      stdout: SEED_RESULT,
      stderr: '',
    });
    expect(await environmentNames(dag)).toEqual(['staging', 'production']);
    const url = (await dag(['db', 'url'])).stdout.trim();
    expect(await psql(url, 'SELECT name FROM apps_environments ORDER BY id')).toBe(
      'staging\nproduction\n',
    );
    // DAG seals the plaintext tokens before it uses them; the operator's SQL is untouched.
    expect(readFileSync(SEED, 'utf8')).toContain("'your-access-token'");
  });

  it('refuses a second DAG on the same folder, naming the one that runs', async () => {
    await expect(startTestService({ DAG_DATA_DIR: dir })).rejects.toThrow(
      new RegExp(
        `^the embedded database at ${dir} is in use by another DAG process \\(pid \\d+\\); stop it first, or set DATABASE_URL to share a Postgres server$`,
      ),
    );
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
  });
});

describe('dag db sql on Postgres', () => {
  let database: FreshDatabase;
  let dag: Dag;

  beforeAll(async () => {
    database = await freshPostgresDatabase();
    dag = dagWith({ DATABASE_URL: database.url, DAG_ENCRYPTION_KEY: randomKey() });
    expect((await dag(['db', 'migrate'])).code).toBe(0);
  });
  afterAll(() => database?.drop());

  it("runs the seed's SQL verbatim; the URL is printed without its password", async () => {
    expect(await dag(['db', 'sql', '-f', SEED])).toEqual({
      code: 0,
      stdout: SEED_RESULT,
      stderr: '',
    });
    expect(await environmentNames(dag)).toEqual(['staging', 'production']);
    const url = await dag(['db', 'url']);
    expect(url.code).toBe(0);
    const printed = new URL(url.stdout.trim());
    expect(printed.password).toBe('');
    expect(printed.pathname).toBe(new URL(database.url).pathname);
  });
});
