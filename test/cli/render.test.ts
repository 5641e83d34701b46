import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Db } from '../../src/store/db.ts';
import {
  appWithStaging,
  dagWith,
  randomKey,
  renderArgs,
  runningDatabase,
  runSteps,
  tempDir,
  type Dag,
} from './run-dag.ts';

const SHA = '0123456789abcdef0123456789abcdef01234567';
let dag: Dag;
let running: Db | undefined;
let repoDir: string;

beforeAll(async () => {
  const dir = tempDir();
  running = await runningDatabase(path.join(dir, 'data'));
  dag = dagWith({ DAG_DATA_DIR: path.join(dir, 'data'), DAG_ENCRYPTION_KEY: randomKey() });
  repoDir = path.join(dir, 'my-app');
  mkdirSync(path.join(repoDir, 'deploy'), { recursive: true });
  writeFileSync(path.join(repoDir, 'deploy/values.yaml'), 'replicaCount: 1\n');
  writeFileSync(path.join(repoDir, 'deploy/values-staging.yaml'), 'replicaCount: 3\n');
  await runSteps(dag, appWithStaging('gitlab', 'https://gitlab.com/org/my-app'));
}, 120_000);
afterAll(() => running?.close());

describe('dag render', () => {
  it('writes the bundle a deploy of that commit would commit, values from the checkout', async () => {
    const out = path.join(repoDir, '..', 'out');
    const result = await dag(renderArgs(SHA, repoDir, out));
    expect(result.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'helmrelease.yaml',
      'kustomization.yaml',
      'kustomizeconfig.yaml',
      'source.yaml',
      'values.yaml',
    ]);
    const values = parse(readFileSync(path.join(out, 'values.yaml'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(values).toMatchObject({
      replicaCount: 3,
      image: { repository: 'registry.gitlab.com/org/my-app', tag: SHA },
    });
    const release = readFileSync(path.join(out, 'helmrelease.yaml'), 'utf8');
    expect(release).toContain(`dag.dev/source-commit: ${SHA}`);
    expect(release).toContain('https://gitlab.com/org/my-app/-/commit/');
  });

  it('prints the files when no --out is given', async () => {
    const result = await dag([
      'render',
      'https://gitlab.com/org/my-app.git',
      'staging',
      '--sha',
      SHA,
      '--repo-dir',
      repoDir,
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# helmrelease\.yaml\n/);
    expect(result.stdout).toContain('# values.yaml\n');
  });

  it("takes the commit to be on the environment's branch unless --branch names another", async () => {
    const render = async (extra: string[]) => {
      const args = ['render', 'my-app', 'staging', '--sha', SHA, '--repo-dir', repoDir];
      const result = await dag([...args, ...extra]);
      expect(result.code).toBe(0);
      const source = /# source\.yaml\n([\s\S]*?)(?=\n# |$)/.exec(result.stdout)?.[1] ?? '';
      return parse(source) as {
        metadata: { annotations: Record<string, string> };
        spec: { ref: { branch: string; commit: string } };
      };
    };
    // staging maps the branch develop (appWithStaging).
    const byDefault = await render([]);
    expect(byDefault.spec.ref).toEqual({ branch: 'develop', commit: SHA });
    expect(byDefault.metadata.annotations['dag.dev/source-branch']).toBe('develop');
    const named = await render(['--branch', 'hotfix/login']);
    expect(named.spec.ref).toEqual({ branch: 'hotfix/login', commit: SHA });
    expect(named.metadata.annotations['dag.dev/source-branch']).toBe('hotfix/login');
  });

  it.each([
    [
      ['render', 'my-app', 'prod', '--sha', SHA],
      'app my-app has no environment prod (it has: staging)',
    ],
    [['render', 'nope', 'staging', '--sha', SHA], 'unknown app: nope'],
    [['render', 'my-app', 'staging', '--sha', 'abc'], '--sha must be a full commit id'],
  ])('explains %j', async (args, message) => {
    const result = await dag([...args, '--repo-dir', repoDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
  });

  it('names the file and line of a broken values file', async () => {
    writeFileSync(path.join(repoDir, 'deploy/values-staging.yaml'), 'replicaCount: [1,\n');
    const result = await dag(['render', 'my-app', 'staging', '--sha', SHA, '--repo-dir', repoDir]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/deploy\/values-staging\.yaml line \d+/);
  });
});
