import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * API tokens: what they are and what they grant, with no storage or HTTP in sight.
 *
 * A secret is `dag_`, 43 random base62 characters (256 bits) and a 6-character base62 CRC-32 of
 * them: recognisable by secret scanners and by DAG's own masker (credential-patterns.ts), and
 * checkable without a database round trip, so a mistyped or truncated token is refused at once.
 */

export const TOKEN_PERMISSIONS = ['read', 'propose'] as const;
/** `read`: look; `propose`: also send fix proposals. propose implies read. */
export type TokenPermission = (typeof TOKEN_PERMISSIONS)[number];

/** Whether a token with `granted` may do what needs `needed`. */
export function permits(granted: TokenPermission, needed: TokenPermission): boolean {
  return granted === 'propose' || needed === 'read';
}

/** What a token reaches: every app, or these apps (all their environments) and environments. */
export type TokenScope =
  { all: true } | { all: false; appIds: readonly number[]; environmentIds: readonly number[] };

/** Who sent a request: an authenticated, unexpired, unrevoked token. */
export type ApiPrincipal = {
  /** Stable: what audit rows refer to. */
  tokenId: number;
  name: string;
  /** `dag_` and the first 8 characters of the secret, safe to log and show. */
  prefix: string;
  permission: TokenPermission;
  scope: TokenScope;
  expiresAt: Date;
};

export const TOKEN_PREFIX = 'dag_';
const RANDOM_LENGTH = 43; // 43 * log2(62) > 256 bits
const CHECKSUM_LENGTH = 6; // 62^6 > 2^32
export const TOKEN_LENGTH = TOKEN_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = new RegExp(`^${TOKEN_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

function checksum(random: string): string {
  let value = crc32(random);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = (BASE62[value % 62] ?? '0') + out;
    value = Math.floor(value / 62);
  }
  return out;
}

/** A new secret: uniform base62 characters (rejection sampling, no modulo bias) and a checksum. */
export function generateSecret(random: (size: number) => Buffer = randomBytes): string {
  let body = '';
  while (body.length < RANDOM_LENGTH) {
    for (const byte of random(64)) {
      // 248 = 4 * 62: bytes at or above it would favour the first characters.
      if (byte < 248 && body.length < RANDOM_LENGTH) body += BASE62[byte % 62];
    }
  }
  return `${TOKEN_PREFIX}${body}${checksum(body)}`;
}

/** Whether `value` has a DAG token's shape and a valid checksum (says nothing of its validity). */
export function isWellFormedSecret(value: string): boolean {
  if (!SHAPE.test(value)) return false;
  const body = value.slice(TOKEN_PREFIX.length, TOKEN_PREFIX.length + RANDOM_LENGTH);
  return value.endsWith(checksum(body));
}

/** The non-secret part people and logs use to tell tokens apart: `dag_` and 8 characters. */
export function secretPrefix(secret: string): string {
  return secret.slice(0, TOKEN_PREFIX.length + 8);
}

/** What is stored instead of the secret. */
export function secretHash(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Tokens live at most this long: a leaked one stops working within a year whatever happens. */
export const MAX_TOKEN_LIFETIME_DAYS = 365;
export const DEFAULT_TOKEN_LIFETIME_DAYS = 30;

/**
 * `30d`, `12h`, `2w` as milliseconds: whole hours, days or weeks, from one hour to
 * MAX_TOKEN_LIFETIME_DAYS. A message for people when it is not.
 */
export function parseLifetime(value: string): { ms: number } | { error: string } {
  const match = /^([1-9]\d{0,5})([hdw])$/.exec(value.trim());
  const hour = 3_600_000;
  const unit = { h: hour, d: 24 * hour, w: 7 * 24 * hour } as const;
  const max = MAX_TOKEN_LIFETIME_DAYS * 24 * hour;
  if (!match) {
    return { error: `expiry must be a number of hours, days or weeks, e.g. 12h, 30d, 8w` };
  }
  const ms = Number(match[1]) * unit[match[2] as keyof typeof unit];
  if (ms > max) return { error: `tokens expire within ${MAX_TOKEN_LIFETIME_DAYS} days at most` };
  return { ms };
}
