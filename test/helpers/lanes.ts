import { randomBytes } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import type { Db } from '../../src/store/db.ts';
import { embeddedDb } from '../../src/store/embedded.ts';
import { migrate } from '../../src/store/migrate.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { freshPostgresDatabase } from './databases.ts';

/** The two database modes every store test runs in: embedded PGlite and real Postgres. */
export const LANES = ['embedded', 'postgres'] as const;
export type Lane = (typeof LANES)[number];

export type LaneDb = { db: Db; url: string | undefined; drop(): Promise<void> };

// Creating a PGlite database costs seconds; cloning a migrated one costs a fraction of that.
let template: Promise<PGlite> | undefined;
async function migratedTemplate(): Promise<PGlite> {
  template ??= (async () => {
    const pglite = await PGlite.create();
    await migrate(embeddedDb(pglite, 'template'));
    return pglite;
  })();
  return template;
}

/** A fresh database of the lane's kind, with DAG's migrations applied. */
export async function openLane(lane: Lane): Promise<LaneDb> {
  if (lane === 'embedded') {
    const clone = (await (await migratedTemplate()).clone()) as PGlite;
    const db = embeddedDb(clone, 'embedded (test clone)');
    return { db, url: undefined, drop: () => db.close() };
  }
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
