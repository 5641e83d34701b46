import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { freshPostgresDatabase, type FreshDatabase } from './databases.ts';

async function query<R extends pg.QueryResultRow>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('freshPostgresDatabase', () => {
  const created: FreshDatabase[] = [];
  const fresh = async (): Promise<FreshDatabase> => {
    const db = await freshPostgresDatabase();
    created.push(db);
    return db;
  };
  afterEach(async () => {
    await Promise.all(created.splice(0).map((db) => db.drop()));
  });

  it('is a reachable, real PostgreSQL database', async () => {
    const db = await fresh();
    const [row] = await query<{ version: string; db: string }>(
      db.url,
      'select version(), current_database() as db',
    );
    expect(row?.version).toMatch(/^PostgreSQL \d+/);
    expect(db.url).toContain(`/${row?.db}`);
    expect(row?.db).toMatch(/^dag_test_[0-9a-f]+$/);
  });

  it('is isolated from another fresh database', async () => {
    const [a, b] = await Promise.all([fresh(), fresh()]);
    expect(a.url).not.toBe(b.url);
    await query(a.url, 'create table marker (id int primary key)');
    await query(a.url, 'insert into marker values (1)');

    const inA = await query<{ n: string }>(a.url, 'select count(*) as n from marker');
    expect(inA[0]?.n).toBe('1');
    const inB = await query<{ t: string | null }>(b.url, "select to_regclass('marker') as t");
    expect(inB[0]?.t).toBeNull();
  });

  it('is gone after drop(), even with a connection still open', async () => {
    const db = await fresh();
    const name = new URL(db.url).pathname.slice(1);
    const lingering = new pg.Client({ connectionString: db.url });
    lingering.on('error', () => {}); // the forced drop terminates this session
    await lingering.connect();
    try {
      await db.drop();
      const left = await query<{ n: string }>(
        db.url.replace(`/${name}`, '/postgres'),
        `select count(*) as n from pg_database where datname = '${name}'`,
      );
      expect(left[0]?.n).toBe('0');
      await expect(query(db.url, 'select 1')).rejects.toThrow(/does not exist/);
    } finally {
      await lingering.end().catch(() => {});
    }
  });
});
