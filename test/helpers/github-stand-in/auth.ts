// Who a request to the GitHub stand-in comes from, decided as GitHub decides it: the App's JWT
// (RS256 by the App's private key, checked with its public half, `iss`, `iat`, `exp`), the
// installation tokens the stand-in minted (until they expire), or personal tokens it was told
// about; and which repositories each may see.

import { createPublicKey, createVerify, randomBytes, type KeyObject } from 'node:crypto';
import { covers } from './app-routes.ts';
import type { Answer, Identity } from './route.ts';
import type { Installation, RepoRecord } from './state.ts';

type TokenGrant =
  | {
      kind: 'installation';
      installation: Installation;
      repositories?: Set<string>;
      expiresAt: number;
    }
  | { kind: 'token'; login: string; repositories: Set<string> | 'all' };

type JwtCheck = { ok: true } | { ok: false; message: string };

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function base64url(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** Checks an App JWT as GitHub does: RS256 by the App's key, iss = App id, a 10-minute life. */
export function checkJwt(token: string, key: KeyObject, appId: number): JwtCheck {
  const parts = token.split('.');
  const undecodable = { ok: false as const, message: 'A JSON web token could not be decoded' };
  if (parts.length !== 3) return undecodable;
  const [head = '', body = '', signature = ''] = parts;
  let header: { alg?: string };
  let claims: { iss?: unknown; iat?: unknown; exp?: unknown };
  try {
    header = JSON.parse(base64url(head).toString('utf8')) as typeof header;
    claims = JSON.parse(base64url(body).toString('utf8')) as typeof claims;
  } catch {
    return undecodable;
  }
  if (header.alg !== 'RS256') return undecodable;
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${head}.${body}`);
  if (!verifier.verify(key, base64url(signature))) return undecodable;
  const now = Math.floor(Date.now() / 1000);
  if (typeof claims.iat !== 'number' || !Number.isInteger(claims.iat) || claims.iat > now + 60) {
    return {
      ok: false,
      message:
        "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.",
    };
  }
  if (typeof claims.exp !== 'number' || claims.exp <= now) {
    return {
      ok: false,
      message:
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
    };
  }
  if (claims.exp - claims.iat > 600) {
    return { ok: false, message: "'Expiration time' claim ('exp') is too far in the future." };
  }
  if (String(claims.iss) !== String(appId)) return { ok: false, message: 'Integration not found' };
  return { ok: true };
}

/** `app`, `installation:<id>`, `token:<login>`: how the request log names an identity. */
export function identityName(identity: Identity | undefined): string | null {
  if (!identity) return null;
  if (identity.kind === 'app') return 'app';
  if (identity.kind === 'installation') return `installation:${identity.installation.id}`;
  return `token:${identity.login}`;
}

function refusal(status: number, message: string): { error: Answer } {
  return {
    error: {
      status,
      body: { message, documentation_url: 'https://docs.github.com/rest', status: String(status) },
    },
  };
}

export class Credentials {
  readonly #publicKey: KeyObject;
  readonly #appId: number;
  readonly #ttlMs: number;
  readonly #installations: ReadonlyMap<number, Installation>;
  readonly #tokens = new Map<string, TokenGrant>();

  constructor(options: {
    privateKey: string;
    appId: number;
    tokenTtlMs: number;
    installations: ReadonlyMap<number, Installation>;
  }) {
    this.#publicKey = createPublicKey(options.privateKey);
    this.#appId = options.appId;
    this.#ttlMs = options.tokenTtlMs;
    this.#installations = options.installations;
  }

  /** A new installation token (`ghs_` and 36 characters, as GitHub's look), and its expiry. */
  mint(
    installation: Installation,
    repositories?: Set<string>,
  ): { token: string; expiresAt: string } {
    const token = `ghs_${[...randomBytes(36)].map((b) => TOKEN_ALPHABET[b % TOKEN_ALPHABET.length]).join('')}`;
    const expiresAt = Date.now() + this.#ttlMs;
    this.#tokens.set(token, {
      kind: 'installation',
      installation,
      ...(repositories ? { repositories } : {}),
      expiresAt,
    });
    return { token, expiresAt: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z') };
  }

  /** A personal access token for the API and git: every repository, or the named ones. */
  addToken(token: string, login: string, repositories: string[] | 'all'): void {
    this.#tokens.set(token, {
      kind: 'token',
      login,
      repositories:
        repositories === 'all' ? 'all' : new Set(repositories.map((r) => r.toLowerCase())),
    });
  }

  /**
   * The identity an Authorization header stands for, or GitHub's answer when it stands for
   * none. App routes take only the App's JWT; every other route takes only tokens.
   */
  authenticate(
    header: string | undefined,
    appOnly: boolean,
  ): { identity: Identity } | { error: Answer } {
    const match = /^(token|bearer)\s+(\S+)$/i.exec(header ?? '');
    if (!match?.[2]) return refusal(401, 'Requires authentication');
    const credential = match[2];
    if (credential.split('.').length === 3) {
      const check = checkJwt(credential, this.#publicKey, this.#appId);
      if (!check.ok) return refusal(401, check.message);
      if (!appOnly) return refusal(403, 'Resource not accessible by integration');
      return { identity: { kind: 'app' } };
    }
    if (appOnly) return refusal(401, 'A JSON web token could not be decoded');
    const grant = this.#tokens.get(credential);
    if (!grant) return refusal(401, 'Bad credentials');
    if (grant.kind === 'token') {
      return { identity: { kind: 'token', login: grant.login, repositories: grant.repositories } };
    }
    if (grant.expiresAt <= Date.now()) return refusal(401, 'Bad credentials');
    return {
      identity: {
        kind: 'installation',
        installation: grant.installation,
        token: credential,
        ...(grant.repositories ? { repositories: grant.repositories } : {}),
      },
    };
  }

  /** Whether the identity may see the repository (GitHub answers 404 when it may not). */
  canSee(identity: Identity, repo: RepoRecord): boolean {
    const key = repo.fullName.toLowerCase();
    if (identity.kind === 'app') return false;
    if (identity.kind === 'token') {
      return identity.repositories === 'all' || identity.repositories.has(key);
    }
    if (!this.#installations.has(identity.installation.id)) return false;
    if (!covers(identity.installation, repo)) return false;
    return !identity.repositories || identity.repositories.has(key);
  }
}
