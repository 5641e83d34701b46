import type { Settings } from '../settings.ts';
import type { Db } from './db.ts';

/** Opens the configured database; each mode loads only its own driver (PGlite is large). */
export async function openDatabase(database: Settings['database']): Promise<Db> {
  if (database.kind === 'postgres') {
    const { openPostgres } = await import('./postgres.ts');
    return openPostgres(database.url);
  }
  const { openEmbedded } = await import('./embedded.ts');
  return openEmbedded(database.dataDir);
}
