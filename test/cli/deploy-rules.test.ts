// `dag envs add/set` and the /deploy rules, `dag apps set --auto-diff`: what SQL did before.

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
let running: Db | undefined;

type Rules = {
  requiresApproval: boolean;
  requiresGreenChecks: boolean;
  onlyFromOwnBranch: boolean;
};

async function rulesOf(): Promise<Record<string, Rules>> {
  const result = await dag(['envs', 'list', '--json']);
  expect(result.code, result.stderr).toBe(0);
  const envs = JSON.parse(result.stdout) as { name: string; rules: Rules }[];
  return Object.fromEntries(envs.map((e) => [e.name, e.rules]));
}

const rules = (approval: boolean, checks: boolean, own: boolean): Rules => ({
  requiresApproval: approval,
  requiresGreenChecks: checks,
  onlyFromOwnBranch: own,
});

const production = [
  ...['envs', 'add', '--app', 'my-app', '--branch', 'main', '--iac', 'iac'],
  ...['--path', 'clusters/production/my-app', '--cluster', 'k8s', '--helm-type', 'flux'],
];

beforeAll(async () => {
  const dir = tempDir('dag-deploy-rules-');
  running = await runningDatabase(path.join(dir, 'data'));
  dag = dagWith({ DAG_DATA_DIR: path.join(dir, 'data'), DAG_ENCRYPTION_KEY: randomKey() });
  await runSteps(dag, appWithStaging('github', 'https://github.com/org/my-app'));
}, 120_000);
afterAll(() => running?.close());

describe('deploy rules from the CLI', () => {
  it('adds an environment with its rules, the rest keeping the default', async () => {
    const result = await dag([...production, '--no-requires-green-checks']);
    expect(result).toEqual({
      code: 0,
      stdout:
        'added environment production to app my-app: branch main -> iac:clusters/production/my-app, flux, cluster k8s; deploy rules: own-branch, approval\n',
      stderr: '',
    });
    expect(await rulesOf()).toEqual({
      staging: rules(false, false, false),
      production: rules(true, false, true),
    });
  });

  it('lists the rules in the table', async () => {
    const result = await dag(['envs', 'list']);
    const [header, ...rows] = result.stdout.trimEnd().split('\n');
    expect(header).toMatch(/\sDEPLOY-RULES$/);
    expect(rows[0]).toMatch(/\sstaging\s.*\s-$/);
    expect(rows[1]).toMatch(/\sproduction\s.*\sown-branch,approval$/);
  });

  it('sets and clears rules one by one, keeping the others', async () => {
    let result = await dag([
      ...['envs', 'set', 'my-app', 'staging', '--requires-approval'],
      '--requires-green-checks',
    ]);
    expect(result).toEqual({
      code: 0,
      stdout: 'updated environment staging of app my-app: deploy rules: approval, green-checks\n',
      stderr: '',
    });
    result = await dag(['envs', 'set', 'my-app', 'production', '--no-only-from-own-branch']);
    expect(result.stdout).toBe(
      'updated environment production of app my-app: deploy rules: approval\n',
    );
    expect(await rulesOf()).toEqual({
      staging: rules(true, true, false),
      production: rules(true, false, false),
    });
  });

  it('goes back to the defaults with --default-rules, other flags still applying', async () => {
    await runSteps(dag, [
      ['envs', 'set', 'my-app', 'production', '--default-rules'],
      ['envs', 'set', 'my-app', 'staging', '--default-rules', '--only-from-own-branch'],
    ]);
    expect(await rulesOf()).toEqual({
      staging: rules(false, false, true),
      production: rules(true, true, true),
    });
    // Stored as NULL: the default follows the environment's name.
    const stored = await running?.query(
      'SELECT name, deploy_requires_approval, deploy_only_from_branch FROM apps_environments ORDER BY id',
    );
    expect(stored?.rows).toEqual([
      { name: 'staging', deploy_requires_approval: null, deploy_only_from_branch: true },
      { name: 'production', deploy_requires_approval: null, deploy_only_from_branch: null },
    ]);
  });

  it.each([
    [['my-app', 'staging'], 2, 'nothing to set'],
    [
      ['my-app', 'nowhere', '--requires-approval'],
      2,
      'app my-app has no environment named nowhere',
    ],
    [['nope', 'staging', '--requires-approval'], 2, 'unknown app: nope'],
  ])('refuses %j', async (args, code, message) => {
    const before = await rulesOf();
    const result = await dag(['envs', 'set', ...args]);
    expect(result.code).toBe(code);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(message);
    expect(await rulesOf()).toEqual(before);
  });
});

describe('the branch a cluster reconciles', () => {
  async function reconciled(): Promise<Record<string, unknown>> {
    const result = await dag(['envs', 'list', '--json']);
    const envs = JSON.parse(result.stdout) as { name: string; reconciledBranch: unknown }[];
    return Object.fromEntries(envs.map((e) => [e.name, e.reconciledBranch]));
  }

  it('is the branch DAG writes unless set, and is set, listed and cleared', async () => {
    expect(await reconciled()).toEqual({ staging: null, production: null });
    const set = await dag(['envs', 'set', 'my-app', 'production', '--reconciled-branch', 'prod']);
    expect(set).toEqual({
      code: 0,
      stdout: 'updated environment production of app my-app: its cluster reconciles prod\n',
      stderr: '',
    });
    expect(await reconciled()).toEqual({ staging: null, production: 'prod' });
    const table = await dag(['envs', 'list']);
    const [header, , production] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/\sIAC-BRANCH\s+RECONCILED-BRANCH\s/);
    expect(production).toMatch(/\sprod\s/);
    const cleared = await dag(['envs', 'set', 'my-app', 'production', '--no-reconciled-branch']);
    expect(cleared.stdout).toBe(
      "updated environment production of app my-app: its cluster reconciles the branch DAG writes (the IAC repository's default)\n",
    );
    expect(await reconciled()).toEqual({ staging: null, production: null });
    const bad = await dag(['envs', 'set', 'my-app', 'production', '--reconciled-branch', 'a b']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--reconciled-branch must not be empty or contain spaces');
  });

  it('is given when adding an environment', async () => {
    const result = await dag([
      ...['envs', 'add', '--app', 'my-app', '--branch', 'release', '--iac', 'iac'],
      ...['--path', 'apps/production', '--cluster', 'k8s', '--helm-type', 'flux'],
      ...['--iac-branch', 'main', '--reconciled-branch', 'production', '--name', 'prod-eu'],
    ]);
    expect(result.stdout).toBe(
      'added environment prod-eu to app my-app: branch release -> iac:apps/production (branch main), cluster reconciles production, flux, cluster k8s; deploy rules: own-branch, approval, green-checks\n',
    );
    const stored = await running?.query(
      "SELECT reconciled_branch FROM apps_environments WHERE name = 'prod-eu'",
    );
    expect(stored?.rows).toEqual([{ reconciled_branch: 'production' }]);
    expect((await dag(['envs', 'remove', 'my-app', 'prod-eu'])).code).toBe(0);
  });
});

describe('dag apps set --auto-diff', () => {
  async function autoDiff(): Promise<unknown> {
    const result = await dag(['apps', 'list', '--json']);
    return (JSON.parse(result.stdout) as { autoDiff: unknown }[])[0]?.autoDiff;
  }

  it('turns the automatic diff preview off and on', async () => {
    expect(await autoDiff()).toBe(true);
    const off = await dag(['apps', 'set', 'my-app', '--no-auto-diff']);
    expect(off).toEqual({
      code: 0,
      stdout: 'updated app 1 (my-app): auto-diff=false\n',
      stderr: '',
    });
    expect(await autoDiff()).toBe(false);
    // Another setting leaves it as it is.
    await runSteps(dag, [['apps', 'set', 'my-app', '--values-path', 'deploy']]);
    expect(await autoDiff()).toBe(false);
    const on = await dag(['apps', 'set', 'my-app', '--auto-diff']);
    expect(on.stdout).toBe('updated app 1 (my-app): auto-diff=true\n');
    expect(await autoDiff()).toBe(true);
  });
});
