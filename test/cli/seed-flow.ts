// Seed 000 ("Creating Apps") done with the CLI instead of SQL, asserted step by step.
// Shared by the embedded and the Postgres lanes.

import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { Dag } from './run-dag.ts';

export type SeedTokens = { iac: string; cluster: string };

export function seedTokens(): SeedTokens {
  return {
    iac: `glpat-${randomBytes(12).toString('hex')}`,
    cluster: `eyJhbGciOiJSUzI1NiJ9.${randomBytes(24).toString('base64url')}`,
  };
}

/** The keys `dag envs list --json` prints for each environment, in order. */
export const ENVIRONMENT_JSON_KEYS = [
  'id',
  'app',
  'appId',
  'name',
  'branch',
  'iac',
  'iacId',
  'iacPath',
  'iacBranch',
  'reconciledBranch',
  'cluster',
  'clusterId',
  'helmType',
  'helmNamespace',
  'helmName',
  'rules',
  'createdAt',
];

function ok(result: { code: number; stderr: string }): void {
  expect(result.stderr).not.toMatch(/^dag: (?!note|warning)/m);
  expect(result.code).toBe(0);
}

export async function runSeedFlow(dag: Dag, caFile: string, tokens: SeedTokens): Promise<void> {
  // 1. Register the app
  let result = await dag([
    'apps',
    'add',
    '--provider',
    'gitlab',
    '--repo-url',
    'https://gitlab.com/org/my-app',
  ]);
  ok(result);
  expect(result.stdout).toMatch(
    /^added app \d+: my-app \(gitlab, https:\/\/gitlab.com\/org\/my-app\)$/m,
  );

  // 2. Add an IAC repository, its token on stdin
  result = await dag(
    [
      'iacs',
      'add',
      '--name',
      'prod-iac',
      '--repo-url',
      'https://gitlab.com/org/iac-repo.git',
      '--token-stdin',
    ],
    { stdin: `${tokens.iac}\n` },
  );
  ok(result);
  expect(result.stdout).toContain('prod-iac');
  expect(result.stdout).toContain('sealed access token');

  // 3. Add a cluster with its CA file and service account token
  result = await dag(
    [
      'clusters',
      'add',
      '--name',
      'prod-1',
      '--api-url',
      'https://k8s.example.com:6443',
      '--ca-file',
      caFile,
      '--token-stdin',
    ],
    { stdin: tokens.cluster },
  );
  ok(result);
  expect(result.stdout).toContain('added cluster');

  // 4. Two environments: develop -> staging, main -> production
  for (const [branch, env] of [
    ['develop', 'staging'],
    ['main', 'production'],
  ] as const) {
    result = await dag([
      'envs',
      'add',
      '--app',
      'my-app',
      '--branch',
      branch,
      '--iac',
      'prod-iac',
      '--path',
      `clusters/${env}/my-app`,
      '--cluster',
      'prod-1',
      '--helm-type',
      'flux',
      '--namespace',
      env,
      '--release',
      'my-app',
    ]);
    ok(result);
    expect(result.stdout).toContain(`added environment ${env} to app my-app`);
  }

  result = await dag(['envs', 'list', '--json']);
  ok(result);
  const envs = JSON.parse(result.stdout) as Record<string, unknown>[];
  expect(envs.map((e) => e.name)).toEqual(['staging', 'production']);
  for (const env of envs) expect(Object.keys(env)).toEqual(ENVIRONMENT_JSON_KEYS);
  expect(envs[1]).toMatchObject({
    app: 'my-app',
    name: 'production',
    branch: 'main',
    iac: 'prod-iac',
    iacPath: 'clusters/production/my-app',
    iacBranch: null,
    reconciledBranch: null,
    cluster: 'prod-1',
    helmType: 'flux',
    helmNamespace: 'production',
    helmName: 'my-app',
    rules: { requiresApproval: true, requiresGreenChecks: true, onlyFromOwnBranch: true },
  });
  expect(new Date(envs[1]?.createdAt as string).toISOString()).toBe(envs[1]?.createdAt);
}
