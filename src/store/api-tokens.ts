import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import {
  generateSecret,
  isWellFormedSecret,
  MAX_TOKEN_LIFETIME_DAYS,
  secretHash,
  secretPrefix,
  TOKEN_PERMISSIONS,
  type ApiPrincipal,
  type TokenPermission,
  type TokenScope,
} from '../api/token.ts';
import { UserError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Db } from './db.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import type { ConfigStore } from './types.ts';

/** What a new token may reach, as people name apps (id, repository URL or name) and environments. */
export type NewTokenScope =
  | { all: true }
  | { all: false; apps: string[]; environments: { app: string; environment: string }[] };

export type NewApiToken = {
  name: string;
  permission: TokenPermission;
  scope: NewTokenScope;
  /** How long from now the token works: at most MAX_TOKEN_LIFETIME_DAYS. */
  lifetimeMs: number;
};

/** A token's scope with the current names of what it reaches. */
export type ApiTokenScopeView =
  | { all: true }
  | {
      all: false;
      apps: { id: number; name: string }[];
      environments: { id: number; app: string; name: string }[];
    };

/** A token as listed: never its secret or hash. */
export type ApiToken = {
  id: number;
  name: string;
  prefix: string;
  permission: TokenPermission;
  scope: ApiTokenScopeView;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
};

/**
 * Why a secret did not authenticate. `malformed`: not a DAG token's shape or checksum (no
 * database lookup was made). `tokenId` and `prefix` are known for revoked and expired tokens,
 * for the server's log; none of this holds the secret.
 */
export type AuthFailure = {
  ok: false;
  reason: 'malformed' | 'unknown' | 'revoked' | 'expired';
  tokenId?: number;
  prefix?: string;
};
export type AuthResult = { ok: true; principal: ApiPrincipal } | AuthFailure;

/** API tokens, as the CLI manages them and the REST API and MCP server check them. */
export interface ApiTokenStore {
  /** Issues a token; `secret` is returned here and nowhere else, ever. */
  create(input: NewApiToken): Promise<{ token: ApiToken; secret: string }>;
  /** Every token, revoked and expired ones too, oldest first. */
  list(): Promise<ApiToken[]>;
  /** Revokes a token by id or by the name of an unrevoked one; revoking twice changes nothing. */
  revoke(ref: string): Promise<{ token: ApiToken; alreadyRevoked: boolean }>;
  /** The token a presented secret belongs to, if it is unrevoked and unexpired. */
  authenticate(secret: string): Promise<AuthResult>;
}

/** What the token store reads of the configuration: apps and their environments. */
export type TokenConfig = Pick<ConfigStore, 'findApp' | 'listApps' | 'listEnvironments'>;

const friendly = constraintMessages({
  api_tokens_name_key: 'a token with this name exists already (revoke it first, or pick another)',
  api_tokens_name_check:
    'invalid token name (a letter, then letters, digits, ".", "_" and "-"; at most 100)',
  api_tokens_permission_check: "token permission must be 'read' or 'propose'",
  api_tokens_expiry_check: `a token expires after it is created and within ${MAX_TOKEN_LIFETIME_DAYS} days`,
});

const timestamp = z.coerce.date();
const tokenRow = z.object({
  id: z.coerce.number().int(),
  name: z.string(),
  prefix: z.string(),
  permission: z.enum(TOKEN_PERMISSIONS),
  all_apps: z.boolean(),
  created_at: timestamp,
  expires_at: timestamp,
  revoked_at: timestamp.nullable(),
  last_used_at: timestamp.nullable(),
  app_ids: z.array(z.coerce.number().int()),
  environment_ids: z.array(z.coerce.number().int()),
});
type TokenRow = z.infer<typeof tokenRow>;

/** Token rows with the ids of what they reach. */
const TOKENS = `
  SELECT t.id, t.name, t.prefix, t.permission, t.all_apps, t.created_at, t.expires_at,
         t.revoked_at, t.last_used_at, t.secret_sha256,
         COALESCE(array_agg(s.app_id ORDER BY s.app_id) FILTER (WHERE s.app_id IS NOT NULL), '{}') AS app_ids,
         COALESCE(array_agg(s.environment_id ORDER BY s.environment_id)
                  FILTER (WHERE s.environment_id IS NOT NULL), '{}') AS environment_ids
    FROM api_tokens t
    LEFT JOIN api_token_scopes s ON s.token_id = t.id`;

function toScope(row: TokenRow): TokenScope {
  return row.all_apps
    ? { all: true }
    : { all: false, appIds: row.app_ids, environmentIds: row.environment_ids };
}

/** A token name: a letter first (so that a number can only be an id), as the table checks it. */
export function isTokenName(value: string): boolean {
  return /^[A-Za-z]([-A-Za-z0-9._]*[A-Za-z0-9])?$/.test(value) && value.length <= 100;
}

/**
 * API tokens in SQL. `now` is the clock for expiry (injected in tests). last_used_at is written
 * at most once per `touchIntervalMs` per token (default a minute), and only when the row just
 * read says it is older: authenticating costs one read, and a write a minute at most.
 */
export class SqlApiTokenStore implements ApiTokenStore {
  readonly #db: Db;
  readonly #config: TokenConfig;
  readonly #now: () => Date;
  readonly #touchIntervalMs: number;
  readonly #log: Logger | undefined;

  constructor(
    db: Db,
    config: TokenConfig,
    options: { now?: () => Date; touchIntervalMs?: number; log?: Logger } = {},
  ) {
    this.#db = db;
    this.#config = config;
    this.#now = options.now ?? (() => new Date());
    this.#touchIntervalMs = options.touchIntervalMs ?? 60_000;
    this.#log = options.log;
  }

  async create(input: NewApiToken): Promise<{ token: ApiToken; secret: string }> {
    if (!isTokenName(input.name)) {
      throw new UserError(
        'invalid token name (a letter, then letters, digits, ".", "_" and "-"; at most 100)',
      );
    }
    if (!(TOKEN_PERMISSIONS as readonly string[]).includes(input.permission)) {
      throw new UserError("token permission must be 'read' or 'propose'");
    }
    const max = MAX_TOKEN_LIFETIME_DAYS * 86_400_000;
    if (!Number.isInteger(input.lifetimeMs) || input.lifetimeMs <= 0 || input.lifetimeMs > max) {
      throw new UserError(`tokens expire within ${MAX_TOKEN_LIFETIME_DAYS} days at most`);
    }
    const { appIds, environmentIds } = await this.#resolveScope(input.scope);
    const secret = generateSecret();
    const createdAt = this.#now();
    const expiresAt = new Date(createdAt.getTime() + input.lifetimeMs);
    const id = await friendly(
      this.#db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number }>(
          `INSERT INTO api_tokens (name, prefix, secret_sha256, permission, all_apps, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
          [
            input.name,
            secretPrefix(secret),
            secretHash(secret),
            input.permission,
            input.scope.all,
            createdAt,
            expiresAt,
          ],
        );
        const tokenId = rows[0]?.id;
        if (tokenId === undefined) throw new Error('INSERT INTO api_tokens returned no row');
        for (const appId of appIds) {
          await tx.query('INSERT INTO api_token_scopes (token_id, app_id) VALUES ($1, $2)', [
            tokenId,
            appId,
          ]);
        }
        for (const environmentId of environmentIds) {
          await tx.query(
            'INSERT INTO api_token_scopes (token_id, environment_id) VALUES ($1, $2)',
            [tokenId, environmentId],
          );
        }
        return tokenId;
      }),
    );
    const [token] = await this.#views(await this.#rows('WHERE t.id = $1', [id]));
    if (!token) throw new Error(`api token ${id} vanished after it was created`);
    return { token, secret };
  }

  async list(): Promise<ApiToken[]> {
    return this.#views(await this.#rows('', []));
  }

  async revoke(ref: string): Promise<{ token: ApiToken; alreadyRevoked: boolean }> {
    const found = /^\d+$/.test(ref)
      ? await this.#rows('WHERE t.id = $1', [Number(ref)])
      : // The unrevoked token of that name, else the latest revoked one.
        await this.#rows(
          'WHERE t.name = $1',
          [ref],
          'ORDER BY t.revoked_at IS NULL DESC, t.id DESC',
        );
    const row = found[0];
    if (!row) throw new UserError(`unknown token: ${ref} (see: dag tokens list)`);
    if (row.revoked_at !== null) {
      const [token] = await this.#views([row]);
      return { token: token as ApiToken, alreadyRevoked: true };
    }
    await this.#db.query(
      'UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL',
      [row.id, this.#now()],
    );
    const [token] = await this.#views(await this.#rows('WHERE t.id = $1', [row.id]));
    return { token: token as ApiToken, alreadyRevoked: false };
  }

  async authenticate(secret: string): Promise<AuthResult> {
    if (!isWellFormedSecret(secret)) return { ok: false, reason: 'malformed' };
    const prefix = secretPrefix(secret);
    const hash = secretHash(secret);
    const { rows } = await this.#db.query(`${TOKENS} WHERE t.prefix = $1 GROUP BY t.id`, [prefix]);
    // Every candidate is compared, in constant time, whichever matches.
    let match: Row | undefined;
    for (const candidate of rows) {
      const stored = candidate.secret_sha256;
      if (Buffer.isBuffer(stored) && stored.length === 32 && timingSafeEqual(stored, hash)) {
        match = candidate;
      }
    }
    if (!match) return { ok: false, reason: 'unknown', prefix };
    const row = parseRow(tokenRow, 'api_tokens', match);
    const now = this.#now();
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked', tokenId: row.id, prefix };
    if (row.expires_at.getTime() <= now.getTime()) {
      return { ok: false, reason: 'expired', tokenId: row.id, prefix };
    }
    await this.#touch(row, now);
    return {
      ok: true,
      principal: {
        tokenId: row.id,
        name: row.name,
        prefix: row.prefix,
        permission: row.permission,
        scope: toScope(row),
        expiresAt: row.expires_at,
      },
    };
  }

  /** Records the use, unless the row says it was recorded within the interval. Never fails. */
  async #touch(row: TokenRow, now: Date): Promise<void> {
    const last = row.last_used_at?.getTime();
    if (last !== undefined && now.getTime() - last < this.#touchIntervalMs) return;
    try {
      await this.#db.query(
        `UPDATE api_tokens SET last_used_at = $2
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`,
        [row.id, now],
      );
    } catch (error) {
      this.#log?.warn({ err: error, tokenId: row.id }, 'could not record when a token was used');
    }
  }

  async #rows(where: string, values: unknown[], order = 'ORDER BY t.id'): Promise<TokenRow[]> {
    const { rows } = await this.#db.query(`${TOKENS} ${where} GROUP BY t.id ${order}`, values);
    return rows.map((row) => parseRow(tokenRow, 'api_tokens', row));
  }

  /** Rows as listed, with the current names of the apps and environments they reach. */
  async #views(rows: TokenRow[]): Promise<ApiToken[]> {
    const scoped = rows.some((row) => !row.all_apps);
    const [apps, envs] = scoped
      ? await Promise.all([this.#config.listApps(), this.#config.listEnvironments()])
      : [[], []];
    const appNames = new Map(apps.map((app) => [app.id, app.name]));
    const envsById = new Map(envs.map((env) => [env.id, env]));
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      prefix: row.prefix,
      permission: row.permission,
      scope: row.all_apps
        ? { all: true }
        : {
            all: false,
            apps: row.app_ids.map((id) => ({ id, name: appNames.get(id) ?? String(id) })),
            environments: row.environment_ids.map((id) => {
              const env = envsById.get(id);
              const app = env ? (appNames.get(env.appId) ?? String(env.appId)) : '?';
              return { id, app, name: env?.name ?? String(id) };
            }),
          },
      createdAt: row.created_at,
      expiresAt: row.expires_at,
      revokedAt: row.revoked_at,
      lastUsedAt: row.last_used_at,
    }));
  }

  async #resolveScope(
    scope: NewTokenScope,
  ): Promise<{ appIds: number[]; environmentIds: number[] }> {
    if (scope.all) return { appIds: [], environmentIds: [] };
    if (scope.apps.length === 0 && scope.environments.length === 0) {
      throw new UserError('a token needs a scope: all apps, or at least one app or environment');
    }
    const appIds = new Set<number>();
    for (const ref of scope.apps) {
      const app = await this.#config.findApp(ref);
      if (!app) throw new UserError(`unknown app: ${ref} (see: dag apps list)`);
      appIds.add(app.id);
    }
    const environmentIds = new Set<number>();
    for (const { app, environment } of scope.environments) {
      const env = (await this.#config.listEnvironments(app)).find((e) => e.name === environment);
      if (!env) {
        throw new UserError(
          `unknown environment ${environment} of app ${app} (see: dag envs list)`,
        );
      }
      environmentIds.add(env.id);
    }
    return { appIds: [...appIds], environmentIds: [...environmentIds] };
  }
}
