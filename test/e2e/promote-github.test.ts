// Promotion PRs on GitHub, folder per environment, end to end: signed webhooks in, DAG's jobs,
// a real IAC repository over git's smart HTTP, and nock at the GitHub API boundary (the app
// repository through the App's installation, the IAC repository through its own token).

import nock from 'nock';
import { readProvenance } from '../../src/render/provenance.ts';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { waitFor } from '../helpers/wait.ts';
import {
  GITHUB_API,
  deliverGithub,
  expectDeployCalls,
  expectNoPendingGithubCalls,
  githubPushPayload,
} from './github.ts';
import { kustomizeBuild, type Harness } from './harness.ts';
import { folderPromotion, nextComment, promotionCommands } from './promotion.ts';

const APP = 'org/shop';
const IAC = 'org/iac';
const BRANCH = 'dag/promote/shop/staging-to-production';
const ISSUE = 3;
const RAW = { 'content-type': 'application/vnd.github.raw' };
const sha = (n: number) => `a${n}`.repeat(20);

let h: Harness;
const world = folderPromotion({
  app: APP,
  iac: IAC,
  branch: BRANCH,
  commitMessage: 'Faster checkout\n\nDetails.',
});
const { deploy, promotionRecords, valuesReads, compareCalls, iac, pull, openPullQuery } = world;

const { promote, commandCalls, replyCalls } = promotionCommands(world.harness, APP, ISSUE);

const branchExists = async () => (await h.git.git(IAC, ['branch', '--list', BRANCH])).trim() !== '';

beforeAll(async () => {
  h = await world.start({ production: sha(0), staging: sha(1) });
});

afterEach(expectNoPendingGithubCalls);

afterAll(world.stop);

describe('promotion PRs, folder per environment, on GitHub', () => {
  it('opens the PR: staging release rendered with production values on a DAG branch', async () => {
    const commentId = nextComment();
    let body = '';
    const scopes = [
      commandCalls(commentId),
      valuesReads(sha(1)),
      compareCalls(sha(0), sha(1)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(openPullQuery)
        .reply(200, [])
        .post(
          `/api/v3/repos/${IAC}/pulls`,
          (b) =>
            b.head === BRANCH &&
            b.base === 'main' &&
            String(b.title).startsWith(`Promote shop ${sha(1).slice(0, 7)} from staging`) &&
            String(b.body).startsWith('<!-- dag:promotion {') &&
            String(b.body).includes('Faster checkout') &&
            String(b.body).includes('clusters/production/my-app/helmrelease.yaml') &&
            Boolean((body = String(b.body))),
        )
        .reply(201, pull(12, 'x'.repeat(40)))
        .post(`/api/v3/repos/${IAC}/issues/12/labels`, { labels: ['dag', 'promotion'] })
        .reply(200, []),
      replyCalls(commentId, '+1', /opened the promotion .*\/org\/iac\/pull\/12/),
    ];
    await promote('/promote staging production');
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the promotion PR' });
    // The body previews production: the IAC files, and the release dry-run on its cluster.
    expect(body).toContain('### Diff preview of production');
    expect(body).toContain('✅ passed');
    // Created: the values ConfigMap, the source and the HelmRelease, as kustomize builds the folder.
    expect(body).toContain('| production | 4 | 3 | 0 | 0 | 0 | ✅ passed |');
    expect(body).toContain('<b>created</b> HelmRelease <code>apps/shop</code>');
    expect(body).toContain('clusters/production/my-app/values.yaml');

    // One bot commit on main's tip, holding the production release of staging's commit.
    const main = await h.git.head(IAC, 'main');
    const head = await h.git.head(IAC, BRANCH);
    expect(await h.git.git(IAC, ['rev-parse', `${head}^`])).toBe(main);
    const files = await h.git.files(IAC, BRANCH);
    const release = parse(files['clusters/production/my-app/helmrelease.yaml'] as string) as {
      metadata: { annotations: Record<string, string> };
    };
    expect(release.metadata.annotations['dag.dev/source-commit']).toBe(sha(1));
    expect(release.metadata.annotations['dag.dev/environment']).toBe('production');
    expect(parse(files['clusters/production/my-app/values.yaml'] as string)).toMatchObject({
      replicaCount: 3,
    });
    // Staging's folder is untouched; both environments still build.
    expect(files['clusters/staging/my-app/helmrelease.yaml']).toBe(
      (await h.git.files(IAC, 'main'))['clusters/staging/my-app/helmrelease.yaml'],
    );
    for (const [branch, folder] of [
      [BRANCH, 'components/apps/production'],
      ['main', 'components/apps/staging'],
    ] as const) {
      const kinds = parseAllDocuments(await kustomizeBuild(h.git, branch, folder, IAC)).map(
        (d) => (d.toJS() as { kind: string }).kind,
      );
      expect(kinds).toContain('HelmRelease');
    }
    expect(await promotionRecords()).toEqual([
      { number: 12, state: 'open', pushed_head: head, hands_off: false, source_sha: sha(1) },
    ]);
  });

  it('updates the same PR for a newer staging release, rebuilding the branch on main', async () => {
    await deploy(sha(2), 'develop', 'staging', 102);
    const before = await h.git.head(IAC, BRANCH);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      valuesReads(sha(2)),
      compareCalls(sha(0), sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, before))
        .patch(
          `/api/v3/repos/${IAC}/pulls/12`,
          (b) => String(b.title).includes(sha(2).slice(0, 7)) && String(b.body).includes(sha(2)),
        )
        .reply(200, pull(12, 'y'.repeat(40))),
      replyCalls(commentId, '+1', /updated the promotion/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the updated promotion PR' });

    const head = await h.git.head(IAC, BRANCH);
    expect(head).not.toBe(before);
    expect(await h.git.git(IAC, ['rev-list', '--count', `main..${BRANCH}`])).toBe('1');
    expect(await h.git.git(IAC, ['rev-parse', `${head}^`])).toBe(await h.git.head(IAC, 'main'));
    expect(h.git.forcePushes).toBe(0);
    expect(await promotionRecords()).toMatchObject([
      { number: 12, state: 'open', pushed_head: head, source_sha: sha(2) },
    ]);
  });

  it('stops rewriting its branch once a person pushed to it, and says so on the PR', async () => {
    const person = await h.git.commitOutside(
      IAC,
      BRANCH,
      'components/apps/production/podinfo-values.yaml',
      'apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: podinfo\nspec:\n  values:\n    replicaCount: 4\n',
      'production needs four replicas',
    );
    const pushed = (await promotionRecords())[0]?.pushed_head as string;
    let commentId = nextComment();
    let scopes = [
      commandCalls(commentId),
      valuesReads(sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, pushed))
        .post(`/api/v3/repos/${IAC}/issues/12/comments`, (b) =>
          String(b.body).includes('no longer rewrites this branch'),
        )
        .reply(201, {}),
      replyCalls(commentId, '-1', /a person pushed to its branch/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the hands-off comment' });
    expect(await h.git.head(IAC, BRANCH)).toBe(person);
    expect(await promotionRecords()).toMatchObject([{ number: 12, hands_off: true }]);

    // Asked again: DAG leaves the branch alone and says why, without touching anything.
    commentId = nextComment();
    scopes = [
      commandCalls(commentId),
      iac().get(`/api/v3/repos/${IAC}/pulls/12`).reply(200, pull(12, person)),
      replyCalls(commentId, '-1', /Merge or close/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the hands-off answer' });
    expect(await h.git.head(IAC, BRANCH)).toBe(person);
  });

  it('after the merge, reports the production deploy and has nothing left to promote', async () => {
    // The PR is merged (fast-forward, for the test): main holds the person's commit too.
    const merged = await h.git.head(IAC, BRANCH);
    await h.git.git(IAC, ['update-ref', 'refs/heads/main', merged]);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, merged, 'closed', true)),
      nock(GITHUB_API)
        .post(
          `/repos/${APP}/deployments`,
          (b) => b.ref === sha(2) && b.environment === 'production',
        )
        .reply(201, { id: 300 })
        .post(
          `/repos/${APP}/deployments/300/statuses`,
          (b) =>
            b.state === 'success' &&
            String(b.description).includes('Promoted from staging') &&
            String(b.log_url).endsWith(`/${IAC}/commit/${merged}`),
        )
        .reply(201, {}),
      // Production runs staging's commit now: nothing to render, nothing to read.
      replyCalls(commentId, '+1', /nothing to promote/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the merge report' });
    expect(await branchExists()).toBe(false);
    expect(await promotionRecords()).toMatchObject([{ number: 12, state: 'merged' }]);
    const { rows } = await h.dag.db.query<{ state: string; iac_commit: string }>(
      'SELECT state, iac_commit FROM deploys WHERE environment_id = 2 AND sha = $1',
      [sha(2)],
    );
    expect(rows).toEqual([{ state: 'success', iac_commit: merged }]);
  });

  it('closes its PR with a note when production got the release another way', async () => {
    await deploy(sha(3), 'develop', 'staging', 103);
    let commentId = nextComment();
    let scopes = [
      commandCalls(commentId),
      valuesReads(sha(3)),
      compareCalls(sha(2), sha(3)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(true)
        .reply(200, [])
        .post(`/api/v3/repos/${IAC}/pulls`)
        .reply(201, pull(13, 'z'.repeat(40)))
        .post(`/api/v3/repos/${IAC}/issues/13/labels`)
        .reply(200, []),
      replyCalls(commentId, '+1', /opened the promotion .*\/pull\/13/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the second promotion PR' });

    // Someone lands the same change on main by hand; the PR is still open.
    const head = await h.git.head(IAC, BRANCH);
    await h.git.git(IAC, ['update-ref', 'refs/heads/main', head]);
    commentId = nextComment();
    // Production runs staging's commit: nothing is rendered, the commits tell.
    scopes = [
      commandCalls(commentId),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/13`)
        .reply(200, pull(13, head))
        .post(`/api/v3/repos/${IAC}/issues/13/comments`, (b) =>
          String(b.body).includes(
            `production already runs commit ${sha(3).slice(0, 7)} of shop, the one staging runs`,
          ),
        )
        .reply(201, {})
        .patch(`/api/v3/repos/${IAC}/pulls/13`, { state: 'closed' })
        .reply(200, pull(13, head, 'closed')),
      replyCalls(commentId, '+1', /nothing to promote.*closed .*\/pull\/13/s),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the closed promotion PR' });
    expect(await branchExists()).toBe(false);
    expect((await promotionRecords())[1]).toMatchObject({ number: 13, state: 'closed' });
    expect(h.git.forcePushes).toBe(0);
  });

  it('promotes nothing when production runs the same commit, built from another branch', async () => {
    // staging built a4… from develop, production from main: the folders differ in their
    // source branch only, which is no reason to point production at develop.
    await deploy(sha(4), 'develop', 'staging', 104);
    await deploy(sha(4), 'main', 'production', 105);
    const folder = async (env: string) =>
      readProvenance({
        'helmrelease.yaml': await h.git.git(IAC, [
          'show',
          `main:clusters/${env}/my-app/helmrelease.yaml`,
        ]),
      });
    expect([await folder('staging'), await folder('production')]).toMatchObject([
      { sha: sha(4), branch: 'develop' },
      { sha: sha(4), branch: 'main' },
    ]);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      replyCalls(
        commentId,
        '+1',
        new RegExp(
          `nothing to promote.*production already runs commit ${sha(4).slice(0, 7)} of shop, the one staging runs`,
          's',
        ),
      ),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'nothing to promote' });
    expect(await branchExists()).toBe(false);
    expect(await promotionRecords()).toHaveLength(2);
  });
});

describe('API thrift', () => {
  const CHARTS = 'org/charts';
  const TEMPLATES = 48;
  const charts = promotionCommands(() => h, CHARTS, 9);
  const chartYaml = 'apiVersion: v2\nname: charts\nversion: 1.0.0\n';
  const template = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\n';

  /** The app's chart through the provider API: a tree listing, then one read per file. */
  function chartReads(source: string) {
    const files = [
      'chart/Chart.yaml',
      'chart/values.yaml',
      ...Array.from({ length: TEMPLATES }, (_, i) => `chart/templates/t${i + 1}.yaml`),
    ];
    return nock(GITHUB_API)
      .get(`/repos/${CHARTS}/git/trees/${source}`)
      .query({ recursive: '1' })
      .reply(200, {
        sha: source,
        truncated: false,
        tree: files.map((path) => ({ path, type: 'blob', size: 80 })),
      })
      .get(`/repos/${CHARTS}/contents/chart%2FChart.yaml`)
      .query({ ref: source })
      .reply(200, chartYaml, RAW)
      .get(`/repos/${CHARTS}/contents/chart%2Fvalues.yaml`)
      .query({ ref: source })
      .reply(200, 'port: 8080\n', RAW)
      .get(/\/repos\/org\/charts\/contents\/chart%2Ftemplates%2Ft\d+\.yaml/)
      .query({ ref: source })
      .times(TEMPLATES)
      .reply(200, template, RAW);
  }

  it('promotes a 50-file release with 7 provider requests, not one per file', async () => {
    const source = sha(9);
    await h.dag.db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
      `https://github.com/${CHARTS}`,
    ]);
    await h.dag.db.query(`
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
      VALUES (2, 'develop', 1, 'clusters/staging/charts', 1, 'plain', 'apps', 'staging'),
             (2, 'main', 1, 'clusters/production/charts', 1, 'plain', 'apps', 'production');
      INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (2, 3, 4);
    `);
    // Staging runs the release: its deploy reads the chart file by file.
    const deployCalls = [
      expectDeployCalls(CHARTS, source, 'staging', 900, 'replicaCount: 1\n'),
      chartReads(source),
    ];
    await deliverGithub(h, 'push', {
      ...githubPushPayload(CHARTS, source),
      ref: 'refs/heads/develop',
    });
    await waitFor(() => deployCalls.every((s) => s.isDone()), { what: 'the chart deploy' });

    const commentId = nextComment();
    const branch = 'dag/promote/charts/staging-to-production';
    const job = [
      nock(GITHUB_API)
        .get(`/repos/${CHARTS}/contents/deploy%2Fvalues.yaml`)
        .query({ ref: source })
        .reply(200, 'replicaCount: 1\n', RAW)
        .get(`/repos/${CHARTS}/contents/deploy%2Fvalues-production.yaml`)
        .query({ ref: source })
        .reply(200, 'replicaCount: 3\n', RAW)
        .get(`/repos/${CHARTS}/contents/chart%2FChart.yaml`)
        .query({ ref: source })
        .reply(200, chartYaml, RAW)
        .get(`/repos/${CHARTS}/contents/chart%2Fvalues.yaml`)
        .query({ ref: source })
        .reply(200, 'port: 8080\n', RAW),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(true)
        .reply(200, [])
        .post(`/api/v3/repos/${IAC}/pulls`, (b) =>
          String(b.body).includes('Files that change (50)'),
        )
        .reply(201, { ...pull(30, 'p'.repeat(40)), head: { ref: branch, sha: 'p'.repeat(40) } })
        .post(`/api/v3/repos/${IAC}/issues/30/labels`)
        .reply(200, []),
    ];
    // Every request the promotion job may make is one of these; an extra one fails the job.
    expect(job.flatMap((scope) => scope.pendingMocks())).toHaveLength(7);
    const around = [
      charts.commandCalls(commentId),
      charts.replyCalls(commentId, '+1', /opened the promotion/),
    ];
    await charts.promote();
    await waitFor(() => [...job, ...around].every((s) => s.isDone()), {
      what: 'the 50-file promotion',
    });
    const files = Object.keys(await h.git.files(IAC, branch)).filter((f) =>
      f.startsWith('clusters/production/charts/'),
    );
    expect(files).toHaveLength(50);
  });
});
