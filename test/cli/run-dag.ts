// Runs `dag` in-process (runCli over buildProgram) with captured output and an injected env.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { runCli } from '../../src/cli/program.ts';
import type { Db } from '../../src/store/db.ts';
import { openEmbedded } from '../../src/store/embedded.ts';
import { migratedTemplate } from '../helpers/lanes.ts';

export type Env = Record<string, string | undefined>;
export type DagResult = { code: number; stdout: string; stderr: string };
export type Dag = ((
  args: string[],
  options?: { stdin?: string; env?: Env },
) => Promise<DagResult>) & {
  /** Everything every run wrote, stdout and stderr, for leak checks. */
  transcript(): string;
};

export function randomKey(): string {
  return randomBytes(32).toString('hex');
}

export function tempDir(prefix = 'dag-cli-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** A `dag` bound to one environment; each call may add to it and feed stdin. */
export function dagWith(baseEnv: Env): Dag {
  const all: string[] = [];
  const run = async (args: string[], options: { stdin?: string; env?: Env } = {}) => {
    let stdout = '';
    let stderr = '';
    const code = await runCli(args, {
      env: { ...baseEnv, ...options.env },
      stdout: { write: (chunk: string) => (stdout += chunk) },
      stderr: { write: (chunk: string) => (stderr += chunk) },
      stdin: Readable.from(options.stdin === undefined ? [] : [options.stdin]),
    });
    all.push(stdout, stderr);
    return { code, stdout, stderr };
  };
  return Object.assign(run, { transcript: () => all.join('\n') });
}

/**
 * The embedded database in DAG_DATA_DIR `dataDir`, open as a running DAG keeps it: `dag`
 * commands then go through its socket instead of starting the database each time. A new one
 * starts migrated (from the test template).
 */
export async function runningDatabase(dataDir: string): Promise<Db> {
  return openEmbedded(dataDir, { template: await migratedTemplate() });
}

/** A self-signed CA certificate (public test material, no key anywhere). */
export const TEST_CA_PEM = [
  '-----BEGIN CERTIFICATE-----',
  'MIIBizCCATGgAwIBAgIUWTVauYQHFrnNdkqL8Rhn1gy1OhUwCgYIKoZIzj0EAwIw',
  'GjEYMBYGA1UEAwwPZGFnLWNsaS10ZXN0LWNhMCAXDTI2MTEyMTAwMTM0OVoYDzIx',
  'MjYxMDI4MDAxMzQ5WjAaMRgwFgYDVQQDDA9kYWctY2xpLXRlc3QtY2EwWTATBgcq',
  'hkjOPQIBBggqhkjOPQMBBwNCAAS4BOiPmY3uC7CWZPojRDyKOA3M0+3FYZYIVg1b',
  '/BxgjZVP0c5Q2LR1eMad36+DUdgtfU/XluKCUjn8eAkVM6pNo1MwUTAdBgNVHQ4E',
  'FgQU6bxW91bTWtrhVihDS90qrDd3ZacwHwYDVR0jBBgwFoAU6bxW91bTWtrhVihD',
  'S90qrDd3ZacwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA7jE+',
  'rajHIKZVfxUl2RiHvm1d7FmHrnHPZxvHX7ZZ8D4CIG6SDdKIVsMgqjFxrIpx7W42',
  'iRrWUgSPgfa5nZkQDJBv',
  '-----END CERTIFICATE-----',
].join('\n');

export function writeCaFile(dir: string): string {
  const file = path.join(dir, 'ca.pem');
  writeFileSync(file, `${TEST_CA_PEM}\n`);
  return file;
}

/** Runs `dag` commands in order; each must succeed. */
export async function runSteps(dag: Dag, steps: string[][]): Promise<void> {
  for (const args of steps) {
    const result = await dag(args);
    if (result.code !== 0) {
      throw new Error(`dag ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
    }
  }
}

/** A migrated database with one app, an IAC repo `iac`, a cluster `k8s` and a staging environment. */
export function appWithStaging(provider: 'github' | 'gitlab', repoUrl: string): string[][] {
  return [
    ['db', 'migrate'],
    ['apps', 'add', '--provider', provider, '--repo-url', repoUrl],
    ['iacs', 'add', '--name', 'iac', '--repo-url', `${new URL(repoUrl).origin}/org/iac.git`],
    ['clusters', 'add', '--name', 'k8s', '--api-url', 'https://k8s.example.com:6443'],
    [
      ...['envs', 'add', '--app', 'my-app', '--branch', 'develop', '--iac', 'iac'],
      ...['--path', 'clusters/staging/my-app', '--cluster', 'k8s', '--helm-type', 'flux'],
      ...['--namespace', 'staging'],
    ],
  ];
}

/** `dag render` of my-app's staging environment at `sha`, from a checkout, into `out`. */
export function renderArgs(sha: string, repoDir: string, out?: string): string[] {
  return [
    ...['render', 'my-app', 'staging', '--sha', sha, '--branch', 'develop', '--repo-dir', repoDir],
    ...(out ? ['--out', out] : []),
  ];
}
