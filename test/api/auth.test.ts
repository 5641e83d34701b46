import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  authenticateRequest,
  authorize,
  MAX_AUTHORIZATION_LENGTH,
  parseBearer,
  scopeCovers,
  sharedTokenRateLimit,
  type TokenRateLimit,
} from '../../src/api/auth.ts';
import { generateSecret, type ApiPrincipal } from '../../src/api/token.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import type { AuthResult } from '../../src/store/api-tokens.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';

/** A logger at info whose lines (parsed) land in `lines`. */
function capturingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'info',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  });
  return { log, lines };
}

const principal = (overrides: Partial<ApiPrincipal> = {}): ApiPrincipal => ({
  tokenId: 7,
  name: 'ci',
  prefix: 'dag_abcdefgh',
  permission: 'propose',
  scope: { all: false, appIds: [1], environmentIds: [12] },
  expiresAt: new Date('2030-01-01Z'),
  ...overrides,
});

const CHALLENGE = 'Bearer realm="dag"';

describe('parseBearer', () => {
  const secret = generateSecret();

  it.each([
    ['Bearer', `Bearer ${secret}`],
    ['bearer, lower case', `bearer ${secret}`],
    ['BEARER, upper case', `BEARER ${secret}`],
    ['two spaces and a trailing one', `Bearer  ${secret} `],
  ])('takes the token after %s', (_label, header) => {
    expect(parseBearer(header)).toEqual({ ok: true, secret });
  });

  it('asks for a token, with a bare challenge, when there is none', () => {
    for (const header of [undefined, '']) {
      expect(parseBearer(header)).toEqual({
        ok: false,
        refusal: {
          status: 401,
          code: 'missing_token',
          error: 'an API token is required',
          headers: { 'WWW-Authenticate': CHALLENGE },
        },
      });
    }
  });

  it.each([
    ['another scheme', `Basic ${Buffer.from('u:p').toString('base64')}`, ' (not Basic)'],
    ['the scheme GitHub uses', `token ${secret}`, ' (not token)'],
    ['no scheme', secret, ''],
    ['the scheme alone', 'Bearer', ''],
    ['the scheme and a space', 'Bearer ', ''],
    ['two tokens', `Bearer ${secret} ${secret}`, ''],
    ['a token with a comma', `Bearer ${secret},x`, ''],
    ['a tab instead of a space', `Bearer\t${secret}`, ''],
    ['non-ASCII in the token', `Bearer ${secret.slice(0, -1)}é`, ''],
    ['non-ASCII in the scheme', `Béarer ${secret}`, ''],
    ['a line break', `Bearer ${secret}\r\nX-Evil: 1`, ''],
  ])('refuses %s with a 401 that does not echo the header', (_label, header, said) => {
    const answer = parseBearer(header);
    expect(answer.ok).toBe(false);
    if (answer.ok) return;
    const error = `expected "Authorization: Bearer <token>"${said}`;
    expect(answer.refusal).toEqual({
      status: 401,
      code: 'invalid_request',
      error,
      headers: {
        'WWW-Authenticate': `${CHALLENGE}, error="invalid_request", error_description="${error.replace(/"/g, '\\"')}"`,
      },
    });
    expect(JSON.stringify(answer.refusal)).not.toContain(secret.slice(4));
  });

  it('refuses an oversized header unread, and several headers', () => {
    const long = `Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH)}`;
    expect(parseBearer(long)).toMatchObject({
      ok: false,
      refusal: { status: 401, error: 'the Authorization header is too long' },
    });
    // Just at the limit: parsed (and refused later, by the store, as malformed).
    const atLimit = `Bearer ${'a'.repeat(MAX_AUTHORIZATION_LENGTH - 7)}`;
    expect(parseBearer(atLimit)).toMatchObject({ ok: true });
    expect(parseBearer([`Bearer ${secret}`, `Bearer ${secret}`])).toMatchObject({
      ok: false,
      refusal: { status: 401, error: 'send one Authorization header' },
    });
  });
});

describe('authorize', () => {
  const app = { id: 1, name: 'my-app' };
  const other = { id: 2, name: 'other' };
  const staging = { id: 11, name: 'staging' };
  const production = { id: 12, name: 'production' };

  it.each([
    ['all apps, any environment', { all: true }, other, staging, true],
    ['all apps, app-wide', { all: true }, other, undefined, true],
    ['its app, app-wide', { all: false, appIds: [1], environmentIds: [] }, app, undefined, true],
    [
      'its app, an environment',
      { all: false, appIds: [1], environmentIds: [] },
      app,
      staging,
      true,
    ],
    ['another app', { all: false, appIds: [1], environmentIds: [] }, other, undefined, false],
    ['its environment', { all: false, appIds: [], environmentIds: [12] }, app, production, true],
    ['another environment', { all: false, appIds: [], environmentIds: [12] }, app, staging, false],
    [
      'app-wide with environments only',
      { all: false, appIds: [], environmentIds: [12] },
      app,
      undefined,
      false,
    ],
    ['an empty scope', { all: false, appIds: [], environmentIds: [] }, app, staging, false],
  ] as const)('scope covers %s: %s', (_label, scope, target, environment, expected) => {
    expect(scopeCovers(scope, { app: target, environment })).toBe(expected);
  });

  it('lets a token do what its permission and scope allow', () => {
    const token = principal();
    expect(authorize(token, { permission: 'propose', app, environment: production })).toBeNull();
    expect(authorize(token, { permission: 'read', app })).toBeNull();
    expect(
      authorize(principal({ permission: 'read', scope: { all: true } }), {
        permission: 'read',
        app: other,
      }),
    ).toBeNull();
  });

  it('answers 403 with what is missing: the permission, the app or the environment', () => {
    const read = principal({ permission: 'read' });
    expect(authorize(read, { permission: 'propose', app, environment: production })).toEqual({
      status: 403,
      code: 'insufficient_scope',
      error: 'token ci has permission read; this needs propose',
      headers: {
        'WWW-Authenticate':
          'Bearer realm="dag", error="insufficient_scope", error_description="token ci has permission read; this needs propose"',
      },
    });
    const envOnly = principal({ scope: { all: false, appIds: [], environmentIds: [12] } });
    expect(authorize(envOnly, { permission: 'read', app, environment: staging })).toMatchObject({
      status: 403,
      error: 'token ci does not reach environment staging of app my-app',
    });
    expect(authorize(envOnly, { permission: 'read', app })).toMatchObject({
      status: 403,
      error: 'token ci does not reach app my-app (as a whole)',
    });
    expect(authorize(principal(), { permission: 'read', app: other })).toMatchObject({
      status: 403,
      error: 'token ci does not reach app other (as a whole)',
    });
  });
});

describe('authenticateRequest', () => {
  const secret = generateSecret();
  const allow: TokenRateLimit = { take: async () => ({ ok: true }) };
  const store = (result: AuthResult | Error) => ({
    authenticate: async (given: string) => {
      expect(given).toBe(secret);
      if (result instanceof Error) throw result;
      return result;
    },
  });

  it('answers the principal of a good token', async () => {
    const answer = await authenticateRequest(`Bearer ${secret}`, {
      tokens: store({ ok: true, principal: principal() }),
      rateLimit: allow,
      log: quiet,
    });
    expect(answer).toEqual({ ok: true, principal: principal() });
  });

  it.each([
    ['malformed', 'malformed token (DAG tokens look like dag_...)'],
    ['unknown', 'unknown or revoked token'],
    ['revoked', 'unknown or revoked token'],
    ['expired', 'the token has expired (ask an operator for a new one: dag tokens create)'],
  ] as const)(
    'refuses a %s token with 401 invalid_token, logging why without the secret',
    async (reason, error) => {
      const { log, lines } = capturingLog();
      const answer = await authenticateRequest(`Bearer ${secret}`, {
        tokens: store({ ok: false, reason, tokenId: 3, prefix: 'dag_abcdefgh' }),
        rateLimit: allow,
        log,
      });
      expect(answer).toEqual({
        ok: false,
        refusal: {
          status: 401,
          code: 'invalid_token',
          error,
          headers: {
            'WWW-Authenticate': `Bearer realm="dag", error="invalid_token", error_description="${error}"`,
          },
        },
      });
      expect(lines).toMatchObject([
        {
          reason,
          tokenId: 3,
          tokenPrefix: 'dag_abcdefgh',
          msg: 'API request refused: token not accepted',
        },
      ]);
      expect(JSON.stringify(lines)).not.toContain(secret.slice(12));
    },
  );

  it('refuses a bad header before asking the store', async () => {
    const answer = await authenticateRequest('Basic dTpw', {
      tokens: { authenticate: () => Promise.reject(new Error('must not be asked')) },
      rateLimit: allow,
      log: quiet,
    });
    expect(answer).toMatchObject({ ok: false, refusal: { status: 401, code: 'invalid_request' } });
  });

  it('answers 503 with Retry-After when the tokens cannot be read', async () => {
    const { log, lines } = capturingLog();
    const answer = await authenticateRequest(`Bearer ${secret}`, {
      tokens: store(new Error('connection refused')),
      rateLimit: allow,
      log,
    });
    expect(answer).toMatchObject({
      ok: false,
      refusal: { status: 503, code: 'unavailable', headers: { 'Retry-After': '5' } },
    });
    expect(lines).toMatchObject([{ level: 50, msg: 'API tokens could not be checked' }]);
  });

  it('answers 429 with Retry-After when the token is over its budget', async () => {
    const answer = await authenticateRequest(`Bearer ${secret}`, {
      tokens: store({ ok: true, principal: principal() }),
      rateLimit: { take: async () => ({ ok: false, retryAfterSeconds: 42 }) },
      log: quiet,
    });
    expect(answer).toEqual({
      ok: false,
      refusal: {
        status: 429,
        code: 'rate_limited',
        error: 'too many requests with token ci; retry in 42s',
        headers: { 'Retry-After': '42' },
      },
    });
  });
});

describe.each(LANES)('the per-token request budget (%s)', (laneName) => {
  let lane: LaneDb;
  beforeEach(async () => {
    lane = await openLane(laneName);
  });
  afterEach(async () => {
    await lane.drop();
  });

  it('allows N requests a window per token, refuses the next with Retry-After, across processes', async () => {
    const budget = { points: 3, durationSeconds: 600 };
    const one = sharedTokenRateLimit(lane.db, quiet, budget);
    const other = sharedTokenRateLimit(lane.db, quiet, budget); // another DAG process
    const ci = principal({ tokenId: 1 });
    expect(await one.take(ci)).toEqual({ ok: true });
    expect(await other.take(ci)).toEqual({ ok: true });
    expect(await one.take(ci)).toEqual({ ok: true });
    const refused = await other.take(ci);
    expect(refused).toMatchObject({ ok: false });
    if (refused.ok) return;
    expect(refused.retryAfterSeconds).toBeGreaterThan(0);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(600);
    // Another token has a budget of its own.
    expect(await one.take(principal({ tokenId: 2 }))).toEqual({ ok: true });

    const { rows } = await lane.db.query<{ key: string; points: number }>(
      'SELECT key, points FROM api_token_limits ORDER BY key',
    );
    expect(rows).toEqual([
      { key: 'token:1', points: 4 },
      { key: 'token:2', points: 1 },
    ]);
  });

  it('through authenticateRequest: the request past the budget is a 429', async () => {
    const secret = generateSecret();
    const deps = {
      tokens: { authenticate: async () => ({ ok: true, principal: principal() }) as const },
      rateLimit: sharedTokenRateLimit(lane.db, quiet, { points: 2, durationSeconds: 600 }),
      log: quiet,
    };
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const answer = await authenticateRequest(`Bearer ${secret}`, deps);
      statuses.push(answer.ok ? 200 : answer.refusal.status);
    }
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('the per-token request budget, its database gone', () => {
  it('lets requests through, with a warning, when the budget cannot be read', async () => {
    const { log, lines } = capturingLog();
    const broken = {
      query: () => Promise.reject(new Error('relation "api_token_limits" does not exist')),
    };
    const limit = sharedTokenRateLimit(broken, log, { points: 1 });
    expect(await limit.take(principal())).toEqual({ ok: true });
    expect(await limit.take(principal())).toEqual({ ok: true });
    expect(lines).toMatchObject([
      {
        level: 40,
        tokenId: 7,
        msg: 'the API token budget could not be read: allowing the request',
      },
      { level: 40 },
    ]);
  });
});
