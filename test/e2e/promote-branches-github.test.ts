// Promotion PRs on GitHub, branch per environment, end to end: `main` → `production` in the IAC
// repository (the d1 layout of seeds 001/002: both folders on `main`, the production cluster
// reconciling `production`), and `develop` → `main` in the app repository. Real git repositories,
// nock at the GitHub API boundary.

import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import { GITHUB_API, expectNoPendingGithubCalls, mockGithubApp } from './github.ts';
import { startHarness, type Harness } from './harness.ts';
import {
  nextComment,
  promotionCommands,
  pullResponse,
  pushAndDeploy,
  stopAll,
} from './promotion.ts';

const SHOP = 'org/shop';
const WEB = 'org/web';
const FLEET = 'org/fleet';
const MIXED = 'org/mixed';
const RAW = { 'content-type': 'application/vnd.github.raw' };
const sha = (n: number) => `b${n}`.repeat(20);

let h: Harness;
let origin: string;

/** The IAC repository's API (GitHub Enterprise style, on the git server), with the IAC token. */
const fleet = () => nock(origin, { reqheaders: { authorization: `token ${h.iacToken}` } });

async function records(routeId: number) {
  const { rows } = await h.dag.db.query<{ number: number; state: string; source_sha: string }>(
    'SELECT number, state, source_sha FROM promotions WHERE route_id = $1 ORDER BY id',
    [routeId],
  );
  return rows;
}

beforeAll(async () => {
  mockGithubApp();
  h = await startHarness();
  await h.git.createRepo(FLEET, { files: { 'README.md': '# fleet\n' } });
  await h.git.git(FLEET, ['branch', 'production', 'main']);
  origin = new URL(h.git.url(FLEET)).origin;
  const db = h.dag.db;
  await db.query(
    `INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ('fleet', $1, $2, 'github')`,
    [h.git.url(FLEET), h.iacToken],
  );
  await db.query("INSERT INTO clusters (name, api_url) VALUES ('k8s', 'https://127.0.0.1:1')");
  for (const app of [SHOP, WEB, MIXED]) {
    await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
      `https://github.com/${app}`,
    ]);
  }
  // shop: the d1 layout, a folder per environment on main, production's cluster reconciling
  // the production branch (route inferred: iac-branch). web: two app branches.
  await db.query(`
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, iac_branch, name)
    VALUES (1, 'develop', 1, 'apps/shop/staging', 1, 'flux', 'apps', 'main', 'staging'),
           (1, 'main', 1, 'apps/shop/production', 1, 'flux', 'apps', 'main', 'production'),
           (2, 'develop', 1, 'apps/web/staging', 1, 'flux', 'apps', 'main', 'staging'),
           (2, 'main', 1, 'apps/web/production', 1, 'flux', 'apps', 'main', 'production');
    INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (1, 1, 2);
    INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id, strategy)
      VALUES (2, 3, 4, 'app-branch');
  `);
  await db.query("UPDATE apps_environments SET reconciled_branch = 'production' WHERE id = 2");
  // mixed: one folder on two IAC branches, a route forced to iac-branch with SQL.
  await db.query(`
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, iac_branch, name)
    VALUES (3, 'develop', 1, 'apps/mixed', 1, 'flux', 'apps', 'main', 'staging'),
           (3, 'main', 1, 'apps/mixed', 1, 'flux', 'apps', 'production', 'production');
    INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id, strategy)
      VALUES (3, 5, 6, 'iac-branch');
  `);
});

afterEach(expectNoPendingGithubCalls);

afterAll(() => stopAll(h));

describe('promotion PRs, branch per environment in the IAC repository', () => {
  const { promote, commandCalls, replyCalls } = promotionCommands(() => h, SHOP, 5);
  const pull = (head: string, state: 'open' | 'closed' = 'open') =>
    pullResponse(
      { number: 20, webBase: `${origin}/${FLEET}`, head, headRef: 'main', baseRef: 'production' },
      state,
    );
  const compare = (total: number, files: string[]) =>
    fleet()
      .get(`/api/v3/repos/${FLEET}/compare/production...main`)
      .query({ per_page: 20 })
      .reply(200, {
        html_url: `${origin}/${FLEET}/compare/production...main`,
        total_commits: total,
        commits: [],
        files: files.map((filename) => ({ filename })),
      });

  it('opens a PR from main into production, describing the release it carries', async () => {
    // DAG writes production's release on main; the production cluster runs it once merged.
    await pushAndDeploy(h, SHOP, sha(1), 'main', 'production', 501);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      compare(1, ['apps/shop/production/helmrelease.yaml', 'apps/shop/production/values.yaml']),
      fleet()
        .get(`/api/v3/repos/${FLEET}/pulls`)
        .query({ state: 'open', head: 'org:main', base: 'production', per_page: 1 })
        .reply(200, [])
        .post(
          `/api/v3/repos/${FLEET}/pulls`,
          (b) =>
            b.head === 'main' &&
            b.base === 'production' &&
            String(b.body).includes(sha(1).slice(0, 12)) &&
            String(b.body).includes('apps/shop/production/values.yaml') &&
            String(b.body).includes('production reconciles | <code>production</code>') &&
            String(b.body).includes('Diff preview of production'),
        )
        .reply(201, pull('m'.repeat(40)))
        .post(`/api/v3/repos/${FLEET}/issues/20/labels`, { labels: ['dag', 'promotion'] })
        .reply(200, []),
      replyCalls(commentId, '+1', /opened the promotion .*\/pull\/20/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the IAC branch promotion' });
    expect(await records(1)).toEqual([{ number: 20, state: 'open', source_sha: sha(1) }]);
    // DAG pushed nothing: the PR is between the environments' own branches.
    expect(await h.git.head(FLEET, 'production')).toBe(
      await h.git.git(FLEET, ['rev-list', '--max-parents=0', 'main']),
    );
  });

  it('updates the PR when main moves on', async () => {
    await pushAndDeploy(h, SHOP, sha(2), 'main', 'production', 502);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      fleet()
        .get(`/api/v3/repos/${FLEET}/pulls/20`)
        .reply(200, pull('n'.repeat(40))),
      compare(2, ['apps/shop/production/helmrelease.yaml']),
      fleet()
        .patch(`/api/v3/repos/${FLEET}/pulls/20`, (b) => String(b.body).includes(sha(2)))
        .reply(200, pull('n'.repeat(40))),
      replyCalls(commentId, '+1', /updated the promotion/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the updated promotion' });
    expect(await records(1)).toEqual([{ number: 20, state: 'open', source_sha: sha(2) }]);
  });

  it('closes the PR with a note once production has every commit of main', async () => {
    await h.git.git(FLEET, ['update-ref', 'refs/heads/production', 'refs/heads/main']);
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      fleet()
        .get(`/api/v3/repos/${FLEET}/pulls/20`)
        .reply(200, pull('n'.repeat(40))),
      compare(0, []),
      fleet()
        .post(`/api/v3/repos/${FLEET}/issues/20/comments`, (b) =>
          String(b.body).includes('production already has every commit of main'),
        )
        .reply(201, {})
        .patch(`/api/v3/repos/${FLEET}/pulls/20`, { state: 'closed' })
        .reply(200, pull('n'.repeat(40), 'closed')),
      replyCalls(commentId, '+1', /nothing to promote/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the closed promotion' });
    expect(await records(1)).toEqual([{ number: 20, state: 'closed', source_sha: sha(2) }]);
  });
});

describe('promotion PRs, branch per environment in the app repository', () => {
  const { promote, commandCalls, replyCalls } = promotionCommands(() => h, WEB, 6);
  const HEAD = 'c1'.repeat(20);
  const pull = (state: 'open' | 'closed' = 'open') =>
    pullResponse(
      {
        number: 40,
        webBase: `https://github.com/${WEB}`,
        head: HEAD,
        headRef: 'develop',
        baseRef: 'main',
      },
      state,
    );
  const compare = (total: number) =>
    nock(GITHUB_API)
      .get(`/repos/${WEB}/compare/main...develop`)
      .query({ per_page: 20 })
      .reply(200, {
        html_url: `https://github.com/${WEB}/compare/main...develop`,
        total_commits: total,
        commits:
          total === 0
            ? []
            : [
                {
                  sha: HEAD,
                  html_url: `https://github.com/${WEB}/commit/${HEAD}`,
                  commit: { message: 'New landing page', author: { name: 'Dev' } },
                  author: { login: 'dev' },
                },
              ],
        files: total === 0 ? [] : [{ filename: 'src/landing.ts' }],
      });

  it('opens a PR from develop into main, then describes its head with the preview', async () => {
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      compare(1),
      nock(GITHUB_API)
        .get(`/repos/${WEB}/pulls`)
        .query({ state: 'open', head: 'org:develop', base: 'main', per_page: 1 })
        .reply(200, [])
        .post(`/repos/${WEB}/pulls`, (b) => b.head === 'develop' && b.base === 'main')
        .reply(201, pull())
        .post(`/repos/${WEB}/issues/40/labels`, { labels: ['dag', 'promotion'] })
        .reply(200, [])
        .get(`/repos/${WEB}/contents/deploy%2Fvalues.yaml`)
        .query({ ref: HEAD })
        .reply(200, 'replicaCount: 1\n', RAW)
        .get(`/repos/${WEB}/contents/deploy%2Fvalues-production.yaml`)
        .query({ ref: HEAD })
        .reply(404, { message: 'Not Found' })
        .patch(
          `/repos/${WEB}/pulls/40`,
          (b) =>
            String(b.body).includes('New landing page') &&
            String(b.body).includes('apps/web/production/helmrelease.yaml') &&
            String(b.title).includes(HEAD.slice(0, 7)),
        )
        .reply(200, pull()),
      replyCalls(commentId, '+1', /opened the promotion .*\/org\/web\/pull\/40/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the app branch promotion' });
    expect(await records(2)).toEqual([{ number: 40, state: 'open', source_sha: HEAD }]);
  });

  it('closes the PR with a note when main has every commit of develop', async () => {
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      nock(GITHUB_API).get(`/repos/${WEB}/pulls/40`).reply(200, pull()),
      compare(0),
      nock(GITHUB_API)
        .post(`/repos/${WEB}/issues/40/comments`, (b) =>
          String(b.body).includes('main already has every commit of develop'),
        )
        .reply(201, {})
        .patch(`/repos/${WEB}/pulls/40`, { state: 'closed' })
        .reply(200, pull('closed')),
      replyCalls(commentId, '+1', /nothing to promote/),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the closed app promotion' });
    expect(await records(2)).toEqual([{ number: 40, state: 'closed', source_sha: HEAD }]);
  });
});

describe('promotion PRs, one folder on two IAC branches', () => {
  const { promote, commandCalls, replyCalls } = promotionCommands(() => h, MIXED, 7);

  it('refuses to promote, naming the layouts that work, and opens nothing', async () => {
    const commentId = nextComment();
    const scopes = [
      commandCalls(commentId),
      replyCalls(
        commentId,
        '-1',
        /cannot promote staging to production: both write apps\/mixed of fleet .*Layouts that work: a folder per environment on one branch .*the d1 layout/s,
      ),
    ];
    await promote();
    await waitFor(() => scopes.every((s) => s.isDone()), { what: 'the refusal' });
    expect(await records(3)).toEqual([]);
  });
});
