import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Db } from '../../src/store/db.ts';
import { openEmbedded } from '../../src/store/embedded.ts';
import { SOCKET_NAME, socketUrl } from '../../src/store/embedded-layout.ts';
import { MIGRATIONS_DIR, migrate, shippedMigrations } from '../../src/store/migrate.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { serveWire } from '../../src/store/wire-server.ts';
import { freshPostgresDatabase } from './databases.ts';

/**
 * The two database modes every store test runs in: the embedded database (PGlite in its own
 * process, reached over its socket, as DAG runs it) and real Postgres.
 */
export const LANES = ['embedded', 'postgres'] as const;
export type Lane = (typeof LANES)[number];

export type LaneDb = { db: Db; url: string; drop(): Promise<void> };

/**
 * A migrated embedded database as a PGlite dump, which a new embedded database loads in a
 * fraction of the seconds initdb and the migrations take. Kept in the temp folder under a
 * name that changes with the migrations and PGlite's version, so runs share it.
 */
let template: Promise<string> | undefined;
export function migratedTemplate(): Promise<string> {
  template ??= (async () => {
    const pgliteJson = new URL(
      '../../node_modules/@electric-sql/pglite/package.json',
      import.meta.url,
    );
    const hash = createHash('sha256').update(readFileSync(pgliteJson));
    for (const name of shippedMigrations()) {
      hash.update(name).update(readFileSync(path.join(MIGRATIONS_DIR, `${name}.sql`)));
    }
    const file = path.join(os.tmpdir(), `dag-test-pglite-${hash.digest('hex').slice(0, 16)}.tar`);
    if (existsSync(file)) return file;
    // Built here, in this process, with the same wire server the database process runs.
    const pglite = await PGlite.create();
    const socketDir = mkdtempSync(path.join(os.tmpdir(), 'dag-template-'));
    try {
      const wire = await serveWire(pglite, path.join(socketDir, SOCKET_NAME));
      const db = await openPostgres(socketUrl(socketDir), { kind: 'embedded' });
      await migrate(db);
      await db.close();
      await wire.close();
      const dump = Buffer.from(await (await pglite.dumpDataDir('none')).arrayBuffer());
      const partial = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
      writeFileSync(partial, dump);
      renameSync(partial, file); // whole or absent, whichever worker wins
    } finally {
      await pglite.close();
      rmSync(socketDir, { recursive: true, force: true });
    }
    return file;
  })();
  return template;
}

/**
 * One embedded database process per test file (vitest runs each file in a process of its
 * own), started from the template: starting one costs seconds (PGlite compiles its
 * WebAssembly in every new process), emptying it a fraction of that.
 */
let embedded: Promise<Db> | undefined;
let embeddedUsed = false;

async function embeddedLane(): Promise<LaneDb> {
  embedded ??= migratedTemplate().then((file) => openEmbedded('memory://', { template: file }));
  const db = await embedded;
  if (embeddedUsed) {
    // As fresh as a new database: DAG's and pg-boss's schemas go, the migrations run again.
    await db.query(
      'DROP SCHEMA IF EXISTS pgboss CASCADE; DROP SCHEMA public CASCADE; CREATE SCHEMA public',
    );
    await migrate(db);
  }
  embeddedUsed = true;
  // The process outlives each test: closing is for the end of the file (or its exit).
  return { db: { ...db, close: async () => undefined }, url: db.url, drop: async () => undefined };
}

/** A fresh database of the lane's kind, with DAG's migrations applied. */
export async function openLane(lane: Lane): Promise<LaneDb> {
  if (lane === 'embedded') return embeddedLane();
  const fresh = await freshPostgresDatabase();
  const db = await openPostgres(fresh.url);
  await migrate(db);
  return {
    db,
    url: fresh.url,
    drop: async () => {
      await db.close();
      await fresh.drop();
    },
  };
}

export const randomKey = (): Buffer => randomBytes(32);
