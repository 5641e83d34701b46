import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type { Logger } from '../log.ts';
import type { Db, Queryable } from './db.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const MIGRATIONS_TABLE = 'dag_migrations';

/** Migration names shipped with this build, in order. */
export function shippedMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.replace(/\.sql$/, ''))
    .sort();
}

/** Applies every pending migration; replicas starting together wait for each other. */
export async function migrate(db: Db, log?: Logger): Promise<string[]> {
  return db.withSession(async (session) => {
    const applied = await runner({
      // node-pg-migrate needs only query(text, values) of a client.
      dbClient: session as unknown as Parameters<typeof runner>[0] extends { dbClient: infer C }
        ? C
        : never,
      dir: MIGRATIONS_DIR,
      migrationsTable: MIGRATIONS_TABLE,
      direction: 'up',
      count: Infinity,
      checkOrder: true,
      advisoryLockMode: 'wait',
      log: (message: string) => log?.debug({ migration: true }, message),
    });
    const names = applied.map((m) => m.name);
    if (names.length > 0) log?.info({ migrations: names }, 'database migrated');
    return names;
  });
}

/** Shipped migrations not yet applied to this database (all of them on an empty one). */
export async function pendingMigrations(db: Queryable): Promise<string[]> {
  const table = await db.query<{ exists: boolean }>(
    `SELECT to_regclass('${MIGRATIONS_TABLE}') IS NOT NULL AS exists`,
  );
  const done = new Set<string>();
  if (table.rows[0]?.exists) {
    const rows = await db.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`);
    for (const row of rows.rows) done.add(row.name);
  }
  return shippedMigrations().filter((name) => !done.has(name));
}
