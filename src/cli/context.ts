import { existsSync } from 'node:fs';
import { ConfigError, errorMessage } from '../errors.ts';
import { readSettings, type Settings } from '../settings.ts';
import { SqlConfigStore } from '../store/config-store.ts';
import type { Keyring } from '../store/crypto.ts';
import type { Db } from '../store/db.ts';
import { loadKeyring } from '../store/keys.ts';
import { pendingMigrations } from '../store/migrate.ts';
import { openDatabase } from '../store/open.ts';
import { DatabaseUnreachableError } from './database-unreachable.ts';
import type { Cli } from './io.ts';

export type Context = { settings: Settings; db: Db; keyring: Keyring; store: SqlConfigStore };

/** Settings from the injected environment; their secrets are masked from then on. */
export function cliSettings(cli: Cli): Settings {
  const settings = readSettings(cli.env);
  if (settings.github) {
    cli.masker.add(settings.github.privateKey);
    cli.masker.add(settings.github.webhookSecret);
  }
  if (settings.gitlab) cli.masker.add(settings.gitlab.webhookSecret);
  return settings;
}

/** The configured database; the embedded one of a DAG running on the same folder, through its socket. */
export async function openCliDatabase(database: Settings['database']): Promise<Db> {
  try {
    return await openDatabase(database, { attach: true });
  } catch (error) {
    throw new DatabaseUnreachableError(errorMessage(error), { cause: error });
  }
}

/**
 * Runs one CLI command against the configured database: settings, keyring, database and
 * store, in that order, so that configuration errors come before any connection. Refuses a
 * database with pending migrations unless `migrated: false`. Always closes the database.
 */
export async function withContext<T>(
  cli: Cli,
  fn: (context: Context) => Promise<T>,
  options: { migrated?: boolean } = {},
): Promise<T> {
  const settings = cliSettings(cli);
  const { encryption, database } = settings;
  const generatesKey =
    !encryption.key && database.kind === 'embedded' && !existsSync(encryption.keyFile);
  const keyring = loadKeyring(encryption, database);
  if (generatesKey) {
    cli.note(
      `dag: generated an encryption key for the embedded database in ${encryption.keyFile} (set DAG_ENCRYPTION_KEY in production)`,
    );
  }
  const db = await openCliDatabase(database);
  try {
    if (options.migrated ?? true) {
      const pending = await pendingMigrations(db);
      if (pending.length > 0) {
        throw new ConfigError('database not migrated: run `dag db migrate`');
      }
    }
    return await fn({ settings, db, keyring, store: new SqlConfigStore(db, keyring, cli.masker) });
  } finally {
    await db.close();
  }
}
