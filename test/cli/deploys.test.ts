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
let db: Db | undefined;

afterAll(() => db?.close());

beforeAll(async () => {
  const dir = tempDir();
  const dataDir = path.join(dir, 'data');
  db = await runningDatabase(dataDir);
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: randomKey() });
  await runSteps(dag, [
    ...appWithStaging('github', 'https://github.com/org/my-app'),
    [
      ...['envs', 'add', '--app', 'my-app', '--branch', 'main', '--iac', 'iac'],
      ...['--path', 'clusters/production/my-app', '--cluster', 'k8s', '--helm-type', 'flux'],
    ],
  ]);
  // Deploys as the workflow records them (the CLI only reads them).
  await db.query(`
    INSERT INTO deploys (environment_id, sha, ref, pusher, state, iac_commit)
      VALUES (1, '${'a'.repeat(40)}', 'develop', 'octocat', 'success', '${'c'.repeat(40)}');
    INSERT INTO deploys (environment_id, sha, ref, pusher, state, error)
      VALUES (2, '${'b'.repeat(40)}', 'main', 'octocat', 'failure', 'deploy/values-production.yaml line 3: bad indentation');
  `);
}, 120_000);

describe('dag deploys list', () => {
  it('lists deploys newest first, with app and environment names', async () => {
    const result = await dag(['deploys', 'list', '--json']);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as {
      id: number;
      app: string;
      environment: string;
      state: string;
    }[];
    expect(rows.map((r) => [r.id, r.app, r.environment, r.state])).toEqual([
      [2, 'my-app', 'production', 'failure'],
      [1, 'my-app', 'staging', 'success'],
    ]);
  });

  it('shows failed deploys with the reason a person must act on', async () => {
    const result = await dag(['deploys', 'list', '--failed']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('deploy/values-production.yaml line 3: bad indentation');
    expect(result.stdout).not.toContain('staging');
  });

  it('filters by app and environment, and explains a wrong one', async () => {
    const staging = await dag(['deploys', 'list', '--app', 'my-app', '--env', 'staging', '--json']);
    expect((JSON.parse(staging.stdout) as unknown[]).length).toBe(1);
    const wrong = await dag(['deploys', 'list', '--app', 'my-app', '--env', 'qa']);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('app my-app has no environment qa');
    const noApp = await dag(['deploys', 'list', '--env', 'qa']);
    expect(noApp.code).toBe(2);
    expect(noApp.stderr).toContain('--env needs --app');
  });
});
