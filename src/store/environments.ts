import { ConfigError, UserError } from '../errors.ts';
import { deployRules, type DeployRules, type Environment } from '../model.ts';
import type { SqlAppStore } from './apps.ts';
import type { SqlClusterStore } from './clusters.ts';
import type { Db } from './db.ts';
import { uniqueEnvironmentName } from './environment-name.ts';
import type { SqlIacStore } from './iacs.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import {
  environmentRow,
  type DeployRulesPatch,
  type EnvironmentPatch,
  type NewEnvironment,
} from './types.ts';

function toEnvironment(row: Row): Environment {
  const r = parseRow(environmentRow, 'apps_environments', row);
  if (r.name === null) {
    throw new ConfigError(`environment ${r.id} has no name yet (DAG names environments at start)`);
  }
  return {
    id: r.id,
    appId: r.app_id,
    name: r.name,
    branch: r.branch,
    iacId: r.iac_id,
    iacPath: r.iac_path,
    clusterId: r.cluster_id,
    helmType: r.helm_type,
    helmNamespace: r.helm_namespace,
    helmName: r.helm_name,
    iacBranch: r.iac_branch,
    reconciledBranch: r.reconciled_branch,
    rules: deployRules(r.name, {
      requiresApproval: r.deploy_requires_approval,
      requiresGreenChecks: r.deploy_requires_green_checks,
      onlyFromOwnBranch: r.deploy_only_from_branch,
    }),
    createdAt: r.created_at,
  };
}

/**
 * The environments' references to IAC repositories and clusters: what removing one still used
 * by an environment violates (SqlIacStore and SqlClusterStore say so too).
 */
export const ENVIRONMENT_REFERENCES = {
  apps_environments_iac_id_fkey: 'this IAC repository is still used by an environment',
  apps_environments_cluster_id_fkey: 'this cluster is still used by an environment',
} as const;

/** Turns a constraint violation of apps_environments into the sentence an operator needs. */
const friendly = constraintMessages({
  apps_environments_name_key: 'this app already has an environment with this name',
  apps_environments_target_key:
    'another environment already writes this IAC repository, branch and path',
  apps_environments_helm_type_check: "helm type must be 'flux' or 'plain'",
  apps_environments_helm_namespace_check:
    'the namespace must be a DNS-1123 label (at most 63 characters)',
  apps_environments_helm_name_check:
    'the release name must be a DNS-1123 label of at most 53 characters',
  apps_environments_iac_path_check:
    'the IAC path must be relative, without "..", "." or spaces (e.g. clusters/staging/my-app)',
  apps_environments_branch_check: 'the branch must not be empty or contain spaces',
  apps_environments_iac_branch_check: 'the IAC branch must not be empty or contain spaces',
  apps_environments_reconciled_branch_check:
    'the reconciled branch must not be empty or contain spaces',
  apps_environments_name_check:
    'environment names use lower-case letters, digits, ".", "_" and "-"',
  ...ENVIRONMENT_REFERENCES,
});

/** The column of each /deploy rule (NULL: DAG's default). */
const RULE_COLUMNS = {
  requiresApproval: 'deploy_requires_approval',
  requiresGreenChecks: 'deploy_requires_green_checks',
  onlyFromOwnBranch: 'deploy_only_from_branch',
} as const satisfies Record<keyof DeployRules, string>;

/** The rules a patch sets (null included), in a fixed order; throws on a value not boolean. */
function ruleFields(patch: DeployRulesPatch | undefined): (keyof DeployRules)[] {
  const fields = (Object.keys(RULE_COLUMNS) as (keyof DeployRules)[]).filter(
    (field) => patch?.[field] !== undefined,
  );
  for (const field of fields) {
    const value = patch?.[field];
    if (value !== null && typeof value !== 'boolean') {
      throw new UserError(`deploy rule ${field} must be true, false or null (the default)`);
    }
  }
  return fields;
}

/** A reconciled branch as stored: a plain branch name, or null (the branch DAG writes). */
function reconciledBranch<T extends string | null | undefined>(value: T): T {
  if (typeof value === 'string' && (value === '' || /\s/.test(value))) {
    throw new UserError('the reconciled branch must not be empty or contain spaces');
  }
  return value;
}

/** What the environment store looks up by the names people type. */
export type EnvironmentLookups = {
  apps: Pick<SqlAppStore, 'listApps' | 'requireApp'>;
  iacs: Pick<SqlIacStore, 'findIac'>;
  clusters: Pick<SqlClusterStore, 'findCluster'>;
};

/**
 * The environments of apps in SQL. Rows inserted by plain SQL carry no name: they are named
 * (uniquely per app) before every read.
 */
export class SqlEnvironmentStore {
  readonly #db: Db;
  readonly #lookups: EnvironmentLookups;

  constructor(db: Db, lookups: EnvironmentLookups) {
    this.#db = db;
    this.#lookups = lookups;
  }

  async listEnvironments(appRef?: string): Promise<Environment[]> {
    await this.nameEnvironments(); // rows inserted by SQL since start get their names first
    if (appRef === undefined) {
      const { rows } = await this.#db.query('SELECT * FROM apps_environments ORDER BY app_id, id');
      return rows.map(toEnvironment);
    }
    const app = await this.#lookups.apps.requireApp(appRef);
    const { rows } = await this.#db.query(
      'SELECT * FROM apps_environments WHERE app_id = $1 ORDER BY id',
      [app.id],
    );
    return rows.map(toEnvironment);
  }

  async addEnvironment(input: NewEnvironment): Promise<Environment> {
    const app = await this.#lookups.apps.requireApp(input.app);
    const iac = await this.#lookups.iacs.findIac(input.iac);
    if (!iac) throw new UserError(`unknown IAC repository: ${input.iac} (see: dag iacs list)`);
    const cluster = await this.#lookups.clusters.findCluster(input.cluster);
    if (!cluster) throw new UserError(`unknown cluster: ${input.cluster} (see: dag clusters list)`);
    const rules = ruleFields(input.rules);
    const { rows } = await friendly(
      this.#db.query(
        `INSERT INTO apps_environments
           (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name, iac_branch, reconciled_branch, name${rules.map((field) => `, ${RULE_COLUMNS[field]}`).join('')})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11${rules.map((_, i) => `, $${i + 12}`).join('')}) RETURNING id`,
        [
          app.id,
          input.branch,
          iac.id,
          input.iacPath.replace(/\/+$/, ''),
          cluster.id,
          input.helmType,
          input.helmNamespace ?? null,
          input.helmName ?? null,
          input.iacBranch ?? null,
          reconciledBranch(input.reconciledBranch) ?? null,
          input.name ?? null,
          ...rules.map((field) => input.rules?.[field]),
        ],
      ),
    );
    const id = (rows[0] as { id: number }).id;
    const all = await this.listEnvironments(String(app.id));
    return all.find((e) => e.id === id) as Environment;
  }

  async removeEnvironment(appRef: string, name: string): Promise<Environment> {
    const env = (await this.listEnvironments(appRef)).find((e) => e.name === name);
    if (!env) throw new UserError(`app ${appRef} has no environment named ${name}`);
    await this.#db.query('DELETE FROM apps_environments WHERE id = $1', [env.id]);
    return env;
  }

  async setEnvironment(
    appRef: string,
    name: string,
    patch: EnvironmentPatch,
  ): Promise<Environment> {
    const env = (await this.listEnvironments(appRef)).find((e) => e.name === name);
    if (!env) throw new UserError(`app ${appRef} has no environment named ${name}`);
    const fields = ruleFields(patch.rules);
    const assignments: [string, unknown][] = fields.map((field) => [
      RULE_COLUMNS[field],
      patch.rules?.[field],
    ]);
    if (patch.reconciledBranch !== undefined) {
      assignments.push(['reconciled_branch', reconciledBranch(patch.reconciledBranch)]);
    }
    if (assignments.length === 0) return env;
    const sets = assignments.map(([column], i) => `${column} = $${i + 2}`);
    const { rows } = await friendly(
      this.#db.query<Row>(
        `UPDATE apps_environments SET ${sets.join(', ')}, updated_at = now() WHERE id = $1 RETURNING *`,
        [env.id, ...assignments.map(([, value]) => value)],
      ),
    );
    if (!rows[0]) throw new UserError(`app ${appRef} has no environment named ${name}`);
    return toEnvironment(rows[0]);
  }

  async getEnvironment(id: number): Promise<Environment | undefined> {
    await this.nameEnvironments();
    const { rows } = await this.#db.query('SELECT * FROM apps_environments WHERE id = $1', [id]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  /** Names the environments whose rows carry no name; how many it named. */
  async nameEnvironments(): Promise<number> {
    const pending = await this.#db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM apps_environments WHERE name IS NULL',
    );
    if ((pending.rows[0]?.n ?? 0) === 0) return 0;
    const apps = new Map((await this.#lookups.apps.listApps()).map((a) => [a.id, a]));
    return this.#db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        'SELECT * FROM apps_environments ORDER BY app_id, id FOR UPDATE',
      );
      const envs = rows.map((row) => parseRow(environmentRow, 'apps_environments', row));
      const taken = new Map<number, Set<string>>();
      for (const env of envs) {
        if (!taken.has(env.app_id)) taken.set(env.app_id, new Set());
        if (env.name) taken.get(env.app_id)?.add(env.name);
      }
      let named = 0;
      for (const env of envs.filter((e) => e.name === null)) {
        const names = taken.get(env.app_id) as Set<string>;
        const name = uniqueEnvironmentName(
          {
            id: env.id,
            branch: env.branch,
            iacPath: env.iac_path,
            helmName: env.helm_name,
            helmNamespace: env.helm_namespace,
            appName: apps.get(env.app_id)?.name ?? '',
          },
          names,
        );
        names.add(name);
        await tx.query('UPDATE apps_environments SET name = $1, updated_at = now() WHERE id = $2', [
          name,
          env.id,
        ]);
        named++;
      }
      return named;
    });
  }
}
