import { ConfigError, UserError } from '../errors.ts';
import { repoKey } from '../util/repo-url.ts';
import type { Db } from './db.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import {
  promotionRouteRow,
  promotionRow,
  type ConfigStore,
  type NewPromotionRoute,
  type PromotionRecord,
  type PromotionRoute,
  type PromotionStrategy,
} from './types.ts';
import {
  type App,
  type BranchLayout,
  branchPromotionProblem,
  type Environment,
  isProductionName,
  type Permission,
} from '../model.ts';

/** What the promotion store reads of the configuration: apps and their environments. */
export type PromotionConfig = Pick<ConfigStore, 'findApp' | 'listEnvironments' | 'listIacs'>;

const friendly = constraintMessages({
  promotion_routes_key: 'this promotion route already exists',
  promotion_routes_distinct_check: 'an environment cannot promote to itself',
  promotion_routes_strategy_check:
    "promotion strategy must be 'folder', 'iac-branch' or 'app-branch'",
  promotions_open_key: 'this promotion route already has an open promotion',
  promotions_pull_request_key: 'another promotion already records this pull request',
  promotions_state_check: "promotion state must be 'open', 'closed' or 'merged'",
  promotions_pull_request_check:
    'a promotion names both its pull request and page, or neither (then the branch DAG pushed)',
});

/** Route rows with what their environments tell about the strategy (promotionRouteRow). */
const ROUTES = `
  SELECT r.*,
         f.app_id AS from_app_id, f.iac_id AS from_iac_id, f.iac_branch AS from_iac_branch,
         f.iac_path AS from_iac_path, f.reconciled_branch AS from_reconciled_branch,
         t.app_id AS to_app_id, t.iac_id AS to_iac_id, t.iac_branch AS to_iac_branch,
         t.iac_path AS to_iac_path, t.reconciled_branch AS to_reconciled_branch,
         COALESCE(t.name, '') AS to_name
    FROM promotion_routes r
    JOIN apps_environments f ON f.id = r.from_environment_id
    JOIN apps_environments t ON t.id = r.to_environment_id`;

/**
 * The strategy of a route that names none: `iac-branch` when merging the source's IAC branch
 * into the branch the target's cluster reconciles promotes (one IAC repository, two named,
 * different branches, two different folders: see branchPromotionProblem), else `folder`. A NULL
 * branch (the repository's default) is never taken to differ from a named one: DAG cannot tell
 * which branch that is.
 */
function inferredStrategy(from: BranchLayout, to: BranchLayout): PromotionStrategy {
  return branchPromotionProblem(from, to, String) === undefined ? 'iac-branch' : 'folder';
}

/** Promoting into production takes more than write access unless the route says otherwise. */
function defaultPromotePermission(environment: string): Permission {
  return isProductionName(environment) ? 'maintain' : 'write';
}

function toRoute(row: Row): PromotionRoute {
  const r = parseRow(promotionRouteRow, 'promotion_routes', row);
  if (r.from_app_id !== r.app_id || r.to_app_id !== r.app_id) {
    throw new ConfigError(
      `row ${r.id} of promotion_routes is invalid: both environments must belong to app ${r.app_id}`,
    );
  }
  const from = {
    name: 'source',
    iacId: r.from_iac_id,
    iacPath: r.from_iac_path,
    iacBranch: r.from_iac_branch,
    reconciledBranch: r.from_reconciled_branch,
  };
  const to = {
    name: r.to_name,
    iacId: r.to_iac_id,
    iacPath: r.to_iac_path,
    iacBranch: r.to_iac_branch,
    reconciledBranch: r.to_reconciled_branch,
  };
  return {
    id: r.id,
    appId: r.app_id,
    fromEnvironmentId: r.from_environment_id,
    toEnvironmentId: r.to_environment_id,
    strategy: r.strategy ?? inferredStrategy(from, to),
    strategyInferred: r.strategy === null,
    automatic: r.automatic,
    requiredPermission: r.required_permission ?? defaultPromotePermission(r.to_name),
    createdAt: r.created_at,
  };
}

function toPromotion(row: Row): PromotionRecord {
  const r = parseRow(promotionRow, 'promotions', row);
  return {
    id: r.id,
    routeId: r.route_id,
    repoUrl: r.repo_url,
    number: r.number,
    url: r.url,
    branch: r.branch,
    baseBranch: r.base_branch,
    pushedHead: r.pushed_head,
    sourceSha: r.source_sha,
    state: r.state,
    handsOff: r.hands_off,
    reported: r.reported,
    updatedAt: r.updated_at,
  };
}

/** Why the strategy cannot move a release from one environment to the other, if it cannot. */
function strategyProblem(
  strategy: PromotionStrategy,
  from: Environment,
  to: Environment,
  iacName: (id: number) => string,
): string | undefined {
  const pair = `${from.name} and ${to.name}`;
  switch (strategy) {
    case 'folder':
      return undefined;
    case 'app-branch':
      return from.branch === to.branch
        ? `strategy 'app-branch' needs two app branches, but ${pair} both deploy ${from.branch}`
        : undefined;
    case 'iac-branch':
      return branchPromotionProblem(from, to, iacName);
  }
}

/**
 * Promotion routes and records in SQL. Apps and environments are resolved through the
 * configuration store, as people name them.
 */
export class SqlPromotionStore {
  readonly #db: Db;
  readonly #config: PromotionConfig;

  constructor(db: Db, config: PromotionConfig) {
    this.#db = db;
    this.#config = config;
  }

  // ---- routes

  /** The app and its environments of these names, or a UserError naming the unknown one. */
  async #resolve(appRef: string, names: string[]): Promise<{ app: App; envs: Environment[] }> {
    const app = await this.#config.findApp(appRef);
    if (!app) throw new UserError(`unknown app: ${appRef} (see: dag apps list)`);
    const all = await this.#config.listEnvironments(String(app.id));
    const envs = names.map((name) => {
      const env = all.find((e) => e.name === name);
      if (!env) {
        throw new UserError(
          `app ${app.name} has no environment named ${name} (see: dag envs list --app ${app.name})`,
        );
      }
      return env;
    });
    return { app, envs };
  }

  async addRoute(input: NewPromotionRoute): Promise<PromotionRoute> {
    const { app, envs } = await this.#resolve(input.app, [input.from, input.to]);
    const [from, to] = envs as [Environment, Environment];
    if (from.id === to.id) {
      throw new UserError(`an environment cannot promote to itself: ${from.name}`);
    }
    if (input.strategy !== undefined) {
      const iacs = new Map((await this.#config.listIacs()).map((i) => [i.id, i.name]));
      const iacName = (id: number) => iacs.get(id) ?? `IAC repository ${id}`;
      const problem = strategyProblem(input.strategy, from, to, iacName);
      if (problem) throw new UserError(`app ${app.name}: ${problem}`);
    }
    const { rows } = await friendly(
      this.#db.query<{ id: number }>(
        `INSERT INTO promotion_routes
           (app_id, from_environment_id, to_environment_id, strategy, automatic, required_permission)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (from_environment_id, to_environment_id) DO NOTHING RETURNING id`,
        [
          app.id,
          from.id,
          to.id,
          input.strategy ?? null,
          input.automatic ?? false,
          input.requiredPermission ?? null,
        ],
      ),
    );
    if (!rows[0]) {
      throw new UserError(`app ${app.name} already promotes ${from.name} to ${to.name}`);
    }
    return (await this.getRoute(rows[0].id)) as PromotionRoute;
  }

  async listRoutes(appRef?: string): Promise<PromotionRoute[]> {
    if (appRef === undefined) {
      const { rows } = await this.#db.query(`${ROUTES} ORDER BY r.app_id, r.id`);
      return rows.map(toRoute);
    }
    const { app } = await this.#resolve(appRef, []);
    const { rows } = await this.#db.query(`${ROUTES} WHERE r.app_id = $1 ORDER BY r.id`, [app.id]);
    return rows.map(toRoute);
  }

  async getRoute(id: number): Promise<PromotionRoute | undefined> {
    const { rows } = await this.#db.query(`${ROUTES} WHERE r.id = $1`, [id]);
    return rows[0] ? toRoute(rows[0]) : undefined;
  }

  async removeRoute(appRef: string, from: string, to: string): Promise<PromotionRoute> {
    const { app, envs } = await this.#resolve(appRef, [from, to]);
    const [source, target] = envs as [Environment, Environment];
    const { rows } = await this.#db.query(
      `${ROUTES} WHERE r.from_environment_id = $1 AND r.to_environment_id = $2`,
      [source.id, target.id],
    );
    if (!rows[0]) {
      throw new UserError(
        `app ${app.name} has no promotion route from ${from} to ${to} (see: dag promotions list)`,
      );
    }
    const route = toRoute(rows[0]);
    await this.#db.query('DELETE FROM promotion_routes WHERE id = $1', [route.id]);
    return route;
  }

  // ---- promotion pull requests

  async currentPromotion(routeId: number): Promise<PromotionRecord | undefined> {
    const { rows } = await this.#db.query(
      `SELECT * FROM promotions WHERE route_id = $1
       ORDER BY state = 'open' DESC, id DESC LIMIT 1`,
      [routeId],
    );
    return rows[0] ? toPromotion(rows[0]) : undefined;
  }

  async savePromotion(
    record: Omit<PromotionRecord, 'id' | 'updatedAt'> & { id?: number | undefined },
  ): Promise<PromotionRecord> {
    const fields = [
      record.repoUrl,
      record.number,
      record.url,
      record.branch,
      record.baseBranch,
      record.pushedHead,
      record.sourceSha,
      record.state,
      record.handsOff,
      record.reported,
    ];
    if (record.id === undefined) {
      const { rows } = await friendly(
        this.#db.query(
          `INSERT INTO promotions (route_id, repo_url, number, url, branch, base_branch,
             pushed_head, source_sha, state, hands_off, reported)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [record.routeId, ...fields],
        ),
      );
      return toPromotion(rows[0] as Row);
    }
    const { rows } = await friendly(
      this.#db.query(
        `UPDATE promotions SET repo_url = $3, number = $4, url = $5, branch = $6,
           base_branch = $7, pushed_head = $8, source_sha = $9, state = $10, hands_off = $11,
           reported = $12, updated_at = now()
         WHERE id = $1 AND route_id = $2 RETURNING *`,
        [record.id, record.routeId, ...fields],
      ),
    );
    if (!rows[0]) throw new UserError(`no promotion ${record.id} of route ${record.routeId}`);
    return toPromotion(rows[0]);
  }

  /** The promotion of this pull request; the URL may be in any form (see repoKey). */
  async findPromotionByPullRequest(
    repoUrl: string,
    number: number,
  ): Promise<PromotionRecord | undefined> {
    const { rows } = await this.#db.query(
      'SELECT * FROM promotions WHERE number = $1 ORDER BY id',
      [number],
    );
    const key = repoKey(repoUrl);
    return rows
      .map(toPromotion)
      .find((p) => p.repoUrl === repoUrl || (key !== undefined && repoKey(p.repoUrl) === key));
  }
}
