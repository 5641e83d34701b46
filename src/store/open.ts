import type { Logger } from '../log.ts';
import type { Settings } from '../settings.ts';
import type { Db } from './db.ts';

/**
 * Opens the configured database: Postgres at DATABASE_URL, or the embedded database, which
 * runs in a process of its own (src/store/embedded.ts). `attach` lets the CLI use the
 * embedded database of a DAG that runs on the same folder.
 */
export async function openDatabase(
  database: Settings['database'],
  options: { log?: Logger; attach?: boolean } = {},
): Promise<Db> {
  if (database.kind === 'postgres') {
    const { openPostgres } = await import('./postgres.ts');
    return openPostgres(database.url);
  }
  const { openEmbedded } = await import('./embedded.ts');
  return openEmbedded(database.dataDir, options);
}
