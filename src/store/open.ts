import type { Settings } from '../settings.ts';
import type { Db } from './db.ts';
import { openEmbedded } from './embedded.ts';
import { openPostgres } from './postgres.ts';

export function openDatabase(database: Settings['database']): Promise<Db> {
  return database.kind === 'postgres'
    ? openPostgres(database.url)
    : openEmbedded(database.dataDir);
}
