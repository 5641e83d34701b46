import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.ts';

/**
 * Secrets at rest: AES-256-GCM, stored as `dag:v1:<key id>:<iv>:<tag>:<ciphertext>` (base64url).
 * The key id names the key that sealed a value, so keys can be rotated: the current key seals,
 * any configured old key still opens, and resealing moves values to the current key.
 */
const PREFIX = 'dag:v1:';
const SEALED = /^dag:v1:([0-9a-f]{8}):([A-Za-z0-9_-]+):([A-Za-z0-9_-]+):([A-Za-z0-9_-]*)$/;

export function keyId(key: Buffer): string {
  return createHash('sha256').update('dag-key-id:').update(key).digest('hex').slice(0, 8);
}

export function isSealed(value: string): boolean {
  return value.startsWith(PREFIX);
}

export class Keyring {
  readonly current: Buffer;
  readonly currentId: string;
  readonly #keys = new Map<string, Buffer>();

  constructor(current: Buffer, old: Buffer[] = []) {
    if (current.length !== 32) throw new ConfigError('the encryption key must be 32 bytes');
    this.current = current;
    this.currentId = keyId(current);
    for (const key of [...old, current]) this.#keys.set(keyId(key), key);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.current, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return `${PREFIX}${this.currentId}:${iv.toString('base64url')}:${tag.toString('base64url')}:${ciphertext.toString('base64url')}`;
  }

  /** Opens a sealed value. Errors name the key id, never the value. */
  open(sealed: string): string {
    const match = SEALED.exec(sealed);
    if (!match) throw new ConfigError('a stored secret is malformed (not a DAG sealed value)');
    const [, id, iv, tag, ciphertext] = match as unknown as [
      string,
      string,
      string,
      string,
      string,
    ];
    const key = this.#keys.get(id);
    if (!key) {
      throw new ConfigError(
        `a stored secret was sealed with key ${id}, which is not configured (set it in DAG_ENCRYPTION_OLD_KEYS)`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([
        decipher.update(Buffer.from(ciphertext, 'base64url')),
        decipher.final(),
      ]).toString('utf8');
    } catch {
      throw new ConfigError(
        `a stored secret sealed with key ${id} failed authentication (tampered or wrong key)`,
      );
    }
  }

  /** The key id a sealed value names, or undefined for plaintext. */
  static sealedWith(value: string): string | undefined {
    return SEALED.exec(value)?.[1];
  }
}
