import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { ConfigError } from '../errors.ts';
import type { Db, Queryable, QueryResult } from './db.ts';

function wrap(target: PGlite | Transaction): Queryable {
  return {
    async query<R>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
      if (values && values.length > 0) {
        const result = await target.query<R>(text, values);
        return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
      }
      const results = await target.exec(text);
      const last = results.at(-1);
      return {
        rows: (last?.rows ?? []) as R[],
        rowCount: last?.affectedRows ?? last?.rows.length ?? 0,
      };
    },
  };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * PGlite is one Postgres backend inside this process: two processes opening the same folder
 * would corrupt it. A pid lock file beside the data makes the second one fail with a clear error.
 */
function acquireLock(dataDir: string): () => void {
  const lockFile = `${dataDir}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      return () => rmSync(lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
      if (Number.isInteger(owner) && owner !== process.pid && processAlive(owner)) {
        throw new ConfigError(
          `the embedded database at ${dataDir} is in use by another DAG process (pid ${owner}); stop it first, or set DATABASE_URL to share a Postgres server`,
        );
      }
      rmSync(lockFile, { force: true }); // stale lock from a process that is gone
    }
  }
  throw new ConfigError(`cannot lock the embedded database at ${dataDir}`);
}

/** Opens (creating if needed) the embedded database; `memory://` keeps it in memory. */
export async function openEmbedded(dataDir: string): Promise<Db> {
  const inMemory = dataDir === 'memory://';
  let release = () => undefined as void;
  if (!inMemory) {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    release = acquireLock(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = await PGlite.create(inMemory ? undefined : dataDir);
  } catch (error) {
    release();
    throw new ConfigError(`cannot open the embedded database at ${dataDir}`, { cause: error });
  }
  return embeddedDb(pglite, inMemory ? 'embedded (in memory)' : `embedded (${dataDir})`, release);
}

/** A Db over an open PGlite instance; `release` runs after it closes. */
export function embeddedDb(
  pglite: PGlite,
  location: string,
  release: () => void = () => undefined,
): Db {
  const root = wrap(pglite);
  return {
    kind: 'embedded',
    location,
    query: root.query,
    transaction: (fn) => pglite.transaction((tx) => fn(wrap(tx))),
    withSession: (fn) => fn(root),
    queueBackend: () => ({ kind: 'embedded', pglite }),
    async close() {
      try {
        await pglite.close();
      } finally {
        release();
      }
    },
  };
}
