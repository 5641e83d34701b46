// `dag tokens` on both databases: the embedded one (while DAG runs on it, so through its
// socket) and a real Postgres server. The tests in a lane run in order and build on each other,
// as an operator's session would.

import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isWellFormedSecret, secretHash } from '../../src/api/token.ts';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { Db } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { freshPostgresDatabase, type FreshDatabase } from '../helpers/databases.ts';
import { randomKey as keyBytes } from '../helpers/lanes.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';

type Lane = { dag: Dag; db: Db; close(): Promise<void> };

async function embeddedLane(): Promise<Lane> {
  const dir = tempDir('dag-tokens-');
  const dataDir = path.join(dir, 'data');
  const db = await runningDatabase(dataDir);
  return {
    dag: dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() }),
    db,
    close: async () => {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresLane(): Promise<Lane> {
  const database: FreshDatabase = await freshPostgresDatabase();
  const db = await openPostgres(database.url);
  return {
    dag: dagWith({ DATABASE_URL: database.url, DAG_ENCRYPTION_KEY: randomKey() }),
    db,
    close: async () => {
      await db.close();
      await database.drop();
    },
  };
}

type TokenJson = {
  id: number;
  name: string;
  prefix: string;
  permission: string;
  scope: { allApps: boolean; apps: string[]; environments: { app: string; name: string }[] };
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  secret?: string;
};

const WARNING = 'dag: copy the token now: DAG keeps only its hash and will not show it again\n';

describe.each([
  ['embedded', embeddedLane],
  ['postgres', postgresLane],
] as const)('dag tokens (%s)', (_name, open) => {
  let lane: Lane;
  let dag: Dag;
  let secret = '';

  beforeAll(async () => {
    lane = await open();
    dag = lane.dag;
    await runSteps(dag, appWithStaging('github', 'https://github.com/org/my-app'));
  }, 120_000);
  afterAll(async () => {
    await lane?.close();
  });

  const store = () =>
    new SqlApiTokenStore(lane.db, new SqlConfigStore(lane.db, new Keyring(keyBytes())));

  async function listJson(): Promise<TokenJson[]> {
    const result = await dag(['tokens', 'list', '--json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as TokenJson[];
  }

  it('says there are no tokens yet', async () => {
    expect(await dag(['tokens', 'list'])).toEqual({
      code: 0,
      stdout: '',
      stderr:
        'no tokens yet (issue one: dag tokens create --name NAME --permission read --app APP)\n',
    });
    expect(await listJson()).toEqual([]);
  });

  it('creates a token: the secret alone on stdout, once, with a warning; only its hash is stored', async () => {
    const before = Date.now();
    const created = await dag([
      ...['tokens', 'create', '--name', 'fixer', '--permission', 'propose'],
      ...['--app', 'my-app', '--env', 'my-app/staging', '--expires-in', '7d'],
    ]);
    expect(created.code, created.stderr).toBe(0);
    secret = created.stdout.trim();
    expect(created.stdout).toBe(`${secret}\n`);
    expect(isWellFormedSecret(secret)).toBe(true);
    const [info, warning] = created.stderr.split(/(?<=\n)/);
    expect(info).toMatch(
      /^created token 1: fixer \(dag_[0-9A-Za-z]{8}\.\.\.\), propose on my-app, my-app\/staging, expires \d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
    );
    expect(warning).toBe(WARNING);

    const { rows } = await lane.db.query<Record<string, unknown>>(
      'SELECT * FROM api_tokens t JOIN api_token_scopes s ON s.token_id = t.id',
    );
    expect(rows).toHaveLength(2);
    expect(JSON.stringify(rows)).not.toContain(secret.slice(12));
    expect(Buffer.from(rows[0]?.secret_sha256 as Buffer).equals(secretHash(secret))).toBe(true);
    const expires = new Date(rows[0]?.expires_at as Date).getTime();
    expect(expires - new Date(rows[0]?.created_at as Date).getTime()).toBe(7 * 86_400_000);
    expect(expires).toBeGreaterThanOrEqual(before + 7 * 86_400_000);

    expect(await store().authenticate(secret)).toMatchObject({
      ok: true,
      principal: { name: 'fixer', permission: 'propose' },
    });
  });

  it('creates one with --json (secret included) and --all-apps, 30 days by default', async () => {
    const created = await dag([
      ...['tokens', 'create', '--name', 'reader', '--permission', 'read', '--all-apps', '--json'],
    ]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toBe(WARNING);
    const json = JSON.parse(created.stdout) as TokenJson;
    expect(json).toEqual({
      id: 2,
      name: 'reader',
      prefix: json.secret?.slice(0, 12),
      permission: 'read',
      scope: { allApps: true, apps: [], environments: [] },
      createdAt: expect.stringMatching(/Z$/),
      expiresAt: expect.stringMatching(/Z$/),
      lastUsedAt: null,
      revokedAt: null,
      secret: expect.stringMatching(/^dag_/),
    });
    expect(Date.parse(json.expiresAt) - Date.parse(json.createdAt)).toBe(30 * 86_400_000);
  });

  it('lists tokens, never their secrets', async () => {
    const list = await dag(['tokens', 'list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ID\s+NAME\s+PREFIX\s+PERMISSION\s+SCOPE\s+EXPIRES\s+LAST-USED\s+REVOKED$/,
    );
    expect(lines[1]).toMatch(
      /^1\s+fixer\s+dag_\w{8}\s+propose\s+my-app, my-app\/staging\s+\S+Z\s+\S+Z\s+-$/,
    );
    expect(lines[2]).toMatch(/^2\s+reader\s+dag_\w{8}\s+read\s+all apps\s+\S+Z\s+-\s+-$/);
    expect(list.stdout).not.toContain(secret.slice(12));

    const [fixer] = await listJson();
    expect(fixer).toMatchObject({
      name: 'fixer',
      scope: {
        allApps: false,
        apps: ['my-app'],
        environments: [{ app: 'my-app', name: 'staging' }],
      },
      lastUsedAt: expect.stringMatching(/Z$/), // authenticated above
      revokedAt: null,
    });
    expect(Object.keys(fixer ?? {})).not.toContain('secret');
  });

  it.each([
    [
      ['--permission', 'read'],
      'a token needs a scope: --app APP or --env APP/ENV (repeatable), or --all-apps',
    ],
    [['--permission', 'write', '--all-apps'], "permission must be 'read' or 'propose'"],
    [
      ['--permission', 'read', '--all-apps', '--app', 'my-app'],
      'give either --all-apps or --app/--env, not both',
    ],
    [
      ['--permission', 'read', '--all-apps', '--expires-in', '400d'],
      'tokens expire within 365 days at most',
    ],
    [
      ['--permission', 'read', '--all-apps', '--expires-in', 'never'],
      'expiry must be a number of hours, days or weeks, e.g. 12h, 30d, 8w',
    ],
    [
      ['--permission', 'read', '--env', 'staging'],
      '--env takes APP/ENVIRONMENT, e.g. my-app/staging (got staging)',
    ],
    [['--permission', 'read', '--app', 'nope'], 'unknown app: nope (see: dag apps list)'],
    [
      ['--permission', 'read', '--env', 'my-app/qa'],
      'unknown environment qa of app my-app (see: dag envs list)',
    ],
    [
      ['--permission', 'read', '--all-apps', '--name', '42'],
      'invalid token name: 42 (a letter, then letters, digits, ".", "_" and "-"; at most 100)',
    ],
    [
      ['--permission', 'read', '--all-apps', '--name', 'fixer'],
      'a token with this name exists already (revoke it first, or pick another)',
    ],
  ])('refuses %j with exit 2', async (args, message) => {
    const name = args.includes('--name') ? [] : ['--name', 'refused'];
    const result = await dag(['tokens', 'create', ...name, ...args]);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `dag: ${message}\n` });
  });

  it('revokes by name, then by id (already), and refuses unknown ones', async () => {
    expect(await dag(['tokens', 'revoke', 'fixer'])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^revoked token 1: fixer \(dag_\w{8}\.\.\.\)\n$/),
    });
    expect(await store().authenticate(secret)).toMatchObject({ ok: false, reason: 'revoked' });
    expect(await dag(['tokens', 'revoke', '1'])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^token 1: fixer was already revoked \(\S+Z\)\n$/),
    });
    expect(await dag(['tokens', 'revoke', 'nope'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'dag: unknown token: nope (see: dag tokens list)\n',
    });
    const [fixer, reader] = await listJson();
    expect(fixer?.revokedAt).toMatch(/Z$/);
    expect(reader?.revokedAt).toBeNull();
    // The name is free again.
    const again = await dag([
      'tokens',
      'create',
      '--name',
      'fixer',
      '--permission',
      'read',
      '--all-apps',
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).not.toBe(secret);
  });

  it('never printed a secret other than where it was issued', () => {
    const transcript = dag.transcript();
    expect(transcript.split(secret.slice(4)).length - 1).toBe(1);
  });
});
