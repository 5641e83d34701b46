import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSecret, secretHash, secretPrefix } from '../../src/api/token.ts';
import { UserError } from '../../src/errors.ts';
import { SqlApiTokenStore, type NewApiToken } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';

const seed = readFileSync(
  new URL('../fixtures/seeds/multiple-environments.sql', import.meta.url),
  'utf8',
);

const DAY = 86_400_000;

/** A clock the test moves by hand. */
function clock(start = new Date('2030-01-01T00:00:00Z')) {
  let now = start.getTime();
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

describe.each(LANES)('API token store (%s)', (laneName) => {
  let lane: LaneDb;
  let config: SqlConfigStore;
  let time: ReturnType<typeof clock>;
  let tokens: SqlApiTokenStore;

  const create = (input: Partial<NewApiToken> = {}) =>
    tokens.create({
      name: 'ci',
      permission: 'propose',
      scope: { all: false, apps: ['my-app'], environments: [] },
      lifetimeMs: 30 * DAY,
      ...input,
    });

  beforeEach(async () => {
    lane = await openLane(laneName);
    config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(seed);
    await config.addApp({ gitProvider: 'github', repoUrl: 'https://github.com/org/other' });
    time = clock();
    tokens = new SqlApiTokenStore(lane.db, config, { now: time.now });
  });
  afterEach(async () => {
    await lane.drop();
  });

  it('creates a token whose secret is returned once and stored only as a hash', async () => {
    const { token, secret } = await create();
    expect(token).toEqual({
      id: expect.any(Number),
      name: 'ci',
      prefix: secretPrefix(secret),
      permission: 'propose',
      scope: { all: false, apps: [{ id: 1, name: 'my-app' }], environments: [] },
      createdAt: new Date('2030-01-01T00:00:00Z'),
      expiresAt: new Date('2030-01-31T00:00:00Z'),
      revokedAt: null,
      lastUsedAt: null,
    });
    const { rows } = await lane.db.query<Record<string, unknown>>('SELECT * FROM api_tokens');
    expect(rows).toHaveLength(1);
    const stored = JSON.stringify(rows[0]);
    expect(stored).not.toContain(secret.slice(secretPrefix(secret).length));
    expect(Buffer.from(rows[0]?.secret_sha256 as Buffer).equals(secretHash(secret))).toBe(true);

    const listed = await tokens.list();
    expect(listed).toEqual([token]);
    expect(JSON.stringify(listed)).not.toContain(secret.slice(8));
    expect(Object.keys(listed[0] ?? {})).not.toContain('secretSha256');
  });

  it('authenticates a secret to its principal, with the scope it was given', async () => {
    const { token, secret } = await create({
      permission: 'read',
      scope: {
        all: false,
        apps: ['other'],
        environments: [{ app: 'my-app', environment: 'staging' }],
      },
    });
    const [staging] = (await config.listEnvironments('my-app')).filter((e) => e.name === 'staging');
    expect(await tokens.authenticate(secret)).toEqual({
      ok: true,
      principal: {
        tokenId: token.id,
        name: 'ci',
        prefix: token.prefix,
        permission: 'read',
        scope: { all: false, appIds: [2], environmentIds: [staging?.id] },
        expiresAt: token.expiresAt,
      },
    });
    expect(token.scope).toEqual({
      all: false,
      apps: [{ id: 2, name: 'other' }],
      environments: [{ id: staging?.id, app: 'my-app', name: 'staging' }],
    });

    const all = await create({ name: 'everything', scope: { all: true } });
    expect(await tokens.authenticate(all.secret)).toMatchObject({
      ok: true,
      principal: { name: 'everything', scope: { all: true } },
    });
  });

  it('refuses unknown, malformed, revoked and expired secrets, saying which', async () => {
    const { token, secret } = await create();
    const other = await create({ name: 'other', scope: { all: true } });
    await tokens.revoke('other');
    // The right shape and checksum, never issued: unknown.
    expect(await tokens.authenticate(generateSecret())).toMatchObject({
      ok: false,
      reason: 'unknown',
    });
    // The last character changed: its checksum no longer matches.
    const typo = `${secret.slice(0, -1)}${secret.endsWith('x') ? 'y' : 'x'}`;
    expect(await tokens.authenticate(typo)).toEqual({
      ok: false,
      reason: 'malformed',
    });
    expect(await tokens.authenticate(other.secret)).toEqual({
      ok: false,
      reason: 'revoked',
      tokenId: other.token.id,
      prefix: other.token.prefix,
    });

    time.advance(30 * DAY - 1);
    expect(await tokens.authenticate(secret)).toMatchObject({ ok: true });
    time.advance(1);
    expect(await tokens.authenticate(secret)).toEqual({
      ok: false,
      reason: 'expired',
      tokenId: token.id,
      prefix: token.prefix,
    });
  });

  it('revokes by name or id, once; the name can then be issued again', async () => {
    const first = await create();
    await expect(create()).rejects.toThrow(
      new UserError('a token with this name exists already (revoke it first, or pick another)'),
    );
    time.advance(1000);
    const revoked = await tokens.revoke('ci');
    expect(revoked).toMatchObject({
      alreadyRevoked: false,
      token: { id: first.token.id, revokedAt: time.now() },
    });
    expect(await tokens.revoke(String(first.token.id))).toMatchObject({ alreadyRevoked: true });
    expect(await tokens.revoke('ci')).toMatchObject({ alreadyRevoked: true });

    const second = await create();
    expect(second.token.id).not.toBe(first.token.id);
    expect(await tokens.revoke('ci')).toMatchObject({
      alreadyRevoked: false,
      token: { id: second.token.id },
    });
    expect((await tokens.list()).map((t) => [t.id, t.revokedAt !== null])).toEqual([
      [first.token.id, true],
      [second.token.id, true],
    ]);
    await expect(tokens.revoke('nope')).rejects.toThrow(
      new UserError('unknown token: nope (see: dag tokens list)'),
    );
    await expect(tokens.revoke('999')).rejects.toThrow(UserError);
  });

  it('records the last use at most once per interval', async () => {
    const { secret } = await create();
    const lastUsed = async () => (await tokens.list())[0]?.lastUsedAt;
    const writes: string[] = [];
    const db = {
      ...lane.db,
      query: <R>(text: string, values?: unknown[]) => {
        if (/^\s*UPDATE/.test(text)) writes.push(text);
        return lane.db.query<R>(text, values);
      },
    };
    const counted = new SqlApiTokenStore(db, config, { now: time.now, touchIntervalMs: 60_000 });

    await counted.authenticate(secret);
    expect(await lastUsed()).toEqual(time.now());
    const first = time.now();
    time.advance(59_999);
    await counted.authenticate(secret);
    await counted.authenticate(secret);
    expect(await lastUsed()).toEqual(first);
    expect(writes).toHaveLength(1);
    time.advance(1);
    await counted.authenticate(secret);
    expect(await lastUsed()).toEqual(time.now());
    expect(writes).toHaveLength(2);
  });

  it('refuses bad input before anything is stored', async () => {
    const refusals: [Partial<NewApiToken>, string][] = [
      [{ name: '12' }, 'invalid token name'],
      [{ name: 'has space' }, 'invalid token name'],
      [{ lifetimeMs: 366 * DAY }, 'tokens expire within 365 days at most'],
      [{ lifetimeMs: 0 }, 'tokens expire within 365 days at most'],
      [{ scope: { all: false, apps: [], environments: [] } }, 'a token needs a scope'],
      [{ scope: { all: false, apps: ['nope'], environments: [] } }, 'unknown app: nope'],
      [
        { scope: { all: false, apps: [], environments: [{ app: 'my-app', environment: 'qa' }] } },
        'unknown environment qa of app my-app',
      ],
    ];
    for (const [input, message] of refusals) {
      await expect(create(input)).rejects.toThrow(expect.objectContaining({ kind: 'user' }));
      await expect(create(input)).rejects.toThrow(message);
    }
    expect(await tokens.list()).toEqual([]);
  });

  it('holds the rules in the table too: expiry at most a year and a day, a scope row names one thing', async () => {
    const insert = (expires: string) =>
      lane.db.query(
        `INSERT INTO api_tokens (name, prefix, secret_sha256, permission, all_apps, created_at, expires_at)
         VALUES ('sql', 'dag_abcdefgh', $1, 'read', true, '2030-01-01Z', $2) RETURNING id`,
        [Buffer.alloc(32, 7), expires],
      );
    await expect(insert('2031-01-03Z')).rejects.toMatchObject({
      constraint: 'api_tokens_expiry_check',
    });
    await expect(insert('2029-12-31Z')).rejects.toMatchObject({
      constraint: 'api_tokens_expiry_check',
    });
    const { rows } = await insert('2030-12-31Z');
    await expect(
      lane.db.query(
        'INSERT INTO api_token_scopes (token_id, app_id, environment_id) VALUES ($1, 1, 1)',
        [(rows[0] as { id: number }).id],
      ),
    ).rejects.toMatchObject({ constraint: 'api_token_scopes_target_check' });
  });

  it('grants nothing once the apps and environments it named are gone', async () => {
    const { secret } = await create({
      scope: {
        all: false,
        apps: ['other'],
        environments: [{ app: 'my-app', environment: 'production' }],
      },
    });
    await config.removeApp('other');
    await config.removeEnvironment('my-app', 'production');
    expect(await tokens.authenticate(secret)).toMatchObject({
      ok: true,
      principal: { scope: { all: false, appIds: [], environmentIds: [] } },
    });
    expect((await tokens.list())[0]?.scope).toEqual({ all: false, apps: [], environments: [] });
  });
});
