// What `dag` refuses before it touches any database: usage, input and configuration errors.
// None of these runs opens (or creates) the embedded database.

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.ts';
import { dagWith, randomKey, tempDir, TEST_CA_PEM, type Dag } from './run-dag.ts';

let dir: string;
let dataDir: string;
let dag: Dag;

beforeAll(() => {
  dir = tempDir();
  dataDir = path.join(dir, 'data');
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() });
});

afterAll(() => {
  expect(existsSync(dataDir)).toBe(false);
  rmSync(dir, { recursive: true, force: true });
});

const envsAdd = (overrides: Record<string, string>) => {
  const options: Record<string, string> = {
    '--app': 'my-app',
    '--branch': 'main',
    '--iac': 'prod-iac',
    '--path': 'clusters/production/my-app',
    '--cluster': 'prod-1',
    '--helm-type': 'flux',
    ...overrides,
  };
  return ['envs', 'add', ...Object.entries(options).flat()];
};

describe('dag usage', () => {
  it('shows help with exit 0 when asked, and with exit 2 when a command is missing', async () => {
    const help = await dag(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: dag [options] [command]');
    for (const group of ['db', 'apps', 'iacs', 'clusters', 'envs', 'jobs', 'doctor']) {
      expect(help.stdout).toMatch(new RegExp(`^  ${group}\\b`, 'm'));
    }
    expect((await dag(['help', 'envs'])).code).toBe(0);
    const missing = await dag(['apps']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('Usage: dag apps');
    expect((await dag([])).code).toBe(2);
  });

  it('reports commander usage errors on one line with exit 2', async () => {
    expect(await dag(['frobnicate'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "dag: unknown command 'frobnicate'\n",
    });
    // A near miss keeps commander's suggestion, on the same line.
    expect(await dag(['cluster'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "dag: unknown command 'cluster' (Did you mean clusters?)\n",
    });
    expect(await dag(['apps', 'add', '--provider', 'gitlab'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "dag: required option '--repo-url <url>' not specified\n",
    });
    const conflict = await dag(['jobs', 'list', '--failed', '--state', 'failed']);
    expect(conflict.code).toBe(2);
    expect(conflict.stderr).toMatch(/^dag: option '--failed' cannot be used with option '--state/);
  });

  it('has no --token option, and never echoes a value given to it', async () => {
    const help = await dag(['iacs', 'add', '--help']);
    expect(help.stdout).toContain('--token-stdin');
    expect(help.stdout).not.toMatch(/--token\b(?!-stdin)/);

    const secret = 'glpat-do-not-print-me';
    for (const args of [
      ['iacs', 'add', '--name', 'x', '--repo-url', 'https://gitlab.com/o/r', '--token', secret],
      ['iacs', 'add', '--name', 'x', '--repo-url', 'https://gitlab.com/o/r', `--token=${secret}`],
      ['clusters', 'add', '--name', 'c', '--api-url', 'https://k8s:6443', `--token=${secret}`],
      ['clusters', 'add', '--name', 'c', '--api-url', 'https://k8s:6443', `--sa-token=${secret}`],
    ]) {
      const result = await dag(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^dag: .*\n$/);
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
    expect(
      (
        await dag([
          'iacs',
          'add',
          '--name',
          'x',
          '--repo-url',
          'https://gitlab.com/o/r',
          '--token',
          secret,
        ])
      ).stderr,
    ).toContain('--token-stdin');
  });

  it('validates input before touching the database', async () => {
    const cases: [string[], string][] = [
      [
        ['apps', 'add', '--provider', 'gitlab', '--repo-url', 'not a url'],
        'dag: not a repository URL: not a url (expected e.g. https://gitlab.com/org/my-app)',
      ],
      [
        ['apps', 'add', '--provider', 'bitbucket', '--repo-url', 'https://bitbucket.org/o/r'],
        "dag: git provider must be 'github' or 'gitlab'",
      ],
      [
        [
          'apps',
          'add',
          '--provider',
          'github',
          '--repo-url',
          'https://github.com/o/r',
          '--name',
          'My App',
        ],
        'dag: invalid app name: My App (lower-case letters, digits, ".", "_" and "-")',
      ],
      [
        ['iacs', 'add', '--name', 'iac', '--repo-url', 'ftp://example.com/iac.git'],
        'dag: not a repository URL: ftp://example.com/iac.git (expected e.g. https://gitlab.com/org/iac-repo.git)',
      ],
      [
        [
          'iacs',
          'add',
          '--name',
          'iac',
          '--repo-url',
          'https://oauth2:glpat-secret1@gitlab.com/o/iac.git',
        ],
        'dag: the IAC repository URL must not contain credentials: give the token with --token-stdin or the environment instead',
      ],
      [
        ['clusters', 'add', '--name', 'c1', '--api-url', 'k8s.example.com:6443'],
        'dag: not a cluster API URL: k8s.example.com:6443 (expected e.g. https://k8s.example.com:6443)',
      ],
      [envsAdd({ '--helm-type': 'helm' }), "dag: helm type must be 'flux' or 'plain'"],
      [
        envsAdd({ '--path': '../escape' }),
        'dag: invalid IAC path: ../escape (relative, without "..", "." or spaces, e.g. clusters/staging/my-app)',
      ],
      [
        envsAdd({ '--namespace': 'Prod_NS' }),
        'dag: invalid namespace: Prod_NS (a DNS-1123 label: lower-case letters, digits and "-", at most 63)',
      ],
      [envsAdd({ '--branch': 'my branch' }), 'dag: --branch must not be empty or contain spaces'],
      [
        ['jobs', 'list', '--state', 'broken'],
        'dag: job state must be one of created, retry, active, completed, cancelled, failed',
      ],
      [['jobs', 'list', '--limit', '0'], 'dag: --limit must be a whole number from 1 to 1000'],
      [['jobs', 'retry', '42'], 'dag: not a job id: 42 (see: dag jobs list)'],
    ];
    for (const [args, message] of cases) {
      expect(await dag(args), args.join(' ')).toEqual({
        code: 2,
        stdout: '',
        stderr: `${message}\n`,
      });
    }
  });

  it('reads the CA file and the token before touching the database', async () => {
    const base = ['clusters', 'add', '--name', 'c1', '--api-url', 'https://k8s.example.com:6443'];
    const notPem = path.join(dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello\n');
    const withKey = path.join(dir, 'with-key.pem');
    writeFileSync(
      withKey,
      `${TEST_CA_PEM}\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n`,
    );
    const broken = path.join(dir, 'broken.pem');
    writeFileSync(broken, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');

    expect((await dag([...base, '--ca-file', path.join(dir, 'missing.pem')])).stderr).toBe(
      `dag: cannot read the CA file ${path.join(dir, 'missing.pem')}\n`,
    );
    expect((await dag([...base, '--ca-file', notPem])).stderr).toMatch(/is not a PEM certificate/);
    expect((await dag([...base, '--ca-file', withKey])).stderr).toMatch(/contains a private key/);
    expect((await dag([...base, '--ca-file', broken])).stderr).toMatch(
      /holds a malformed certificate/,
    );

    const empty = await dag([...base, '--token-stdin'], { stdin: '\n' });
    expect(empty).toMatchObject({
      code: 2,
      stderr: 'dag: --token-stdin was given but stdin was empty\n',
    });
    const spaced = await dag([...base, '--token-stdin'], { stdin: 'two words here\n' });
    expect(spaced).toMatchObject({ code: 2 });
    expect(spaced.stderr).not.toContain('two words');
  });

  it('exits 3 on a configuration error, naming the setting but not its value', async () => {
    const badKey = 'zz-not-a-key-zz';
    const result = await dag(['apps', 'list'], { env: { DAG_ENCRYPTION_KEY: badKey } });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^dag: DAG_ENCRYPTION_KEY must be 32 bytes/);
    expect(result.stderr).not.toContain(badKey);

    const noKey = await dag(['apps', 'list'], {
      env: { DAG_ENCRYPTION_KEY: undefined, DATABASE_URL: 'postgres://dag@127.0.0.1:1/dag' },
    });
    expect(noKey.code).toBe(3);
    expect(noKey.stderr).toMatch(/^dag: DAG_ENCRYPTION_KEY is required with DATABASE_URL/);
  });

  it('exits 4 when the database cannot be reached, without printing its password', async () => {
    const password = 'pg-password-1234';
    const env = { DATABASE_URL: `postgres://dag:${password}@127.0.0.1:1/dag` };
    const result = await dag(['apps', 'list'], { env });
    expect(result).toEqual({
      code: 4,
      stdout: '',
      stderr: 'dag: cannot reach Postgres at postgres://dag@127.0.0.1:1/dag\n',
    });

    const doctor = await dag(['doctor'], { env });
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(
      /^fail\s+database\s+cannot reach Postgres at postgres:\/\/dag@127\.0\.0\.1:1\/dag$/m,
    );
    expect(doctor.stdout + doctor.stderr).not.toContain(password);
  });

  it('doctor does not create an embedded database or a key file', async () => {
    const fresh = tempDir();
    try {
      const result = await dagWith({ DAG_DATA_DIR: path.join(fresh, 'data') })([
        'doctor',
        '--json',
      ]);
      expect(result.code).toBe(0);
      const checks = JSON.parse(result.stdout) as { name: string; status: string }[];
      expect(checks.find((c) => c.name === 'database')?.status).toBe('warn');
      expect(checks.find((c) => c.name === 'encryption key')?.status).toBe('warn');
      expect(existsSync(path.join(fresh, 'data'))).toBe(false);
      expect(existsSync(path.join(fresh, 'encryption.key'))).toBe(false);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('builds a program that runs in-process on injected io', async () => {
    let out = '';
    const program = buildProgram({
      env: {},
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: () => true },
      stdin: Readable.from([]),
    });
    await expect(program.parseAsync(['--version'], { from: 'user' })).rejects.toMatchObject({
      exitCode: 0,
      code: 'commander.version',
    });
    expect(out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
