import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import type { BundleInput } from '../../src/render/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { planDeploys, type DeployRequest } from '../../src/workflows/deploy-plan.ts';
import {
  defaultImageRepository,
  releaseNameFor,
  runDeploy,
  type DeployDeps,
} from '../../src/workflows/deploy.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { FakeIac, FakePlatform } from './fakes.ts';
import { quiet } from '../helpers/quiet-log.ts';

const SHA = 'a'.repeat(40);
const repo: RepoRef = {
  provider: 'github',
  fullName: 'org/my-app',
  urls: ['https://github.com/org/my-app', 'git@github.com:org/my-app.git'],
  installationId: 1,
  webUrl: 'https://github.com/org/my-app',
};

let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakePlatform;
let iac: FakeIac;
let rendered: BundleInput[];

function deps(over: Partial<DeployDeps> = {}): DeployDeps {
  return {
    store,
    platform,
    iac,
    render: (input) => {
      rendered.push(input);
      return { files: { 'values.yaml': JSON.stringify(input.values) } };
    },
    parseValues: (text, source) => {
      if (text.includes('{bad')) throw new UserError(`${source} line 1: bad YAML`);
      return JSON.parse(text) as Record<string, unknown>;
    },
    author: { name: 'DAG', email: 'dag@example.com' },
    log: quiet,
    mask: (t) => t.replaceAll('s3cret', '***'),
    lastAttempt: false,
    ...over,
  };
}

async function request(branch = 'develop'): Promise<DeployRequest> {
  const plan = await planDeploys(
    {
      kind: 'push',
      repo,
      branch,
      sha: SHA,
      before: '0'.repeat(40),
      pusher: 'octocat',
      commitUrl: `https://github.com/org/my-app/commit/${SHA}`,
    },
    store,
  );
  if ('ignored' in plan) throw new Error(plan.ignored);
  return plan.requests[0] as DeployRequest;
}

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url, access_token) VALUES ('iac', 'https://github.com/org/iac.git', 'tok');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace)
      VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'staging'),
             (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'production');
  `);
  await store.normalize();
  platform = new FakePlatform();
  iac = new FakeIac();
  rendered = [];
});
afterEach(() => lane.drop());

describe('planDeploys', () => {
  it('maps a push to the environments of its branch, matching the repo by any URL form', async () => {
    const r = await request('develop');
    expect(r).toMatchObject({
      environmentId: 1,
      sha: SHA,
      branch: 'develop',
      target: { iacId: 1, iacBranch: null },
    });
  });

  it('ignores unmapped branches, unknown repos and a provider mismatch', async () => {
    const push = {
      kind: 'push' as const,
      repo,
      branch: 'feature',
      sha: SHA,
      before: SHA,
      pusher: 'x',
      commitUrl: '',
    };
    expect(await planDeploys(push, store)).toMatchObject({
      ignored: 'branch feature of my-app is not mapped',
    });
    const other = { ...push, repo: { ...repo, urls: ['https://github.com/org/other'] } };
    expect(await planDeploys(other, store)).toMatchObject({
      ignored: expect.stringContaining('no app'),
    });
    const gitlab = { ...push, branch: 'main', repo: { ...repo, provider: 'gitlab' as const } };
    expect(await planDeploys(gitlab, store)).toMatchObject({
      ignored: expect.stringContaining('configured for github'),
    });
  });
});

describe('runDeploy', () => {
  it('renders with base and environment values, commits, and reports success with the IAC commit', async () => {
    platform.files['deploy/values.yaml'] = '{"replicas":1}';
    platform.files['deploy/values-staging.yaml'] = '{"replicas":2}';
    const record = await runDeploy(await request(), deps());
    expect(record).toMatchObject({ state: 'success', iacCommit: expect.stringMatching(/^c0ffee/) });
    expect(rendered[0]).toMatchObject({
      values: { base: { replicas: 1 }, environment: { replicas: 2 } },
      environment: {
        name: 'staging',
        namespace: 'staging',
        releaseName: 'my-app',
        iacPath: 'clusters/staging/my-app',
      },
      app: {
        imageRepository: null,
        defaultImageRepository: 'ghcr.io/org/my-app',
        chart: { kind: 'app-repo', path: 'chart' },
      },
    });
    expect(iac.commits[0]?.message).toContain('deploy(my-app): staging aaaaaaa');
    expect(iac.commits[0]?.message).toContain('Dag-Pushed-By: octocat');
    expect(platform.deployments).toEqual([{ id: '1000', environment: 'staging', sha: SHA }]);
    expect(platform.states.map((s) => s.state)).toEqual(['in_progress', 'success']);
    expect(platform.states[1]?.logUrl).toMatch(/^https:\/\/github\.com\/org\/iac\/commit\/c0ffee/);
  });

  it('is a no-op when repeated: one deployment, one commit', async () => {
    const r = await request();
    for (let i = 0; i < 5; i++) await runDeploy(r, deps());
    expect(platform.deployments).toHaveLength(1);
    expect(iac.commits).toHaveLength(1);
  });

  it('resumes a deploy interrupted after its deployment was created, without a second one', async () => {
    const r = await request();
    iac.failWith = new TransientError('IAC repository unreachable');
    await expect(runDeploy(r, deps())).rejects.toThrow('unreachable');
    expect(platform.states.at(-1)).toMatchObject({
      state: 'queued',
      description: 'Retrying: IAC repository unreachable',
    });
    iac.failWith = undefined;
    await runDeploy(r, deps());
    expect(platform.deployments).toHaveLength(1);
    expect(platform.states.at(-1)?.state).toBe('success');
  });

  it('reports a bad values file as a failure the user can act on, without retrying', async () => {
    platform.files['deploy/values-staging.yaml'] = '{bad';
    const record = await runDeploy(await request(), deps());
    expect(record).toMatchObject({
      state: 'failure',
      error: 'deploy/values-staging.yaml line 1: bad YAML',
    });
    expect(platform.states.at(-1)).toMatchObject({
      state: 'failure',
      description: 'deploy/values-staging.yaml line 1: bad YAML',
    });
    expect(iac.commits).toHaveLength(0);
  });

  it('reports a transient failure on the last attempt, masked, and still fails the job', async () => {
    iac.failWith = new TransientError('push to https://x:s3cret@host failed');
    await expect(runDeploy(await request(), deps({ lastAttempt: true }))).rejects.toThrow();
    expect(platform.states.at(-1)).toEqual({
      id: '1000',
      state: 'failure',
      description: 'push to https://x:***@host failed',
    });
    expect((await store.listDeploys())[0]).toMatchObject({ state: 'failure' });
  });

  it('finishes quietly when the environment was removed after the push', async () => {
    const r = await request();
    await store.removeEnvironment('my-app', 'staging');
    expect(await runDeploy(r, deps())).toBeUndefined();
    expect(platform.deployments).toHaveLength(0);
  });

  it('refuses an app whose chart source lacks its settings, naming what is missing', async () => {
    await lane.db.query("UPDATE apps SET chart_source = 'helm' WHERE id = 1");
    const record = await runDeploy(await request(), deps());
    expect(record?.error).toBe("app my-app uses chart source 'helm' but has no chart_repo_url");
  });
});

describe('helpers', () => {
  it('derives release names, image repositories and IAC commit links', async () => {
    const app = (await store.findApp('my-app'))!;
    expect(releaseNameFor({ ...app, name: 'My_App.Service' })).toBe('my-app-service');
    expect(defaultImageRepository(app)).toBe('ghcr.io/org/my-app');
    expect(
      defaultImageRepository({
        ...app,
        gitProvider: 'gitlab',
        repoUrl: 'https://gitlab.com/g/sub/app',
      }),
    ).toBe('registry.gitlab.com/g/sub/app');
    // GitHub Enterprise Server and self-managed GitLab name their registries as they like.
    expect(
      defaultImageRepository({ ...app, repoUrl: 'https://github.corp.example/org/my-app' }),
    ).toBeNull();
    expect(
      defaultImageRepository({
        ...app,
        gitProvider: 'gitlab',
        repoUrl: 'https://gitlab.corp.example/g/app',
      }),
    ).toBeNull();
  });
});
