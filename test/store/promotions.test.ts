import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, UserError } from '../../src/errors.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { NewPromotionRoute, PromotionRecord } from '../../src/store/types.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';

const seed = readFileSync(
  new URL('../fixtures/seeds/multiple-environments.sql', import.meta.url),
  'utf8',
);

const SHA = 'a'.repeat(40);

/** A promotion pull request of a route, as a workflow would save it. */
function pullRequest(
  routeId: number,
  number: number,
  state: PromotionRecord['state'] = 'open',
): Omit<PromotionRecord, 'id' | 'updatedAt'> {
  return {
    routeId,
    repoUrl: 'https://gitlab.com/org/iac-repo.git',
    number,
    url: `https://gitlab.com/org/iac-repo/-/merge_requests/${number}`,
    branch: `dag/promote/my-app/production`,
    baseBranch: 'main',
    pushedHead: 'b'.repeat(40),
    sourceSha: SHA,
    state,
    handsOff: false,
    reported: false,
  };
}

describe.each(LANES)('promotion store (%s)', (lane) => {
  let lane_: LaneDb;
  let store: SqlConfigStore;

  const route = (from: string, to: string, extra: Partial<NewPromotionRoute> = {}) =>
    store.addRoute({ app: 'my-app', from, to, ...extra });

  beforeEach(async () => {
    lane_ = await openLane(lane);
    store = new SqlConfigStore(lane_.db, new Keyring(randomKey()));
    // The documented seed: staging (develop) and production (main), both on the IAC
    // repository's default branch. Then environments on named IAC branches, one in another
    // IAC repository, and a second app.
    await lane_.db.query(seed);
    await store.addIac({ name: 'other-iac', repoUrl: 'https://github.com/org/other-iac' });
    const env = (name: string, branch: string, iac: string, iacBranch?: string) =>
      store.addEnvironment({
        app: 'my-app',
        name,
        branch,
        iac,
        iacPath: `clusters/${name}/my-app`,
        cluster: 'prod-1',
        helmType: 'flux',
        iacBranch,
      });
    await env('qa', 'qa', 'prod-iac', 'qa');
    await env('preprod', 'preprod', 'prod-iac', 'preprod');
    await env('preprod-eu', 'preprod', 'prod-iac', 'preprod');
    await env('canary', 'main', 'other-iac');
    // qa's folder on another IAC branch: a layout no branch merge can promote.
    await store.addEnvironment({
      ...{ app: 'my-app', name: 'qa-live', branch: 'release', iac: 'prod-iac' },
      ...{ iacPath: 'clusters/qa/my-app', cluster: 'prod-1', helmType: 'flux', iacBranch: 'live' },
    });
    // The d1 layout: both folders on main, production's cluster reconciling `production`.
    for (const [name, reconciledBranch] of [
      ['d1-staging', undefined],
      ['d1-production', 'production'],
    ] as const) {
      await store.addEnvironment({
        ...{ app: 'my-app', name, branch: name, iac: 'prod-iac', iacPath: `apps/${name}` },
        ...{ cluster: 'prod-1', helmType: 'flux', iacBranch: 'main', reconciledBranch },
      });
    }
    await store.addApp({ gitProvider: 'github', repoUrl: 'https://github.com/org/other' });
    await store.addEnvironment({
      app: 'other',
      name: 'staging',
      branch: 'develop',
      iac: 'other-iac',
      iacPath: 'clusters/staging/other',
      cluster: 'prod-1',
      helmType: 'plain',
    });
  });
  afterEach(async () => {
    await lane_.drop();
  });

  async function envId(app: string, name: string): Promise<number> {
    const env = (await store.listEnvironments(app)).find((e) => e.name === name);
    return env?.id as number;
  }

  it('adds, lists, gets and removes routes', async () => {
    const added = await route('staging', 'production');
    expect(added).toEqual({
      id: expect.any(Number),
      appId: 1,
      fromEnvironmentId: await envId('my-app', 'staging'),
      toEnvironmentId: await envId('my-app', 'production'),
      strategy: 'folder',
      strategyInferred: true,
      automatic: false,
      requiredPermission: 'maintain',
      createdAt: expect.any(Date),
    });
    const automatic = await route('qa', 'preprod', { strategy: 'folder', automatic: true });
    expect(automatic).toMatchObject({
      strategy: 'folder',
      strategyInferred: false,
      automatic: true,
    });

    expect((await store.listRoutes()).map((r) => r.id)).toEqual([added.id, automatic.id]);
    expect((await store.listRoutes('https://gitlab.com/org/my-app.git')).length).toBe(2);
    expect(await store.listRoutes('other')).toEqual([]);
    expect(await store.getRoute(added.id)).toEqual(added);
    expect(await store.getRoute(9999)).toBeUndefined();

    expect(await store.removeRoute('my-app', 'staging', 'production')).toEqual(added);
    expect(await store.listRoutes()).toEqual([automatic]);
    await expect(store.removeRoute('my-app', 'staging', 'production')).rejects.toThrow(
      'app my-app has no promotion route from staging to production (see: dag promotions list)',
    );
    await expect(store.listRoutes('nope')).rejects.toThrow('unknown app: nope');
  });

  it.each<[string, NewPromotionRoute, string]>([
    [
      'an unknown app',
      { app: 'nope', from: 'staging', to: 'production' },
      'unknown app: nope (see: dag apps list)',
    ],
    [
      'an unknown source environment',
      { app: 'my-app', from: 'dev', to: 'production' },
      'app my-app has no environment named dev (see: dag envs list --app my-app)',
    ],
    [
      'an unknown target environment',
      { app: 'my-app', from: 'staging', to: 'prod' },
      'app my-app has no environment named prod',
    ],
    [
      "another app's environment",
      { app: 'other', from: 'staging', to: 'production' },
      'app other has no environment named production',
    ],
    [
      'one environment to itself',
      { app: 'my-app', from: 'staging', to: 'staging' },
      'an environment cannot promote to itself: staging',
    ],
    [
      "'iac-branch' across IAC repositories",
      { app: 'my-app', from: 'production', to: 'canary', strategy: 'iac-branch' },
      "app my-app: strategy 'iac-branch' needs both environments in one IAC repository, but production writes prod-iac and canary other-iac (use 'folder')",
    ],
    [
      "'iac-branch' between two default branches",
      { app: 'my-app', from: 'staging', to: 'production', strategy: 'iac-branch' },
      "strategy 'iac-branch' needs two IAC branches, but staging and production both write the default branch of prod-iac",
    ],
    [
      "'iac-branch' from the default branch to a named one",
      { app: 'my-app', from: 'staging', to: 'qa', strategy: 'iac-branch' },
      "strategy 'iac-branch' needs both IAC branches named: staging writes the default branch of prod-iac, which DAG cannot compare with qa's branch qa",
    ],
    [
      "'iac-branch' from a named branch to the default one",
      { app: 'my-app', from: 'qa', to: 'production', strategy: 'iac-branch' },
      'production writes the default branch of prod-iac, which DAG cannot compare with qa',
    ],
    [
      "'iac-branch' within one IAC branch",
      { app: 'my-app', from: 'preprod', to: 'preprod-eu', strategy: 'iac-branch' },
      "strategy 'iac-branch' needs two IAC branches, but preprod and preprod-eu both write branch preprod of prod-iac",
    ],
    [
      "'iac-branch' between two branches writing one folder",
      { app: 'my-app', from: 'qa', to: 'qa-live', strategy: 'iac-branch' },
      "strategy 'iac-branch' cannot promote qa to qa-live: both write clusters/qa/my-app of prod-iac (on branches qa and live), so merging qa into live would conflict where DAG wrote both and carry qa's values into qa-live. Layouts that work: a folder per environment on one branch (strategy 'folder'), or the d1 layout",
    ],
    [
      "'iac-branch' within one IAC branch, no branch reconciled",
      { app: 'my-app', from: 'd1-production', to: 'd1-staging', strategy: 'iac-branch' },
      "both write branch main of prod-iac (use 'folder', or set the branch d1-staging's cluster reconciles: dag envs set APP d1-staging --reconciled-branch BRANCH)",
    ],
    [
      "'app-branch' within one app branch",
      { app: 'my-app', from: 'production', to: 'canary', strategy: 'app-branch' },
      "strategy 'app-branch' needs two app branches, but production and canary both deploy main",
    ],
  ])('refuses a route of %s', async (_what, input, message) => {
    const error = await store.addRoute(input).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toContain(message);
    expect(await store.listRoutes()).toEqual([]);
  });

  it('needs maintain to /promote into production by default, write elsewhere, or what the route says', async () => {
    expect((await route('staging', 'production')).requiredPermission).toBe('maintain');
    expect((await route('qa', 'preprod')).requiredPermission).toBe('write');
    const strict = await route('staging', 'qa', { requiredPermission: 'admin' });
    expect(strict.requiredPermission).toBe('admin');
    await lane_.db.query(
      `UPDATE promotion_routes SET required_permission = 'write' WHERE id = $1`,
      [(await store.listRoutes('my-app'))[0]?.id],
    );
    expect((await store.listRoutes('my-app'))[0]?.requiredPermission).toBe('write');
    await expect(
      lane_.db.query(`UPDATE promotion_routes SET required_permission = 'owner'`),
    ).rejects.toThrow(/promotion_routes_permission_check/);
  });

  it('refuses a route that exists', async () => {
    await route('staging', 'production');
    await expect(route('staging', 'production', { strategy: 'app-branch' })).rejects.toThrow(
      new UserError('app my-app already promotes staging to production'),
    );
    // The way back is another route.
    await expect(route('production', 'staging')).resolves.toMatchObject({ strategy: 'folder' });
  });

  it('accepts each strategy where the environments allow it', async () => {
    await expect(
      route('d1-staging', 'd1-production', { strategy: 'iac-branch' }),
    ).resolves.toMatchObject({ strategy: 'iac-branch' });
    await expect(route('qa', 'preprod', { strategy: 'iac-branch' })).resolves.toMatchObject({
      strategy: 'iac-branch',
      strategyInferred: false,
    });
    await expect(route('staging', 'production', { strategy: 'app-branch' })).resolves.toMatchObject(
      { strategy: 'app-branch' },
    );
    // 'folder' works between any two environments, in one IAC repository or two.
    await expect(route('production', 'canary', { strategy: 'folder' })).resolves.toMatchObject({
      strategy: 'folder',
    });
    await expect(route('preprod', 'preprod-eu', { strategy: 'folder' })).resolves.toMatchObject({
      strategy: 'folder',
    });
  });

  it.each([
    ['two named branches of one IAC repository', 'qa', 'preprod', 'iac-branch'],
    ['the default branch and a named one', 'staging', 'qa', 'folder'],
    ['a named branch and the default one', 'qa', 'production', 'folder'],
    ['two environments on one IAC branch', 'preprod', 'preprod-eu', 'folder'],
    ['two IAC repositories', 'production', 'canary', 'folder'],
    ['the default branch twice', 'staging', 'production', 'folder'],
    ['two branches writing one folder', 'qa', 'qa-live', 'folder'],
    [
      'main and the branch the target cluster reconciles (d1)',
      'd1-staging',
      'd1-production',
      'iac-branch',
    ],
    ['one branch, the target cluster reconciling it', 'd1-production', 'd1-staging', 'folder'],
  ])('infers the strategy between %s', async (_what, from, to, strategy) => {
    expect(await route(from, to)).toMatchObject({ strategy, strategyInferred: true });
  });

  it('reads a route inserted with SQL, without a strategy, with the inferred one', async () => {
    const [qa, preprod, canary] = await Promise.all(
      ['qa', 'preprod', 'canary'].map((name) => envId('my-app', name)),
    );
    await lane_.db.query(`
      INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id)
        VALUES (1, ${qa}, ${preprod});
      INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id, automatic)
        VALUES (1, ${preprod}, ${canary}, true);
    `);
    expect(await store.listRoutes('my-app')).toMatchObject([
      { strategy: 'iac-branch', strategyInferred: true, automatic: false },
      { strategy: 'folder', strategyInferred: true, automatic: true },
    ]);
  });

  it.each([
    ['the same environment twice', 'staging', 'staging', null, 'promotion_routes_distinct_check'],
    [
      'a strategy DAG does not know',
      'staging',
      'production',
      'git-flow',
      'promotion_routes_strategy_check',
    ],
    ['an unknown environment', 'staging', 'gone', null, 'promotion_routes_to_environment_id_fkey'],
  ])('the database refuses a route of %s', async (_what, from, to, strategy, constraint) => {
    await expect(
      lane_.db.query(
        `INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id, strategy)
         VALUES (1, $1, $2, $3)`,
        [await envId('my-app', from), (await envId('my-app', to)) ?? 9999, strategy],
      ),
    ).rejects.toMatchObject({ constraint });
  });

  it('the database refuses the same route twice', async () => {
    const added = await route('staging', 'production');
    await expect(
      lane_.db.query(
        `INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id)
         VALUES (1, ${added.fromEnvironmentId}, ${added.toEnvironmentId})`,
      ),
    ).rejects.toMatchObject({ constraint: 'promotion_routes_key' });
  });

  it('rejects a route row whose environments belong to another app, with the row named', async () => {
    const theirs = await envId('other', 'staging');
    const ours = await envId('my-app', 'production');
    const { rows } = await lane_.db.query<{ id: number }>(
      `INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id)
       VALUES (1, ${theirs}, ${ours}) RETURNING id`,
    );
    const id = rows[0]?.id as number;
    const error = await store.getRoute(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `row ${id} of promotion_routes is invalid: both environments must belong to app 1`,
    );
  });

  it('saves promotions, inserting then updating, and finds them by pull request', async () => {
    const { id: routeId } = await route('staging', 'production');
    expect(await store.currentPromotion(routeId)).toBeUndefined();

    const opened = await store.savePromotion(pullRequest(routeId, 7));
    expect(opened).toEqual({
      ...pullRequest(routeId, 7),
      id: expect.any(Number),
      updatedAt: expect.any(Date),
    });
    expect(await store.currentPromotion(routeId)).toEqual(opened);

    const merged = await store.savePromotion({
      ...opened,
      pushedHead: 'c'.repeat(40),
      state: 'merged',
      handsOff: true,
      reported: true,
    });
    expect(merged).toMatchObject({
      id: opened.id,
      pushedHead: 'c'.repeat(40),
      state: 'merged',
      handsOff: true,
      reported: true,
    });
    expect(merged.updatedAt.getTime()).toBeGreaterThanOrEqual(opened.updatedAt.getTime());
    expect(await store.currentPromotion(routeId)).toEqual(merged);

    // The pull request, whatever form its repository URL comes in.
    for (const url of [
      'https://gitlab.com/org/iac-repo.git',
      'https://gitlab.com/org/iac-repo',
      'git@gitlab.com:org/iac-repo.git',
    ]) {
      expect(await store.findPromotionByPullRequest(url, 7)).toEqual(merged);
    }
    expect(
      await store.findPromotionByPullRequest('https://gitlab.com/org/iac-repo', 8),
    ).toBeUndefined();
    expect(
      await store.findPromotionByPullRequest('https://gitlab.com/org/other', 7),
    ).toBeUndefined();

    await expect(store.savePromotion({ ...merged, id: merged.id + 100 })).rejects.toThrow(
      new UserError(`no promotion ${merged.id + 100} of route ${routeId}`),
    );
  });

  it("takes the route's open promotion as current, else its latest", async () => {
    const { id: routeId } = await route('staging', 'production');
    const { id: otherRoute } = await route('qa', 'preprod');
    await store.savePromotion(pullRequest(routeId, 1, 'closed'));
    const open = await store.savePromotion(pullRequest(routeId, 2, 'open'));
    const later = await store.savePromotion(pullRequest(routeId, 3, 'closed'));
    await store.savePromotion(pullRequest(otherRoute, 4, 'open'));
    expect(await store.currentPromotion(routeId)).toEqual(open);
    await store.savePromotion({ ...open, state: 'merged' });
    expect(await store.currentPromotion(routeId)).toEqual(later);
  });

  it('keeps one open promotion per route and one record per pull request', async () => {
    const { id: routeId } = await route('staging', 'production');
    const first = await store.savePromotion(pullRequest(routeId, 1));
    await expect(store.savePromotion(pullRequest(routeId, 2))).rejects.toThrow(
      new UserError('this promotion route already has an open promotion'),
    );
    await expect(
      lane_.db.query(
        `INSERT INTO promotions (route_id, repo_url, number, url, branch, base_branch, state)
         VALUES (${routeId}, 'https://gitlab.com/org/iac-repo.git', 2, 'u', 'b', 'main', 'open')`,
      ),
    ).rejects.toMatchObject({ constraint: 'promotions_open_key' });
    await store.savePromotion({ ...first, state: 'closed' });
    await expect(store.savePromotion(pullRequest(routeId, 1))).rejects.toThrow(
      new UserError('another promotion already records this pull request'),
    );
    await expect(store.savePromotion(pullRequest(routeId, 2))).resolves.toMatchObject({
      state: 'open',
    });
    await expect(
      lane_.db.query(
        `INSERT INTO promotions (route_id, repo_url, number, url, branch, base_branch, state)
         VALUES (${routeId}, 'r', 3, 'u', 'b', 'main', 'draft')`,
      ),
    ).rejects.toMatchObject({ constraint: 'promotions_state_check' });
  });

  it('rejects a promotion row that breaks DAG assumptions, with the row named', async () => {
    const { id: routeId } = await route('staging', 'production');
    const { rows } = await lane_.db.query<{ id: string }>(
      `INSERT INTO promotions (route_id, repo_url, number, url, branch, base_branch, state)
       VALUES (${routeId}, 'https://gitlab.com/org/iac-repo', 5, 'u', '', 'main', 'open') RETURNING id`,
    );
    const error = await store.currentPromotion(routeId).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(
      new RegExp(`^row ${rows[0]?.id} of promotions is invalid: branch `),
    );
  });

  it("drops an environment's routes and their promotions with the environment", async () => {
    const { id: routeId } = await route('staging', 'production');
    await route('production', 'canary');
    await store.savePromotion(pullRequest(routeId, 1));
    await store.removeEnvironment('my-app', 'staging');
    expect(await store.listRoutes()).toMatchObject([{ strategy: 'folder' }]);
    const { rows } = await lane_.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM promotions',
    );
    expect(rows[0]?.n).toBe(0);
    await store.removeApp('my-app');
    expect(await store.listRoutes()).toEqual([]);
  });

  it('records the provider of an IAC repository, NULL when the URL tells', async () => {
    expect((await store.findIac('prod-iac'))?.gitProvider).toBeNull();
    const iac = await store.addIac({
      name: 'self-hosted',
      repoUrl: 'https://git.example.com/org/iac.git',
      gitProvider: 'gitlab',
    });
    expect(iac.gitProvider).toBe('gitlab');
    expect((await store.getIac(iac.id))?.gitProvider).toBe('gitlab');
    await expect(
      lane_.db.query("UPDATE iacs SET git_provider = 'gitea' WHERE name = 'prod-iac'"),
    ).rejects.toMatchObject({ constraint: 'iacs_git_provider_check' });
  });
});
