// `dag promotions` (and the IAC provider it relies on) against one embedded database: the
// tests run in order and build on each other, as an operator's session would.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/db.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';

let dag: Dag;
let dataDir: string;
let db: Db;

afterAll(() => db?.close());

const envsAdd = (name: string, branch: string, iacBranch?: string) => [
  ...['envs', 'add', '--app', 'my-app', '--name', name, '--branch', branch, '--iac', 'iac'],
  ...['--path', `clusters/${name}/my-app`, '--cluster', 'k8s', '--helm-type', 'flux'],
  ...(iacBranch ? ['--iac-branch', iacBranch] : []),
];

type RouteJson = {
  id: number;
  app: string;
  from: string;
  to: string;
  strategy: string;
  strategyInferred: boolean;
  automatic: boolean;
  promotion: { state: string; url: string; number: number } | null;
};

async function listJson(...args: string[]): Promise<RouteJson[]> {
  const result = await dag(['promotions', 'list', '--json', ...args]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as RouteJson[];
}

beforeAll(async () => {
  dataDir = path.join(tempDir('dag-promotions-'), 'data');
  db = await runningDatabase(dataDir);
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() });
  await runSteps(dag, [
    ...appWithStaging('github', 'https://github.com/org/my-app'),
    envsAdd('production', 'main'),
    envsAdd('qa', 'qa', 'qa'),
    envsAdd('preprod', 'preprod', 'preprod'),
  ]);
}, 120_000);

describe('dag promotions', () => {
  it('says there are no routes yet', async () => {
    expect(await dag(['promotions', 'list'])).toEqual({
      code: 0,
      stdout: '',
      stderr:
        'no promotion routes yet (add one: dag promotions add --app APP --from staging --to production)\n',
    });
    expect(await listJson()).toEqual([]);
  });

  it('adds routes, inferring the strategy when none is given', async () => {
    const staging = await dag([
      'promotions',
      'add',
      '--app',
      'my-app',
      '--from',
      'staging',
      '--to',
      'production',
    ]);
    expect(staging).toEqual({
      code: 0,
      stdout:
        'added promotion route 1 of app my-app: staging -> production, folder (inferred), on request, /promote needs maintain\n',
      stderr: '',
    });
    const qa = await dag([
      ...['promotions', 'add', '--app', 'my-app', '--from', 'qa', '--to', 'preprod'],
      '--automatic',
    ]);
    expect(qa.stdout).toBe(
      'added promotion route 2 of app my-app: qa -> preprod, iac-branch (inferred), after every deploy, /promote needs write\n',
    );
    const chosen = await dag([
      ...['promotions', 'add', '--app', 'my-app', '--from', 'preprod', '--to', 'production'],
      ...['--strategy', 'app-branch', '--permission', 'write'],
    ]);
    expect(chosen.stdout).toBe(
      'added promotion route 3 of app my-app: preprod -> production, app-branch, on request, /promote needs write\n',
    );
  });

  it('lists routes with their current promotion pull request', async () => {
    // A promotion as the workflow records it (the CLI only reads them).
    await db.query(`
      INSERT INTO promotions (route_id, repo_url, number, url, branch, base_branch, state)
        VALUES (1, 'https://github.com/org/iac', 12, 'https://github.com/org/iac/pull/12',
                'dag/promote/my-app/production', 'main', 'open')`);

    const table = await dag(['promotions', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')).toEqual([
      expect.stringMatching(
        /^APP\s+FROM\s+TO\s+STRATEGY\s+AUTOMATIC\s+PERMISSION\s+PROMOTION\s+PULL REQUEST$/,
      ),
      expect.stringMatching(
        /^my-app\s+staging\s+production\s+folder \(inferred\)\s+no\s+maintain\s+open\s+https:\/\/github\.com\/org\/iac\/pull\/12$/,
      ),
      expect.stringMatching(
        /^my-app\s+qa\s+preprod\s+iac-branch \(inferred\)\s+yes\s+write\s+-\s+-$/,
      ),
      expect.stringMatching(/^my-app\s+preprod\s+production\s+app-branch\s+no\s+write\s+-\s+-$/),
      '',
    ]);

    const json = await listJson('--app', 'my-app');
    expect(json.map((r) => [r.from, r.to, r.strategy, r.strategyInferred, r.automatic])).toEqual([
      ['staging', 'production', 'folder', true, false],
      ['qa', 'preprod', 'iac-branch', true, true],
      ['preprod', 'production', 'app-branch', false, false],
    ]);
    expect(json[0]).toMatchObject({
      id: 1,
      app: 'my-app',
      promotion: { state: 'open', url: 'https://github.com/org/iac/pull/12', number: 12 },
    });
    expect(json[1]?.promotion).toBeNull();
  });

  it.each([
    [
      'an unknown permission, listing the choices',
      ['--from', 'staging', '--to', 'qa', '--permission', 'owner'],
      'dag: permission must be one of read, triage, write, maintain, admin\n',
    ],
    [
      'an unknown strategy, listing the choices',
      ['--from', 'staging', '--to', 'qa', '--strategy', 'merge'],
      'dag: strategy must be one of folder, iac-branch, app-branch\n',
    ],
    [
      'an unknown environment',
      ['--from', 'staging', '--to', 'prod'],
      'dag: app my-app has no environment named prod (see: dag envs list --app my-app)\n',
    ],
    [
      'a malformed environment name',
      ['--from', 'Staging', '--to', 'qa'],
      'dag: invalid environment name: Staging (lower-case letters, digits, ".", "_" and "-", at most 63)\n',
    ],
    [
      'one environment to itself',
      ['--from', 'qa', '--to', 'qa'],
      'dag: an environment cannot promote to itself: qa\n',
    ],
    [
      'a route that exists',
      ['--from', 'staging', '--to', 'production'],
      'dag: app my-app already promotes staging to production\n',
    ],
    [
      'a strategy the environments cannot use',
      ['--from', 'staging', '--to', 'qa', '--strategy', 'iac-branch'],
      "dag: app my-app: strategy 'iac-branch' needs both IAC branches named: staging writes the default branch of iac, which DAG cannot compare with qa's branch qa\n",
    ],
  ])('refuses %s with exit 2', async (_what, args, stderr) => {
    expect(await dag(['promotions', 'add', '--app', 'my-app', ...args])).toEqual({
      code: 2,
      stdout: '',
      stderr,
    });
  });

  it('refuses an unknown app and a missing option with exit 2', async () => {
    const unknown = await dag(['promotions', 'list', '--app', 'nope']);
    expect(unknown).toMatchObject({
      code: 2,
      stderr: 'dag: unknown app: nope (see: dag apps list)\n',
    });
    const missing = await dag(['promotions', 'add', '--app', 'my-app', '--from', 'staging']);
    expect(missing).toMatchObject({
      code: 2,
      stderr: "dag: required option '--to <env>' not specified\n",
    });
  });

  it('removes a route, and explains one that is not there', async () => {
    const args = ['promotions', 'remove', '--app', 'my-app', '--from', 'qa', '--to', 'preprod'];
    expect(await dag(args)).toEqual({
      code: 0,
      stdout: 'removed promotion route 2 of app my-app: qa -> preprod\n',
      stderr: '',
    });
    expect(await dag(args)).toEqual({
      code: 2,
      stdout: '',
      stderr:
        'dag: app my-app has no promotion route from qa to preprod (see: dag promotions list)\n',
    });
    expect((await listJson()).map((r) => r.id)).toEqual([1, 3]);
  });
});

describe('dag iacs --provider', () => {
  it('records where promotion pull requests of an IAC repository open', async () => {
    const added = await dag([
      ...['iacs', 'add', '--name', 'self-hosted', '--provider', 'gitlab'],
      ...['--repo-url', 'https://git.example.com/org/iac.git'],
    ]);
    expect(added.stdout).toBe(
      'added IAC repository 2: self-hosted (https://git.example.com/org/iac.git on gitlab) without a token (DAG will clone and push anonymously)\n',
    );
    const json = JSON.parse((await dag(['iacs', 'list', '--json'])).stdout) as {
      name: string;
      gitProvider: string | null;
    }[];
    expect(json.map((i) => [i.name, i.gitProvider])).toEqual([
      ['iac', null],
      ['self-hosted', 'gitlab'],
    ]);
    const table = (await dag(['iacs', 'list'])).stdout.split('\n');
    expect(table[0]).toMatch(/^ID\s+NAME\s+PROVIDER\s+REPOSITORY\s+TOKEN$/);
    expect(table[1]).toMatch(/^1\s+iac\s+-\s+https:\/\/github\.com\/org\/iac\.git\s+-$/);
    expect(table[2]).toMatch(
      /^2\s+self-hosted\s+gitlab\s+https:\/\/git\.example\.com\/org\/iac\.git\s+-$/,
    );
  });

  it('refuses a provider DAG does not know with exit 2', async () => {
    expect(
      await dag([
        ...['iacs', 'add', '--name', 'x', '--provider', 'gitea'],
        ...['--repo-url', 'https://git.example.com/org/x.git'],
      ]),
    ).toEqual({ code: 2, stdout: '', stderr: "dag: git provider must be 'github' or 'gitlab'\n" });
  });
});
