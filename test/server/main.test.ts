import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { freePort } from '../helpers/free-port.ts';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'dag-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm start (src/main.ts) from a fresh clone', () => {
  it('runs on the embedded database in setup mode, then stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      DAG_DATA_DIR: dir,
    };
    // No key set: like a fresh clone, DAG generates one in DAG_DATA_DIR, beside data/.
    const child = spawn(process.execPath, ['src/main.ts'], { cwd: root, env, stdio: 'pipe' });
    let output = '';
    child.stdout.on('data', (d) => (output += String(d)));
    child.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        async () => (await fetch(`${base}/readyz`).catch(() => undefined))?.status === 200,
        // a fresh embedded database runs initdb (WebAssembly) first: slow on a busy machine
        { timeoutMs: 90_000, what: '/readyz' },
      );
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const setup = await fetch(`${base}/probot`);
      expect(setup.status).toBe(200);
      expect(await setup.text()).toContain('<form');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(output).toContain('DAG is listening');
    expect(existsSync(path.join(dir, 'encryption.key'))).toBe(true);
    // The database process stopped with DAG, cleanly: its lock and socket are gone.
    expect(existsSync(path.join(dir, 'data.lock'))).toBe(false);
    expect(existsSync(path.join(dir, 'socket', '.s.PGSQL.5432'))).toBe(false);
  }, 120_000);

  it('refuses to start a GitHub App without WEBHOOK_SECRET, with a clear error', async () => {
    const child = spawn(process.execPath, ['src/main.ts'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        APP_ID: '1',
        PRIVATE_KEY: '-----BEGIN RSA PRIVATE KEY-----\nx\n-----END RSA PRIVATE KEY-----',
      },
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain('WEBHOOK_SECRET is required');
  });
});
