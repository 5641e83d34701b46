import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseEncryptionKey, type Settings } from '../settings.ts';
import { Keyring } from './crypto.ts';
import { embeddedLayout } from './embedded-layout.ts';
import type { SecretsReport } from './types.ts';

/**
 * The keyring from DAG_ENCRYPTION_KEY (and DAG_ENCRYPTION_OLD_KEYS). With the embedded
 * database and no key set, a key is generated once into the key file (mode 0600), in
 * DAG_DATA_DIR beside the data, so that `npm start` works from a fresh clone and the key
 * travels with the data; production sets the key explicitly.
 */
export function loadKeyring(
  encryption: Settings['encryption'],
  database: Settings['database'],
  log?: Logger,
): Keyring {
  if (encryption.key) return new Keyring(encryption.key, encryption.oldKeys);
  if (database.kind !== 'embedded') {
    throw new ConfigError('DAG_ENCRYPTION_KEY is required with DATABASE_URL');
  }
  const file = encryption.keyFile;
  const read = () =>
    new Keyring(parseEncryptionKey(readFileSync(file, 'utf8'), file), encryption.oldKeys);
  if (existsSync(file)) return read();
  const onDisk = database.dataDir !== 'memory://';
  const layout = onDisk ? embeddedLayout(database.dataDir) : undefined;
  // An older DAG kept the key one level above a DAG_DATA_DIR that was PGlite's folder itself,
  // outside the volume mounted there: copy it in, beside the data.
  if (layout?.legacyKeyFile && file === layout.keyFile && existsSync(layout.legacyKeyFile)) {
    copyFileSync(layout.legacyKeyFile, file, constants.COPYFILE_EXCL);
    chmodSync(file, 0o600);
    log?.warn(
      { keyFile: file, from: layout.legacyKeyFile },
      'copied the generated encryption key into DAG_DATA_DIR, beside the embedded database',
    );
    return read();
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  log?.warn(
    { keyFile: file },
    'DAG_ENCRYPTION_KEY is not set: generated a key for the embedded database; set DAG_ENCRYPTION_KEY in production',
  );
  if (layout && existsSync(path.join(layout.pgdata, 'PG_VERSION'))) {
    log?.warn(
      { keyFile: file },
      'the embedded database exists but its key file did not: secrets it holds cannot be opened with the new key',
    );
  }
  return new Keyring(key, encryption.oldKeys);
}

const list = (ids: number[]) =>
  ids.length === 1
    ? `row ${ids[0]}`
    : `rows ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}`;

/**
 * Refuses to start on a database holding secrets that no configured key opens: DAG could not
 * deploy with them, and would otherwise find out one job at a time. The message names where
 * they are and which key sealed them, never a value.
 */
export async function assertSecretsReadable(
  store: { secretsReport(): Promise<SecretsReport> },
  keyring: Keyring,
  settings: Pick<Settings, 'encryption' | 'database'>,
): Promise<void> {
  const report = await store.secretsReport();
  if (report.unknownKey === 0) return;
  const places = new Map<string, number[]>();
  for (const { table, column, id } of report.unreadable) {
    const place = `${table}.${column}`;
    places.set(place, [...(places.get(place) ?? []), id]);
  }
  const where = [...places].map(([place, ids]) => `${place} ${list(ids)}`).join('; ');
  const keys = [...new Set(report.unreadable.map((u) => u.keyId ?? 'unknown'))].join(', ');
  const keyFile =
    settings.database.kind === 'embedded' && !settings.encryption.key
      ? ` (or put that key's file back at ${settings.encryption.keyFile})`
      : '';
  throw new ConfigError(
    `${report.unknownKey} stored secret(s) cannot be opened with the configured encryption key ${keyring.currentId}: ${where}, sealed with key ${keys}. ` +
      `Set the key that sealed them in DAG_ENCRYPTION_KEY or DAG_ENCRYPTION_OLD_KEYS${keyFile}; ` +
      `if it is lost, store those secrets again as plaintext with SQL (e.g. UPDATE iacs SET access_token = '<token>' WHERE id = <id>), and DAG seals them at start`,
  );
}
