import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, TransientError, UserError } from '../../src/errors.ts';
import type { RepoRef } from '../../src/events/types.ts';
import type { BundleInput } from '../../src/render/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployPatch, DeployState } from '../../src/store/types.ts';
import { planDeploys, type DeployRequest } from '../../src/workflows/deploy-plan.ts';
import {
  defaultImageRepository,
  releaseNameFor,
  runDeploy,
  type DeployDeps,
  type DeployReport,
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
let asked: (DeployReport & { state: DeployState | undefined })[];
let outcomes: string[];

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
    log: quiet,
    mask: (t) => t.replaceAll('s3cret', '***'),
    lastAttempt: false,
    // What was asked, with the state recorded at the time of asking.
    report: async (report) => {
      asked.push({ ...report, state: (await store.getDeploy(report.deployId))?.state });
    },
    onOutcome: (environment, outcome) => outcomes.push(`${environment} ${outcome}`),
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
  asked = [];
  outcomes = [];
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
  it('renders with base and environment values, commits, and records success with the IAC commit', async () => {
    platform.files['deploy/values.yaml'] = '{"replicas":1}';
    platform.files['deploy/values-staging.yaml'] = '{"replicas":2}';
    const r = await request();
    const record = await runDeploy(r, deps());
    expect(record).toMatchObject({
      state: 'success',
      iacCommit: iac.commits[0]?.sha,
      iacChanged: true,
      iacBranch: 'main',
      error: null,
      reportedState: null,
    });
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
    // One IAC branch, one key: deploys to it meet in its group commit.
    expect(iac.calls).toEqual([
      {
        key: 'iac:1:',
        target: { url: 'https://github.com/org/iac.git', token: 'tok', branch: null },
        path: 'clusters/staging/my-app',
      },
    ]);
    expect(iac.commits[0]?.message).toContain('deploy(my-app): staging aaaaaaa');
    expect(iac.commits[0]?.message).toContain('Dag-Pushed-By: octocat');
    // Each recorded step asks for a report; the deploy itself writes nothing to the provider.
    expect(asked).toEqual([
      { deployId: record?.id, request: r, state: 'in_progress' },
      { deployId: record?.id, request: r, state: 'success' },
    ]);
    expect(outcomes).toEqual(['staging success']);
    expect(platform.deployments).toEqual([]);
    expect(platform.states).toEqual([]);
  });

  it('is a no-op when repeated: one commit, and each rerun only asks for the report again', async () => {
    const r = await request();
    for (let i = 0; i < 5; i++) await runDeploy(r, deps());
    expect(iac.commits).toHaveLength(1);
    expect(iac.calls).toHaveLength(1);
    expect(rendered).toHaveLength(1);
    expect(asked.map((a) => a.state)).toEqual([
      'in_progress',
      'success',
      'success',
      'success',
      'success',
      'success',
    ]);
    expect(outcomes).toEqual(['staging success']);
  });

  describe('resumes from the recorded state', () => {
    const begin = async (r: DeployRequest) =>
      store.beginDeploy({
        environmentId: r.environmentId,
        sha: r.sha,
        ref: r.branch,
        pusher: null,
      });

    it('queued: records in_progress, asks for its report, then commits and records success', async () => {
      const r = await request();
      const queued = await begin(r);
      expect(queued.state).toBe('queued');
      const record = await runDeploy(r, deps());
      expect(record).toMatchObject({ id: queued.id, state: 'success', iacChanged: true });
      expect(asked.map((a) => a.state)).toEqual(['in_progress', 'success']);
    });

    it('in_progress with the folder already holding the release: records success with the tip, iacChanged false', async () => {
      const r = await request();
      const started = await begin(r);
      await store.updateDeploy(started.id, { state: 'in_progress' });
      // The run before pushed this very release and died before recording it.
      iac.folders.set('clusters/staging/my-app', {
        'values.yaml': JSON.stringify({ base: {}, environment: {} }),
      });
      iac.head = 'e'.repeat(40);

      const record = await runDeploy(r, deps());

      expect(record).toMatchObject({
        id: started.id,
        state: 'success',
        iacCommit: 'e'.repeat(40),
        iacChanged: false,
        iacBranch: 'main',
      });
      expect(iac.commits).toEqual([]);
      // in_progress was asked for by the run that recorded it: only the end is asked for now.
      expect(asked.map((a) => a.state)).toEqual(['success']);
      expect(outcomes).toEqual(['staging unchanged']);
    });

    it('in_progress after a push whose success was never recorded: the rerun records the pushed tip', async () => {
      const r = await request();
      // The first run pushes, then its process dies before the success is recorded.
      const dying = new Proxy(store, {
        get(target, property) {
          if (property === 'updateDeploy') {
            return async (id: number, patch: DeployPatch) => {
              if (patch.state === 'success') throw new Error('the process died');
              return target.updateDeploy(id, patch);
            };
          }
          const value = Reflect.get(target, property, target) as unknown;
          return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
        },
      });
      await expect(runDeploy(r, deps({ store: dying }))).rejects.toThrow('the process died');
      const pushed = iac.commits[0]?.sha;
      expect(pushed).toBeDefined();
      expect((await store.listDeploys())[0]).toMatchObject({ state: 'in_progress' });

      asked.length = 0;
      const record = await runDeploy(r, deps());
      expect(record).toMatchObject({ state: 'success', iacCommit: pushed, iacChanged: false });
      expect(iac.commits).toHaveLength(1);
      expect(asked.map((a) => a.state)).toEqual(['success']);
    });

    it.each(['success', 'failure'] as const)(
      '%s: does nothing but ask for the report',
      async (state) => {
        const r = await request();
        const ended = await begin(r);
        await store.updateDeploy(ended.id, { state, error: state === 'failure' ? 'x' : undefined });
        const record = await runDeploy(r, deps());
        expect(record).toMatchObject({ id: ended.id, state });
        expect(asked).toEqual([{ deployId: ended.id, request: r, state }]);
        expect(rendered).toEqual([]);
        expect(iac.calls).toEqual([]);
        expect(outcomes).toEqual([]);
      },
    );
  });

  it('keeps the state on a transient failure, stores the masked error, and fails the job to retry', async () => {
    const r = await request();
    iac.failWith = new TransientError('push to https://x:s3cret@host failed');
    await expect(runDeploy(r, deps())).rejects.toThrow('push to https://x:s3cret@host failed');
    expect((await store.listDeploys())[0]).toMatchObject({
      state: 'in_progress',
      error: 'push to https://x:***@host failed',
    });
    expect(asked.map((a) => a.state)).toEqual(['in_progress']);
    expect(outcomes).toEqual([]);

    iac.failWith = undefined;
    const record = await runDeploy(r, deps());
    expect(record).toMatchObject({ state: 'success', error: null });
    expect(asked.map((a) => a.state)).toEqual(['in_progress', 'success']);
    expect(outcomes).toEqual(['staging success']);
  });

  it('treats an unexpected error as transient: internal error recorded, state kept', async () => {
    iac.failWith = new Error('boom');
    await expect(runDeploy(await request(), deps())).rejects.toThrow('boom');
    expect((await store.listDeploys())[0]).toMatchObject({
      state: 'in_progress',
      error: 'internal error: boom',
    });
  });

  it('records a bad values file as a failure the user can act on, without retrying', async () => {
    platform.files['deploy/values-staging.yaml'] = '{bad';
    const record = await runDeploy(await request(), deps());
    expect(record).toMatchObject({
      state: 'failure',
      error: 'deploy/values-staging.yaml line 1: bad YAML',
    });
    expect(asked.map((a) => a.state)).toEqual(['in_progress', 'failure']);
    expect(iac.calls).toHaveLength(0);
    expect(outcomes).toEqual(['staging failure']);
  });

  it('records a configuration error of the IAC repository as a failure, without retrying', async () => {
    iac.failWith = new ConfigError('branch "staging" does not exist in the IAC repository');
    const record = await runDeploy(await request(), deps());
    expect(record).toMatchObject({
      state: 'failure',
      error: 'branch "staging" does not exist in the IAC repository',
    });
    expect(asked.map((a) => a.state)).toEqual(['in_progress', 'failure']);
  });

  it('records a transient failure on the last attempt as a failure, masked, and still fails the job', async () => {
    iac.failWith = new TransientError('push to https://x:s3cret@host failed');
    await expect(runDeploy(await request(), deps({ lastAttempt: true }))).rejects.toThrow();
    expect((await store.listDeploys())[0]).toMatchObject({
      state: 'failure',
      error: 'push to https://x:***@host failed',
    });
    expect(asked.map((a) => a.state)).toEqual(['in_progress', 'failure']);
    expect(outcomes).toEqual(['staging failure']);
  });

  it('fails the job when asking for a report fails after a recorded step; the rerun asks again', async () => {
    const r = await request();
    let refuse = true;
    const flaky = deps({
      report: async (report) => {
        const state = (await store.getDeploy(report.deployId))?.state;
        if (state === 'success' && refuse) {
          refuse = false;
          throw new TransientError('the job queue is unreachable');
        }
        asked.push({ ...report, state });
      },
    });
    await expect(runDeploy(r, flaky)).rejects.toThrow('the job queue is unreachable');
    expect((await store.listDeploys())[0]).toMatchObject({ state: 'success' });
    await runDeploy(r, flaky);
    expect(asked.map((a) => a.state)).toEqual(['in_progress', 'success']);
    expect(iac.commits).toHaveLength(1);
  });

  // A failing report request after the recorded success is not a failed deploy: the success
  // stands (the job retries, finds the deploy ended, and asks for its report again).
  describe.each([false, true])(
    'a failed report request after the success (last attempt: %s)',
    (lastAttempt) => {
      it('leaves the recorded success as it is', async () => {
        const failing = deps({
          lastAttempt,
          report: async (report) => {
            const state = (await store.getDeploy(report.deployId))?.state;
            if (state === 'success') throw new TransientError('the job queue is unreachable');
          },
        });
        await expect(runDeploy(await request(), failing)).rejects.toThrow(
          'the job queue is unreachable',
        );
        expect((await store.listDeploys())[0]).toMatchObject({ state: 'success', error: null });
        expect(outcomes).toEqual(['staging success']);
      });
    },
  );

  it('finishes quietly when the environment was removed after the push', async () => {
    const r = await request();
    await store.removeEnvironment('my-app', 'staging');
    expect(await runDeploy(r, deps())).toBeUndefined();
    expect(asked).toEqual([]);
    expect(await store.listDeploys()).toEqual([]);
  });

  it('refuses an app whose chart source lacks its settings, naming what is missing', async () => {
    await lane.db.query("UPDATE apps SET chart_source = 'helm' WHERE id = 1");
    const record = await runDeploy(await request(), deps());
    expect(record).toMatchObject({
      state: 'failure',
      error: "app my-app uses chart source 'helm' but has no chart_repo_url",
    });
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
