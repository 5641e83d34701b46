// The `dag` CLI against the embedded database (PGlite), one database for the whole file:
// the tests run in order and build on each other, as an operator's session would. First with
// no DAG running (the CLI starts the database process itself), then while one runs (the CLI
// goes through its socket).

import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import { openEmbedded } from '../../src/store/embedded.ts';
import { dagWith, randomKey, tempDir, writeCaFile, type Dag } from './run-dag.ts';
import { runSeedFlow, seedTokens } from './seed-flow.ts';

const tokens = seedTokens();
let dir: string;
let dataDir: string;
let caFile: string;
let dag: Dag;

beforeAll(() => {
  dir = tempDir();
  dataDir = path.join(dir, 'data');
  caFile = writeCaFile(dir);
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

let running: Db | undefined;

async function readColumn(sql: string): Promise<unknown[]> {
  const { rows } = await (running as Db).query<{ value: unknown }>(sql);
  return rows.map((r) => r.value);
}

describe('dag on the embedded database', () => {
  it('refuses an unmigrated database, then migrates it once (no DAG running)', async () => {
    const refused = await dag(['apps', 'list']);
    expect(refused).toMatchObject({ code: 3, stdout: '' });
    expect(refused.stderr).toBe('dag: database not migrated: run `dag db migrate`\n');

    const first = await dag(['db', 'migrate']);
    expect(first.code).toBe(0);
    // Every migration in src/store/migrations, in order, each once.
    const migrations = readdirSync(path.join(import.meta.dirname, '../../src/store/migrations'))
      .filter((name) => name.endsWith('.sql'))
      .sort()
      .map((name) => name.replace(/\.sql$/, ''));
    expect(migrations.length).toBeGreaterThanOrEqual(5);
    expect(first.stdout).toMatch(
      new RegExp(`^applied ${migrations.length} migration\\(s\\) to embedded \\(.*\\):\n`),
    );
    expect(first.stdout.split('\n').slice(1, -1)).toEqual(migrations.map((name) => `  ${name}`));

    const again = await dag(['db', 'migrate']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^database is up to date/);
  }, 180_000);

  describe('while DAG runs on it', () => {
    beforeAll(async () => {
      running = await openEmbedded(dataDir); // the database process, as DAG keeps it
    }, 120_000);
    afterAll(async () => {
      await running?.close();
      running = undefined;
    });

    it('runs the seed 000 flow', async () => {
      await runSeedFlow(dag, caFile, tokens);

      const apps = await dag(['apps', 'list']);
      expect(apps.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+PROVIDER\s+REPOSITORY$/);
      expect(apps.stdout).toMatch(/^1\s+my-app\s+gitlab\s+https:\/\/gitlab\.com\/org\/my-app$/m);

      const envs = await dag(['envs', 'list', '--app', 'https://gitlab.com/org/my-app.git']);
      const lines = envs.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(3);
      // aligned: every row's NAME column starts where the header's does
      const column = lines[0]?.indexOf('NAME') ?? -1;
      expect(lines.slice(1).map((l) => l.slice(column).split(/\s+/)[0])).toEqual([
        'staging',
        'production',
      ]);
    });

    it('prints --json lists with stable camelCase fields and no secrets', async () => {
      const apps = JSON.parse((await dag(['apps', 'list', '--json'])).stdout) as object[];
      expect(apps).toEqual([
        {
          id: 1,
          name: 'my-app',
          gitProvider: 'gitlab',
          repoUrl: 'https://gitlab.com/org/my-app',
          chartSource: 'app-repo',
          chartPath: 'chart',
          chartRepoUrl: null,
          chartName: null,
          chartVersion: null,
          chartSecretRef: null,
          imageRepository: null,
          imageTagFormat: '{{sha}}',
          valuesPath: 'deploy',
          autoDiff: true,
          createdAt: expect.stringMatching(/Z$/),
        },
      ]);
      const iacs = JSON.parse((await dag(['iacs', 'list', '--json'])).stdout) as object[];
      expect(iacs).toEqual([
        {
          id: 1,
          name: 'prod-iac',
          repoUrl: 'https://gitlab.com/org/iac-repo.git',
          gitProvider: null,
          hasToken: true,
          createdAt: expect.any(String),
        },
      ]);
      const clusters = JSON.parse((await dag(['clusters', 'list', '--json'])).stdout) as object[];
      expect(clusters).toEqual([
        {
          id: 1,
          name: 'prod-1',
          apiUrl: 'https://k8s.example.com:6443',
          hasCaCert: true,
          hasToken: true,
          createdAt: expect.any(String),
        },
      ]);
      expect((await dag(['iacs', 'list'])).stdout).toMatch(/^1\s+prod-iac\s+-\s+\S+\s+set$/m);
    });

    it('stores both tokens sealed and never prints them', async () => {
      const [iacToken] = await readColumn('SELECT access_token AS value FROM iacs');
      const [clusterToken] = await readColumn(
        'SELECT service_account_token AS value FROM clusters',
      );
      const [ca] = await readColumn('SELECT ca_cert AS value FROM clusters');
      expect(iacToken).toMatch(/^dag:v1:[0-9a-f]{8}:/);
      expect(clusterToken).toMatch(/^dag:v1:[0-9a-f]{8}:/);
      expect(String(iacToken)).not.toContain(tokens.iac);
      expect(ca).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);

      const transcript = dag.transcript();
      expect(transcript).not.toContain(tokens.iac);
      expect(transcript).not.toContain(tokens.cluster);
    });

    it('explains what went wrong, with exit code 2', async () => {
      const unknownApp = await dag([
        'envs',
        'add',
        '--app',
        'foo',
        '--branch',
        'main',
        '--iac',
        'prod-iac',
        '--path',
        'clusters/qa/foo',
        '--cluster',
        'prod-1',
        '--helm-type',
        'plain',
      ]);
      expect(unknownApp).toEqual({
        code: 2,
        stdout: '',
        stderr: 'dag: unknown app: foo (see: dag apps list)\n',
      });

      const duplicate = await dag([
        'envs',
        'add',
        '--app',
        'my-app',
        '--branch',
        'main',
        '--iac',
        'prod-iac',
        '--path',
        'clusters/production/my-app/',
        '--cluster',
        'prod-1',
        '--helm-type',
        'flux',
      ]);
      expect(duplicate.code).toBe(2);
      expect(duplicate.stderr).toBe(
        'dag: another environment already writes this IAC repository, branch and path\n',
      );

      const sameName = await dag([
        'envs',
        'add',
        '--app',
        '1',
        '--branch',
        'main',
        '--iac',
        'prod-iac',
        '--path',
        'clusters/eu/my-app',
        '--cluster',
        'prod-1',
        '--helm-type',
        'flux',
        '--name',
        'staging',
      ]);
      expect(sameName.code).toBe(2);
      expect(sameName.stderr).toBe('dag: this app already has an environment with this name\n');

      const duplicateApp = await dag([
        'apps',
        'add',
        '--provider',
        'gitlab',
        '--repo-url',
        'git@gitlab.com:org/my-app.git',
      ]);
      expect(duplicateApp).toMatchObject({
        code: 2,
        stderr: 'dag: app 1 (my-app) already uses this repository\n',
      });

      const inUse = await dag(['iacs', 'remove', 'prod-iac']);
      expect(inUse).toMatchObject({
        code: 2,
        stderr: 'dag: this IAC repository is still used by an environment\n',
      });
      expect(await dag(['clusters', 'remove', 'nope'])).toMatchObject({
        code: 2,
        stderr: 'dag: unknown cluster: nope (see: dag clusters list)\n',
      });
      expect(await dag(['envs', 'remove', 'my-app', 'qa'])).toMatchObject({ code: 2 });
    });

    it('adds an IAC repository without a token, and removes things', async () => {
      const added = await dag([
        'iacs',
        'add',
        '--name',
        'public-iac',
        '--repo-url',
        'file:///srv/git/iac.git',
      ]);
      expect(added.code).toBe(0);
      expect(added.stdout).toContain('without a token');
      const iacs = JSON.parse((await dag(['iacs', 'list', '--json'])).stdout) as {
        hasToken: boolean;
      }[];
      expect(iacs.map((i) => i.hasToken)).toEqual([true, false]);
      expect(await dag(['iacs', 'remove', 'public-iac'])).toMatchObject({ code: 0 });

      const removed = await dag(['envs', 'remove', 'my-app', 'staging']);
      expect(removed).toMatchObject({
        code: 0,
        stdout: 'removed environment staging of app my-app\n',
      });
      const left = JSON.parse(
        (await dag(['envs', 'list', '--app', 'my-app', '--json'])).stdout,
      ) as {
        name: string;
      }[];
      expect(left.map((e) => e.name)).toEqual(['production']);
    });

    it('lists an empty job queue and refuses to retry an unknown job', async () => {
      const table = await dag(['jobs', 'list']);
      expect(table).toEqual({ code: 0, stdout: '', stderr: 'no jobs\n' });
      const json = await dag(['jobs', 'list', '--failed', '--json']);
      expect(json).toMatchObject({ code: 0, stdout: '[]\n' });
      const retry = await dag(['jobs', 'retry', '7b0c8f3e-5b1e-4c5e-9d5e-0a1b2c3d4e5f']);
      expect(retry).toMatchObject({
        code: 2,
        stderr: 'dag: unknown job: 7b0c8f3e-5b1e-4c5e-9d5e-0a1b2c3d4e5f (see: dag jobs list)\n',
      });
    });

    it('doctor: all checks pass with the right key', async () => {
      const result = await dag(['doctor']);
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      const lines = result.stdout.trimEnd().split('\n');
      expect(
        lines.map((l) =>
          l
            .split(/\s{2,}/)
            .slice(0, 2)
            .join(' '),
        ),
      ).toEqual([
        'ok settings',
        'ok database',
        'ok migrations',
        'ok jobs',
        'ok encryption key',
        'ok sealed secrets',
        'warn github app',
        'ok webhook secret',
        'warn gitlab',
      ]);
      expect(result.stdout).toContain(`embedded (${dataDir})`);
      expect(result.stdout).toMatch(/key id [0-9a-f]{8} from env DAG_ENCRYPTION_KEY/);
      expect(result.stdout).toMatch(/2 secret\(s\) sealed with key [0-9a-f]{8}/);

      const json = JSON.parse((await dag(['doctor', '--json'])).stdout) as object[];
      expect(json).toHaveLength(9);
      expect(json[0]).toEqual({ name: 'settings', status: 'ok', message: expect.any(String) });
    });

    it('doctor: fails with another key, and with a malformed one', async () => {
      const otherKey = randomKey();
      const other = await dag(['doctor'], { env: { DAG_ENCRYPTION_KEY: otherKey } });
      expect(other.code).toBe(1);
      expect(other.stdout).toMatch(
        /^fail\s+sealed secrets\s+2 secret\(s\) sealed with a key that is not configured/m,
      );
      expect(other.stderr).toBe('dag: 1 check(s) failed\n');
      expect(other.stdout + other.stderr).not.toContain(otherKey);

      const malformed = await dag(['doctor'], { env: { DAG_ENCRYPTION_KEY: 'not-a-key' } });
      expect(malformed.code).toBe(1);
      expect(malformed.stdout).toMatch(/^fail\s+settings\s+DAG_ENCRYPTION_KEY must be 32 bytes/m);
      const command = await dag(['apps', 'list'], { env: { DAG_ENCRYPTION_KEY: 'not-a-key' } });
      expect(command.code).toBe(3);
      expect(command.stderr).toMatch(/^dag: DAG_ENCRYPTION_KEY must be 32 bytes/);
    });

    it('removes an app together with its environments', async () => {
      const removed = await dag(['apps', 'remove', 'my-app']);
      expect(removed).toMatchObject({
        code: 0,
        stdout: 'removed app 1: my-app and its 1 environment(s)\n',
      });
      expect(await dag(['envs', 'list', '--json'])).toMatchObject({ code: 0, stdout: '[]\n' });
    });
  });

  it('exits 4 while another process holds the embedded database; doctor only warns', async () => {
    const lock = path.join(dataDir, 'data.lock'); // beside PGlite's folder, data/
    writeFileSync(lock, String(process.ppid)); // a live process that is not this one
    try {
      const result = await dag(['apps', 'list']);
      expect(result.code).toBe(4);
      expect(result.stderr).toMatch(
        /^dag: the embedded database at .* is in use by another DAG process \(pid \d+\)/,
      );
      const doctor = await dag(['doctor']);
      expect(doctor.code).toBe(0);
      expect(doctor.stdout).toMatch(/^warn\s+database\s+the embedded database at .* is in use/m);
    } finally {
      rmSync(lock, { force: true });
    }
  });
});
