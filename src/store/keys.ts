import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { parseEncryptionKey, type Settings } from '../settings.ts';
import { Keyring } from './crypto.ts';

/**
 * The keyring from DAG_ENCRYPTION_KEY (and DAG_ENCRYPTION_OLD_KEYS). With the embedded
 * database and no key set, a key is generated once into the key file (mode 0600) so that
 * `npm start` works from a fresh clone; production sets the key explicitly.
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
  if (existsSync(file)) {
    return new Keyring(parseEncryptionKey(readFileSync(file, 'utf8'), file), encryption.oldKeys);
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  log?.warn(
    { keyFile: file },
    'DAG_ENCRYPTION_KEY is not set: generated a key for the embedded database; set DAG_ENCRYPTION_KEY in production',
  );
  return new Keyring(key, encryption.oldKeys);
}
