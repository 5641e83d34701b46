// The embedded database's process as DAG lives with it: started, shared with nobody, gone with
// its parent, missed when it dies; the data folder's layout and the key that goes with it.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { createLogger } from '../../src/log.ts';
import { startService } from '../../src/service.ts';
import { readSettings } from '../../src/settings.ts';
import { openEmbedded } from '../../src/store/embedded.ts';
import { loadKeyring } from '../../src/store/keys.ts';
import { shippedMigrations } from '../../src/store/migrate.ts';
import { migratedTemplate } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { testPrivateKey } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';
import { tempDir } from '../cli/run-dag.ts';

const root = path.resolve(import.meta.dirname, '../..');

/** A process that is gone, or a zombie nobody reaped yet (it no longer runs either). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

const lockPid = (dataDir: string) =>
  Number.parseInt(readFileSync(path.join(dataDir, 'data.lock'), 'utf8'), 10);

let dir: string;
let template: string;
beforeAll(async () => {
  dir = tempDir('dag-embedded-');
  template = await migratedTemplate();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the embedded database process', () => {
  it('stops, flushing its data, when the DAG process that started it is killed', async () => {
    const dataDir = path.join(dir, 'orphaned');
    const parent = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openEmbedded } from ${JSON.stringify(path.join(root, 'src/store/embedded.ts'))};
         const db = await openEmbedded(process.env.DATA_DIR, { template: process.env.TEMPLATE });
         await db.query('CREATE TABLE survived (x int)');
         console.log('ready');
         setInterval(() => {}, 60_000);`,
      ],
      { env: { PATH: process.env.PATH, DATA_DIR: dataDir, TEMPLATE: template }, stdio: 'pipe' },
    );
    let output = '';
    parent.stderr.on('data', (chunk) => (output += String(chunk)));
    const [line] = (await once(parent.stdout, 'data')) as [Buffer];
    expect(String(line), output).toBe('ready\n');
    const child = lockPid(dataDir);
    expect(running(child)).toBe(true);

    parent.kill('SIGKILL');
    await waitFor(() => !running(child), {
      timeoutMs: 30_000,
      what: 'the database process to stop',
    });
    expect(existsSync(path.join(dataDir, 'data.lock'))).toBe(false); // it closed, not died

    const db = await openEmbedded(dataDir);
    try {
      expect((await db.query("SELECT to_regclass('survived') IS NOT NULL AS kept")).rows).toEqual([
        { kept: true },
      ]);
    } finally {
      await db.close();
    }
  }, 120_000);

  it('is one per folder: of two DAGs opening it at once, one gets a clear error', async () => {
    const dataDir = path.join(dir, 'contended');
    const results = await Promise.allSettled([
      openEmbedded(dataDir, { template }),
      openEmbedded(dataDir, { template }),
    ]);
    const opened = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    try {
      expect(opened).toHaveLength(1);
      expect(refused).toHaveLength(1);
      expect(refused[0]).toBeInstanceOf(ConfigError);
      expect(refused[0]?.message).toBe(
        `the embedded database at ${dataDir} is in use by another DAG process (pid ${lockPid(dataDir)}); stop it first, or set DATABASE_URL to share a Postgres server`,
      );
      // And whoever comes later, while it runs, is refused the same way.
      await expect(openEmbedded(dataDir)).rejects.toThrow(/is in use by another DAG process/);
    } finally {
      await Promise.all(opened.map((db) => db.close()));
    }
  }, 120_000);

  it('refuses a DAG_DATA_DIR too long for a socket path, before starting anything', async () => {
    const long = path.join(dir, 'x'.repeat(120));
    await expect(openEmbedded(long)).rejects.toThrow(
      /^the embedded database's socket path .*\/socket\/\.s\.PGSQL\.5432 is \d+ bytes, more than the 107 the OS allows: use a shorter DAG_DATA_DIR$/,
    );
    expect(existsSync(long)).toBe(false);
  });

  it('tells DAG when it dies: /readyz fails, and DAG is told to stop (by default it exits 1)', async () => {
    const dataDir = path.join(dir, 'lost');
    await (await openEmbedded(dataDir, { template })).close();
    let lost: (error: Error) => void = () => undefined;
    const died = new Promise<Error>((resolve) => (lost = resolve));
    const service = await startService(
      readSettings({
        HOST: '127.0.0.1',
        PORT: '0',
        DAG_DATA_DIR: dataDir,
        DAG_ENCRYPTION_KEY: 'b'.repeat(64),
        GITLAB_WEBHOOK_SECRET: 'gl-secret',
        LOG_LEVEL: 'silent',
      }),
      { log: quiet, onDatabaseLost: (error) => lost(error) },
    );
    try {
      expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
      process.kill(lockPid(dataDir), 'SIGKILL');
      expect((await died).message).toMatch(
        /^the embedded database process \(pid \d+\) exited \(SIGKILL\)/,
      );
      const readiness = await fetch(`${service.url}/readyz`);
      expect(readiness.status).toBe(503);
      expect(await readiness.json()).toMatchObject({ checks: { database: 'unreachable' } });
    } finally {
      await service.close();
    }
  }, 120_000);
});

describe('DAG_DATA_DIR: the data and its key, in one folder', () => {
  it('keeps a generated key beside the data, and refuses secrets it cannot open', async () => {
    const dataDir = path.join(dir, 'keyed');
    await (await openEmbedded(dataDir, { template })).close();
    const settings = readSettings({
      HOST: '127.0.0.1',
      PORT: '0',
      DAG_DATA_DIR: dataDir,
      APP_ID: '7',
      PRIVATE_KEY: testPrivateKey,
      WEBHOOK_SECRET: 'gh-secret',
    });
    const lines: string[] = [];
    const log = createLogger({
      level: 'info',
      destination: { write: (line: string) => void lines.push(line) },
    });
    const first = await startService(settings, { log });
    const token = 'glpat-do-not-print-me';
    await first.db.query(
      "INSERT INTO iacs (name, repo_url, access_token) VALUES ('iac', 'https://gitlab.com/o/iac.git', $1)",
      [token],
    );
    await first.close();
    const keyFile = path.join(dataDir, 'encryption.key');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    // The next start seals the token with that key; losing the key file loses the token.
    await (await startService(settings, { log })).close();
    rmSync(keyFile);
    const refused = startService(settings, { log });
    await expect(refused).rejects.toThrow(ConfigError);
    await expect(refused).rejects.toThrow(
      new RegExp(
        `^1 stored secret\\(s\\) cannot be opened with the configured encryption key [0-9a-f]{8}: iacs\\.access_token row 1, sealed with key [0-9a-f]{8}\\. Set the key that sealed them in DAG_ENCRYPTION_KEY or DAG_ENCRYPTION_OLD_KEYS \\(or put that key's file back at ${keyFile}\\); `,
      ),
    );
    expect(lines.join('')).not.toContain(token);
    expect(existsSync(path.join(dataDir, 'data.lock'))).toBe(false); // the refused start closed it
  }, 180_000);

  it("opens a DAG_DATA_DIR that is an older DAG's PGlite folder in place, and brings its key in", async () => {
    const parent = path.join(dir, 'legacy');
    await (await openEmbedded(parent, { template })).close(); // PGlite files in legacy/data/
    const key = `${'c'.repeat(64)}\n`;
    writeFileSync(path.join(parent, 'encryption.key'), key, { mode: 0o600 });
    const legacyDir = path.join(parent, 'data'); // what DAG_DATA_DIR used to name

    const db = await openEmbedded(legacyDir);
    try {
      expect((await db.query('SELECT count(*)::int AS n FROM dag_migrations')).rows[0]).toEqual({
        n: shippedMigrations().length,
      });
      expect(existsSync(path.join(legacyDir, 'data'))).toBe(false); // no new, empty database
    } finally {
      await db.close();
    }
    const settings = readSettings({ DAG_DATA_DIR: legacyDir });
    const keyring = loadKeyring(settings.encryption, settings.database, quiet);
    expect(readFileSync(path.join(legacyDir, 'encryption.key'), 'utf8')).toBe(key);
    expect(keyring.current.toString('hex')).toBe('c'.repeat(64));
  }, 120_000);
});

describe('the socket folder', () => {
  it("is open to DAG's user only", async () => {
    const dataDir = path.join(dir, 'private');
    mkdirSync(path.join(dataDir, 'socket'), { recursive: true, mode: 0o755 });
    const db = await openEmbedded(dataDir, { template });
    try {
      expect(statSync(path.join(dataDir, 'socket')).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(dataDir, 'socket', '.s.PGSQL.5432')).mode & 0o777).toBe(0o600);
    } finally {
      await db.close();
    }
  }, 120_000);
});
