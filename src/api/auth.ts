import type { IncomingMessage } from 'node:http';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../log.ts';
import type { Queryable } from '../store/db.ts';
import type { ApiTokenStore } from '../store/api-tokens.ts';
import { permits, type ApiPrincipal, type TokenPermission, type TokenScope } from './token.ts';

/**
 * Who may call DAG's REST API and MCP server: bearer tokens (`dag tokens`), their permission
 * and scope, and a request budget per token. Every function answers with a value, a principal
 * or a Refusal (status, error, headers), and writes to no response: the REST handler and the
 * MCP transport each turn a Refusal into their own reply.
 *
 * What a client is told: a missing header, a malformed one and an expired token are each said
 * plainly (only the holder of the real secret can learn that it expired, which tells them
 * nothing they could not know, and helps them rotate); an unknown and a revoked token get the
 * same answer, so a leaked token's holder cannot tell it was noticed. The server's log says
 * which, with the token's id and prefix, never the secret.
 */

/** RFC 6750 error codes, plus DAG's own for the budget and an unavailable database. */
export type RefusalCode =
  'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'rate_limited' | 'unavailable';

export type Refusal = {
  status: 400 | 401 | 403 | 429 | 503;
  code: RefusalCode | 'missing_token';
  /** Safe to show the client. */
  error: string;
  /** To send as they are (WWW-Authenticate, Retry-After). */
  headers: Record<string, string>;
};

export const REALM = 'dag';
/** Longer Authorization headers are refused unread (a DAG token is 53 characters). */
export const MAX_AUTHORIZATION_LENGTH = 512;

function quoted(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&')}"`;
}

function challenge(code?: RefusalCode, description?: string): string {
  const parts = [`realm=${quoted(REALM)}`];
  if (code) parts.push(`error=${quoted(code)}`);
  if (description) parts.push(`error_description=${quoted(description)}`);
  return `Bearer ${parts.join(', ')}`;
}

function unauthorized(code: 'missing_token' | 'invalid_request' | 'invalid_token', error: string) {
  return {
    status: 401,
    code,
    error,
    // RFC 6750 3.1: no error code when the request carried no credentials.
    headers: {
      'WWW-Authenticate': code === 'missing_token' ? challenge() : challenge(code, error),
    },
  } satisfies Refusal;
}

export type BearerAnswer = { ok: true; secret: string } | { ok: false; refusal: Refusal };

/**
 * The token of an `Authorization: Bearer <token>` header (the scheme in any case, as RFC 7235
 * has it; one or more spaces; token68 characters only). Anything else is a 401 that says what
 * was wrong, without echoing the header.
 */
export function parseBearer(header: string | readonly string[] | undefined): BearerAnswer {
  if (header === undefined || header === '') {
    return { ok: false, refusal: unauthorized('missing_token', 'an API token is required') };
  }
  if (typeof header !== 'string') {
    return {
      ok: false,
      refusal: unauthorized('invalid_request', 'send one Authorization header'),
    };
  }
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    return {
      ok: false,
      refusal: unauthorized('invalid_request', 'the Authorization header is too long'),
    };
  }
  const match = /^([A-Za-z]+) +([A-Za-z0-9._~+/-]+=*) *$/.exec(header);
  if (!match || match[1]?.toLowerCase() !== 'bearer') {
    const scheme = /^[A-Za-z]+(?= )/.exec(header)?.[0];
    const said = scheme && scheme.toLowerCase() !== 'bearer' ? ` (not ${scheme})` : '';
    return {
      ok: false,
      refusal: unauthorized(
        'invalid_request',
        `expected "Authorization: Bearer <token>"${said.length <= 40 ? said : ''}`,
      ),
    };
  }
  return { ok: true, secret: match[2] ?? '' };
}

/** One request from a token's budget: allowed, or refused until a number of seconds from now. */
export interface TokenRateLimit {
  take(principal: ApiPrincipal): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
}

export const DEFAULT_TOKEN_REQUESTS_PER_MINUTE = 60;

/**
 * Each token's budget kept in DAG's database (rate-limiter-flexible's Postgres store, table
 * `api_token_limits`), so that all DAG processes share it. If the database cannot be asked the
 * request goes ahead (logged): the token was checked already, and the budget is a brake, not a
 * lock.
 */
export function sharedTokenRateLimit(
  db: Queryable,
  log: Logger,
  options: { points?: number; durationSeconds?: number } = {},
): TokenRateLimit {
  const limiter = new RateLimiterPostgres({
    // Plain queries: named prepared statements would collide on the embedded database's one
    // shared session.
    storeClient: {
      query: (q: { text: string; values?: unknown[] }) => db.query(q.text, q.values),
    },
    storeType: 'client',
    tableName: 'api_token_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    keyPrefix: 'token',
    points: options.points ?? DEFAULT_TOKEN_REQUESTS_PER_MINUTE,
    duration: options.durationSeconds ?? 60,
  });
  return {
    async take(principal) {
      try {
        await limiter.consume(String(principal.tokenId), 1);
        return { ok: true };
      } catch (error) {
        if (error instanceof RateLimiterRes) {
          return {
            ok: false,
            retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)),
          };
        }
        log.warn(
          { err: error, tokenId: principal.tokenId },
          'the API token budget could not be read: allowing the request',
        );
        return { ok: true };
      }
    },
  };
}

/**
 * Failed authentications per client address: once an address has failed `points` times within
 * the window, its requests are refused (429) before their token is looked at, until the window
 * ends. A guesser of tokens is slowed down whatever tokens it tries; a client that sends none is
 * not counted (it guesses nothing).
 */
export interface FailedAuthLimit {
  check(address: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  fail(address: string): Promise<void>;
}

export const DEFAULT_FAILED_AUTH_PER_ADDRESS = 30;
export const DEFAULT_FAILED_AUTH_WINDOW_SECONDS = 600;

/**
 * The failure budget of each address, kept in the same table as the tokens' budgets (keys
 * prefixed `authfail`) so that all DAG processes share it. As with the token budget, a database
 * that cannot be asked lets the request go on to the token check (logged).
 */
export function sharedFailedAuthLimit(
  db: Queryable,
  log: Logger,
  options: { points?: number; durationSeconds?: number } = {},
): FailedAuthLimit {
  const points = options.points ?? DEFAULT_FAILED_AUTH_PER_ADDRESS;
  const limiter = new RateLimiterPostgres({
    storeClient: {
      query: (q: { text: string; values?: unknown[] }) => db.query(q.text, q.values),
    },
    storeType: 'client',
    tableName: 'api_token_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    keyPrefix: 'authfail',
    points,
    duration: options.durationSeconds ?? DEFAULT_FAILED_AUTH_WINDOW_SECONDS,
  });
  const retryAfter = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));
  return {
    async check(address) {
      try {
        const res = await limiter.get(address);
        if (res && res.consumedPoints >= points) {
          return { ok: false, retryAfterSeconds: retryAfter(res) };
        }
      } catch (error) {
        log.warn({ err: error }, 'the failed-authentication budget could not be read');
      }
      return { ok: true };
    },
    async fail(address) {
      try {
        await limiter.consume(address, 1);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) {
          log.warn({ err: error }, 'a failed authentication could not be counted');
        }
      }
    },
  };
}

/**
 * The address a request came from: the peer of its connection. Headers such as X-Forwarded-For
 * are not trusted (any client can send them); behind a proxy every client shares its address.
 */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

export type RequestAuthDeps = {
  tokens: Pick<ApiTokenStore, 'authenticate'>;
  rateLimit: TokenRateLimit;
  log: Logger;
  /** Failed authentications per client address (absent: not limited, as for stdio). */
  failedAuth?: FailedAuthLimit | undefined;
};

export type AuthAnswer = { ok: true; principal: ApiPrincipal } | { ok: false; refusal: Refusal };

/**
 * Who sent a request, from its Authorization header: the client address's failure budget
 * checked, the header parsed, the token checked, one request taken from its budget. Refusals are
 * logged here (reason, token id and prefix); failures count against `address`.
 */
export async function authenticateRequest(
  header: string | readonly string[] | undefined,
  deps: RequestAuthDeps,
  address?: string,
): Promise<AuthAnswer> {
  const failures = address === undefined ? undefined : deps.failedAuth;
  if (failures && address !== undefined) {
    const allowed = await failures.check(address);
    if (!allowed.ok) {
      deps.log.info(
        { retryAfterSeconds: allowed.retryAfterSeconds },
        'API request refused: too many failed authentications from its address',
      );
      return {
        ok: false,
        refusal: {
          status: 429,
          code: 'rate_limited',
          error: `too many failed authentications from this address; retry in ${allowed.retryAfterSeconds}s`,
          headers: { 'Retry-After': String(allowed.retryAfterSeconds) },
        },
      };
    }
  }
  const answer = await authenticate(header, deps);
  if (
    !answer.ok &&
    failures &&
    address !== undefined &&
    (answer.refusal.code === 'invalid_token' || answer.refusal.code === 'invalid_request')
  ) {
    await failures.fail(address);
  }
  return answer;
}

async function authenticate(
  header: string | readonly string[] | undefined,
  deps: RequestAuthDeps,
): Promise<AuthAnswer> {
  const bearer = parseBearer(header);
  if (!bearer.ok) {
    deps.log.info({ reason: bearer.refusal.code }, 'API request refused: no usable bearer token');
    return bearer;
  }
  let result: Awaited<ReturnType<ApiTokenStore['authenticate']>>;
  try {
    result = await deps.tokens.authenticate(bearer.secret);
  } catch (error) {
    deps.log.error({ err: error }, 'API tokens could not be checked');
    return {
      ok: false,
      refusal: {
        status: 503,
        code: 'unavailable',
        error: 'tokens cannot be checked right now; try again shortly',
        headers: { 'Retry-After': '5' },
      },
    };
  }
  if (!result.ok) {
    deps.log.info(
      { reason: result.reason, tokenId: result.tokenId, tokenPrefix: result.prefix },
      'API request refused: token not accepted',
    );
    const error =
      result.reason === 'malformed'
        ? 'malformed token (DAG tokens look like dag_...)'
        : result.reason === 'expired'
          ? 'the token has expired (ask an operator for a new one: dag tokens create)'
          : 'unknown or revoked token';
    return { ok: false, refusal: unauthorized('invalid_token', error) };
  }
  const principal = result.principal;
  const budget = await deps.rateLimit.take(principal);
  if (!budget.ok) {
    deps.log.info(
      { tokenId: principal.tokenId, retryAfterSeconds: budget.retryAfterSeconds },
      'API request refused: token over its rate limit',
    );
    return {
      ok: false,
      refusal: {
        status: 429,
        code: 'rate_limited',
        error: `too many requests with token ${principal.name}; retry in ${budget.retryAfterSeconds}s`,
        headers: { 'Retry-After': String(budget.retryAfterSeconds) },
      },
    };
  }
  return { ok: true, principal };
}

/** What a request touches: an app, and one of its environments when it is about one. */
export type ApiTarget = {
  app: { id: number; name: string };
  /** An environment of `app` (the caller resolved it); absent for app-wide requests. */
  environment?: { id: number; name: string } | undefined;
};

/**
 * Whether a scope reaches a target: every app; the app (all its environments); or, for a
 * request about one environment, that environment. A token scoped to environments alone does
 * not reach app-wide requests.
 */
export function scopeCovers(scope: TokenScope, target: ApiTarget): boolean {
  if (scope.all || scope.appIds.includes(target.app.id)) return true;
  return target.environment !== undefined && scope.environmentIds.includes(target.environment.id);
}

/** Null when the token may do `permission` on `target`, else a 403 saying what is missing. */
export function authorize(
  principal: ApiPrincipal,
  need: { permission: TokenPermission } & ApiTarget,
): Refusal | null {
  let error: string | undefined;
  if (!permits(principal.permission, need.permission)) {
    error = `token ${principal.name} has permission ${principal.permission}; this needs ${need.permission}`;
  } else if (!scopeCovers(principal.scope, need)) {
    error = need.environment
      ? `token ${principal.name} does not reach environment ${need.environment.name} of app ${need.app.name}`
      : `token ${principal.name} does not reach app ${need.app.name} (as a whole)`;
  }
  if (error === undefined) return null;
  return {
    status: 403,
    code: 'insufficient_scope',
    error,
    headers: { 'WWW-Authenticate': challenge('insufficient_scope', error) },
  };
}
