import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  generateSecret,
  isWellFormedSecret,
  parseLifetime,
  permits,
  secretHash,
  secretPrefix,
  TOKEN_LENGTH,
} from '../../src/api/token.ts';
import { looksLikeCredential } from '../../src/diff/credential-patterns.ts';
import { maskText } from '../../src/diff/mask-text.ts';
import { maskLogLine } from '../../src/log.ts';

describe('API token secrets', () => {
  it('are dag_, 43 base62 characters and a checksum, different each time', () => {
    const secrets = new Set(Array.from({ length: 50 }, () => generateSecret()));
    expect(secrets.size).toBe(50);
    for (const secret of secrets) {
      expect(secret).toMatch(/^dag_[0-9A-Za-z]{49}$/);
      expect(secret).toHaveLength(TOKEN_LENGTH);
      expect(isWellFormedSecret(secret)).toBe(true);
    }
  });

  it('draws characters without bias: bytes of 248 and over are skipped, not folded', () => {
    // A source that gives 248..255 first and then 0, 62, 124, 186 (all "0"), then 61 ("z").
    let call = 0;
    const source = (size: number) => {
      call++;
      const bytes = Buffer.alloc(size, 61);
      if (call === 1) bytes.set([248, 249, 255, 0, 62, 124, 186]);
      return bytes;
    };
    const secret = generateSecret(source);
    expect(secret.slice(4, 8)).toBe('0000');
    expect(secret.slice(8, 47)).toBe('z'.repeat(39));
  });

  it.each([
    ['another token shape', 'ghp_1234567890abcdefghijklmnopqrstuvwxyzAB'],
    ['too short', 'dag_abc'],
    ['non-base62', `dag_${'a'.repeat(48)}-`],
    ['the wrong prefix case', `DAG_${'a'.repeat(49)}`],
    ['an empty string', ''],
  ])('refuses %s as malformed', (_label, value) => {
    expect(isWellFormedSecret(value)).toBe(false);
  });

  it('catches a mistyped character by its checksum', () => {
    const secret = generateSecret();
    const at = 10;
    const typo = `${secret.slice(0, at)}${secret[at] === 'a' ? 'b' : 'a'}${secret.slice(at + 1)}`;
    expect(isWellFormedSecret(typo)).toBe(false);
  });

  it('has a short prefix and a SHA-256 that do not contain it', () => {
    const secret = generateSecret();
    expect(secretPrefix(secret)).toMatch(/^dag_[0-9A-Za-z]{8}$/);
    expect(secret.startsWith(secretPrefix(secret))).toBe(true);
    expect(secretHash(secret)).toHaveLength(32);
    expect(secretHash(secret).equals(createHash('sha256').update(secret).digest())).toBe(true);
    expect(secretHash(secret).equals(secretHash(generateSecret()))).toBe(false);
  });

  it('is masked by the masker DAG uses everywhere, whole or cut short', () => {
    const secret = generateSecret();
    expect(looksLikeCredential(secret)).toBe(true);
    expect(maskText(`curl -H 'Authorization: token ${secret}' ...`)).not.toContain(
      secret.slice(4, 30),
    );
    expect(maskText(`got ${secret.slice(0, 40)} from the client`)).not.toContain(
      secret.slice(4, 40),
    );
    const line = `${JSON.stringify({ level: 30, msg: `token ${secret} refused` })}\n`;
    expect(maskLogLine(line)).not.toContain(secret.slice(4));
  });
});

describe('permissions', () => {
  it.each([
    ['read', 'read', true],
    ['read', 'propose', false],
    ['propose', 'read', true],
    ['propose', 'propose', true],
  ] as const)('%s permits %s: %s', (granted, needed, expected) => {
    expect(permits(granted, needed)).toBe(expected);
  });
});

describe('parseLifetime', () => {
  const day = 86_400_000;
  it.each([
    ['30d', 30 * day],
    ['12h', day / 2],
    ['2w', 14 * day],
    ['365d', 365 * day],
    [' 1d ', day],
  ])('%j', (value, ms) => {
    expect(parseLifetime(value)).toEqual({ ms });
  });

  it.each(['366d', '53w', '8761h'])('refuses %j: over a year', (value) => {
    expect(parseLifetime(value)).toEqual({ error: 'tokens expire within 365 days at most' });
  });

  it.each(['0d', '30', 'd', '1.5d', '-1d', '30m', 'never', '1y', ''])('refuses %j', (value) => {
    expect(parseLifetime(value)).toMatchObject({ error: expect.stringMatching(/^expiry must/) });
  });
});
