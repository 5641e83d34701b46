import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Keyring, isSealed, keyId } from '../../src/store/crypto.ts';

describe('Keyring', () => {
  const key = randomBytes(32);
  const ring = new Keyring(key);

  it('seals with AES-256-GCM under a key id and opens again', () => {
    const sealed = ring.seal('glpat-secret-token');
    expect(sealed).toMatch(new RegExp(`^dag:v1:${keyId(key)}:`));
    expect(sealed).not.toContain('glpat-secret-token');
    expect(isSealed(sealed)).toBe(true);
    expect(ring.open(sealed)).toBe('glpat-secret-token');
  });

  it('uses a fresh IV each time', () => {
    expect(ring.seal('same')).not.toBe(ring.seal('same'));
  });

  it('opens values sealed with an old key after rotation', () => {
    const old = new Keyring(randomBytes(32));
    const sealedOld = old.seal('token');
    const rotated = new Keyring(randomBytes(32), [old.current]);
    expect(rotated.open(sealedOld)).toBe('token');
    expect(Keyring.sealedWith(sealedOld)).toBe(old.currentId);
    expect(Keyring.sealedWith(rotated.seal('token'))).toBe(rotated.currentId);
  });

  it('names an unknown key without revealing anything', () => {
    const other = new Keyring(randomBytes(32));
    const sealed = other.seal('hunter2-token');
    expect(() => ring.open(sealed)).toThrow(new RegExp(`key ${other.currentId}`));
    try {
      ring.open(sealed);
    } catch (error) {
      expect(String(error)).not.toContain('hunter2');
    }
  });

  it('rejects tampered ciphertext and malformed values', () => {
    const sealed = ring.seal('value');
    const tampered = `${sealed.slice(0, -2)}${sealed.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(() => ring.open(tampered)).toThrow(/failed authentication/);
    expect(() => ring.open('dag:v1:nonsense')).toThrow(/malformed/);
  });
});
