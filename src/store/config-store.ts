import { ConfigError, TransientError, UserError } from '../errors.ts';
import type { SecretMasker } from '../log.ts';
import { repoKey, repoShortName } from '../util/repo-url.ts';
import { Keyring, isSealed } from './crypto.ts';
import type { Db, Queryable } from './db.ts';
import { uniqueEnvironmentName } from './environment-name.ts';
import { SqlPromotionStore } from './promotion-store.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import {
  appRow,
  clusterRow,
  deployRow,
  environmentRow,
  iacRow,
  type AppPatch,
  type ConfigStore,
  type DeployAsk,
  type DeployPatch,
  type DeployRecord,
  type DeployRulesPatch,
  type DeployState,
  type DeployStore,
  type NewApp,
  type NewCluster,
  type NewEnvironment,
  type NewIac,
  type NewPromotionRoute,
  type PromotionRecord,
  type PromotionRoute,
  type PromotionStore,
  type SecretsReport,
} from './types.ts';
import {
  deployRules,
  type App,
  type Cluster,
  type DeployRules,
  type Environment,
  type Iac,
} from '../model.ts';

function toApp(row: Row): App {
  const r = parseRow(appRow, 'apps', row);
  return {
    id: r.id,
    gitProvider: r.git_provider,
    repoUrl: r.repo_url,
    name: r.name ?? repoShortName(r.repo_url) ?? `app-${r.id}`,
    chart: {
      source: r.chart_source,
      path: r.chart_path,
      repoUrl: r.chart_repo_url,
      name: r.chart_name,
      version: r.chart_version,
      secretRef: r.chart_secret_ref,
    },
    imageRepository: r.image_repository,
    imageTagFormat: r.image_tag_format,
    valuesPath: r.values_path,
    autoDiff: r.auto_diff,
    createdAt: r.created_at,
  };
}

function toDeploy(row: Row): DeployRecord {
  const r = parseRow(deployRow, 'deploys', row);
  return {
    id: r.id,
    environmentId: r.environment_id,
    sha: r.sha,
    ref: r.ref,
    pusher: r.pusher,
    attempt: r.attempt,
    requestKey: r.request_key,
    state: r.state,
    providerDeploymentId: r.provider_deployment_id,
    reportedState: r.reported_state,
    iacCommit: r.iac_commit,
    iacChanged: r.iac_changed,
    iacBranch: r.iac_branch,
    error: r.error,
    updatedAt: r.updated_at,
  };
}

function toIac(row: Row): Iac {
  const r = parseRow(iacRow, 'iacs', row);
  return {
    id: r.id,
    name: r.name,
    repoUrl: r.repo_url,
    gitProvider: r.git_provider,
    hasToken: r.access_token !== null,
    createdAt: r.created_at,
  };
}

function toCluster(row: Row): Cluster {
  const r = parseRow(clusterRow, 'clusters', row);
  return {
    id: r.id,
    name: r.name,
    apiUrl: r.api_url,
    caCert: r.ca_cert,
    hasToken: r.service_account_token !== null,
    createdAt: r.created_at,
  };
}

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
    rules: deployRules(r.name, {
      requiresApproval: r.deploy_requires_approval,
      requiresGreenChecks: r.deploy_requires_green_checks,
      onlyFromOwnBranch: r.deploy_only_from_branch,
    }),
    createdAt: r.created_at,
  };
}

/** Turns a constraint violation into the sentence an operator needs. */
const friendly = constraintMessages({
  apps_repo_url_key: 'an app with this repository URL already exists',
  apps_name_key: 'an app with this name already exists',
  apps_git_provider_check: "git provider must be 'github' or 'gitlab'",
  apps_repo_url_check: 'the repository URL must start with https://, http://, ssh:// or git@',
  apps_name_check: 'app names use lower-case letters, digits, ".", "_" and "-"',
  apps_chart_source_check: "chart source must be 'app-repo', 'helm', 'oci' or 'git'",
  apps_chart_path_check:
    'the chart path must be relative and without ".." (e.g. chart or deploy/chart)',
  apps_chart_repo_url_check: 'the chart repository URL must start with https://, http:// or oci://',
  apps_values_path_check: 'the values path must be relative and without ".." (e.g. deploy)',
  iacs_name_key: 'an IAC repository with this name already exists',
  iacs_name_check: 'IAC names use letters, digits, ".", "_" and "-"',
  iacs_git_provider_check: "git provider must be 'github' or 'gitlab'",
  iacs_repo_url_check:
    'the IAC repository URL must start with https://, http://, ssh://, git@ or file://',
  clusters_name_key: 'a cluster with this name already exists',
  clusters_name_check: 'cluster names use letters, digits, ".", "_" and "-"',
  clusters_api_url_check: 'the cluster API URL must be an http(s) URL',
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
  apps_environments_name_check:
    'environment names use lower-case letters, digits, ".", "_" and "-"',
  apps_environments_iac_id_fkey: 'this IAC repository is still used by an environment',
  apps_environments_cluster_id_fkey: 'this cluster is still used by an environment',
});

/** The column of each field updateApp may set. */
const APP_PATCH_COLUMNS = {
  chartSource: 'chart_source',
  chartPath: 'chart_path',
  chartRepoUrl: 'chart_repo_url',
  chartName: 'chart_name',
  chartVersion: 'chart_version',
  chartSecretRef: 'chart_secret_ref',
  imageRepository: 'image_repository',
  imageTagFormat: 'image_tag_format',
  valuesPath: 'values_path',
  autoDiff: 'auto_diff',
} as const satisfies Record<keyof AppPatch, string>;

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

/** Why an app's chart settings cannot build a release (see chartSourceOf), if they cannot. */
function chartProblem(chart: App['chart']): string | undefined {
  const url = chart.repoUrl ?? '';
  switch (chart.source) {
    case 'app-repo':
      return undefined;
    case 'helm':
      if (!url.startsWith('https://')) {
        return "chart source 'helm' needs the Helm repository's https:// URL (for a chart in an OCI registry use chart source 'oci')";
      }
      return chart.name ? undefined : "chart source 'helm' needs the chart's name";
    case 'oci':
      return url.startsWith('oci://')
        ? undefined
        : "chart source 'oci' needs the chart's oci:// URL (e.g. oci://ghcr.io/org/charts/my-app)";
    case 'git':
      return /^https?:\/\//.test(url)
        ? undefined
        : "chart source 'git' needs the chart repository's https:// URL";
  }
}

const SECRET_COLUMNS = [
  { table: 'iacs', column: 'access_token' },
  { table: 'clusters', column: 'service_account_token' },
] as const;

export class SqlConfigStore implements ConfigStore, DeployStore, PromotionStore {
  readonly #db: Db;
  readonly #keyring: Keyring;
  readonly #masker: SecretMasker | undefined;
  readonly #promotions: SqlPromotionStore;

  constructor(db: Db, keyring: Keyring, masker?: SecretMasker) {
    this.#db = db;
    this.#keyring = keyring;
    this.#masker = masker;
    this.#promotions = new SqlPromotionStore(db, this);
  }

  // ---- apps

  async listApps(): Promise<App[]> {
    const { rows } = await this.#db.query('SELECT * FROM apps ORDER BY id');
    return rows.map(toApp);
  }

  async findApp(ref: string): Promise<App | undefined> {
    const apps = await this.listApps();
    const key = repoKey(ref);
    return (
      apps.find((a) => /^\d+$/.test(ref) && a.id === Number(ref)) ??
      apps.find((a) => key !== undefined && repoKey(a.repoUrl) === key) ??
      apps.find((a) => a.name === ref)
    );
  }

  async #requireApp(ref: string): Promise<App> {
    const app = await this.findApp(ref);
    if (!app) throw new UserError(`unknown app: ${ref} (see: dag apps list)`);
    return app;
  }

  async addApp(input: NewApp): Promise<App> {
    const key = repoKey(input.repoUrl);
    if (!key) throw new UserError(`not a repository URL: ${input.repoUrl}`);
    const existing = (await this.listApps()).find((a) => repoKey(a.repoUrl) === key);
    if (existing) {
      throw new UserError(`app ${existing.id} (${existing.name}) already uses this repository`);
    }
    const { rows } = await friendly(
      this.#db.query(
        'INSERT INTO apps (git_provider, repo_url, name) VALUES ($1, $2, $3) RETURNING *',
        [input.gitProvider, input.repoUrl, input.name ?? null],
      ),
    );
    return toApp(rows[0] as Row);
  }

  async updateApp(ref: string, patch: AppPatch): Promise<App> {
    const app = await this.#requireApp(ref);
    const fields = (Object.keys(APP_PATCH_COLUMNS) as (keyof AppPatch)[]).filter(
      (field) => patch[field] !== undefined,
    );
    if (fields.length === 0) return app;
    // Read, check and write under the row's lock: a concurrent edit cannot slip in between.
    return this.#db.transaction(async (tx) => {
      const { rows: locked } = await tx.query<Row>('SELECT * FROM apps WHERE id = $1 FOR UPDATE', [
        app.id,
      ]);
      if (!locked[0]) throw new UserError(`unknown app: ${ref} (see: dag apps list)`);
      const current = toApp(locked[0]);
      const pick = <T>(value: T | undefined, old: T): T => (value === undefined ? old : value);
      const problem = chartProblem({
        source: pick(patch.chartSource, current.chart.source),
        path: pick(patch.chartPath, current.chart.path),
        repoUrl: pick(patch.chartRepoUrl, current.chart.repoUrl),
        name: pick(patch.chartName, current.chart.name),
        version: pick(patch.chartVersion, current.chart.version),
        secretRef: pick(patch.chartSecretRef, current.chart.secretRef),
      });
      if (problem) throw new UserError(`app ${current.name}: ${problem}`);
      const assignments = fields.map((field, i) => `${APP_PATCH_COLUMNS[field]} = $${i + 2}`);
      const { rows } = await friendly(
        tx.query<Row>(
          `UPDATE apps SET ${assignments.join(', ')}, updated_at = now() WHERE id = $1 RETURNING *`,
          [current.id, ...fields.map((field) => patch[field])],
        ),
      );
      return toApp(rows[0] as Row);
    });
  }

  async removeApp(ref: string): Promise<App> {
    const app = await this.#requireApp(ref);
    await this.#db.query('DELETE FROM apps WHERE id = $1', [app.id]);
    return app;
  }

  // ---- IAC repositories

  async listIacs(): Promise<Iac[]> {
    const { rows } = await this.#db.query('SELECT * FROM iacs ORDER BY id');
    return rows.map(toIac);
  }

  async findIac(ref: string): Promise<Iac | undefined> {
    const all = await this.listIacs();
    return (
      all.find((i) => /^\d+$/.test(ref) && i.id === Number(ref)) ?? all.find((i) => i.name === ref)
    );
  }

  async addIac(input: NewIac): Promise<Iac> {
    const token = input.accessToken ? this.#keyring.seal(input.accessToken) : null;
    const { rows } = await friendly(
      this.#db.query(
        'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4) RETURNING *',
        [input.name, input.repoUrl, token, input.gitProvider ?? null],
      ),
    );
    return toIac(rows[0] as Row);
  }

  async removeIac(ref: string): Promise<Iac> {
    const iac = await this.findIac(ref);
    if (!iac) throw new UserError(`unknown IAC repository: ${ref} (see: dag iacs list)`);
    await friendly(this.#db.query('DELETE FROM iacs WHERE id = $1', [iac.id]));
    return iac;
  }

  iacToken(id: number): Promise<string | null> {
    return this.#secret('iacs', 'access_token', id);
  }

  // ---- clusters

  async listClusters(): Promise<Cluster[]> {
    const { rows } = await this.#db.query('SELECT * FROM clusters ORDER BY id');
    return rows.map(toCluster);
  }

  async findCluster(ref: string): Promise<Cluster | undefined> {
    const all = await this.listClusters();
    return (
      all.find((c) => /^\d+$/.test(ref) && c.id === Number(ref)) ?? all.find((c) => c.name === ref)
    );
  }

  async addCluster(input: NewCluster): Promise<Cluster> {
    const token = input.serviceAccountToken ? this.#keyring.seal(input.serviceAccountToken) : null;
    const { rows } = await friendly(
      this.#db.query(
        'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4) RETURNING *',
        [input.name, input.apiUrl, token, input.caCert ?? null],
      ),
    );
    return toCluster(rows[0] as Row);
  }

  async removeCluster(ref: string): Promise<Cluster> {
    const cluster = await this.findCluster(ref);
    if (!cluster) throw new UserError(`unknown cluster: ${ref} (see: dag clusters list)`);
    await friendly(this.#db.query('DELETE FROM clusters WHERE id = $1', [cluster.id]));
    return cluster;
  }

  clusterToken(id: number): Promise<string | null> {
    return this.#secret('clusters', 'service_account_token', id);
  }

  // ---- environments

  async listEnvironments(appRef?: string): Promise<Environment[]> {
    await this.#nameEnvironments(); // rows inserted by SQL since start get their names first
    if (appRef === undefined) {
      const { rows } = await this.#db.query('SELECT * FROM apps_environments ORDER BY app_id, id');
      return rows.map(toEnvironment);
    }
    const app = await this.#requireApp(appRef);
    const { rows } = await this.#db.query(
      'SELECT * FROM apps_environments WHERE app_id = $1 ORDER BY id',
      [app.id],
    );
    return rows.map(toEnvironment);
  }

  async addEnvironment(input: NewEnvironment): Promise<Environment> {
    const app = await this.#requireApp(input.app);
    const iac = await this.findIac(input.iac);
    if (!iac) throw new UserError(`unknown IAC repository: ${input.iac} (see: dag iacs list)`);
    const cluster = await this.findCluster(input.cluster);
    if (!cluster) throw new UserError(`unknown cluster: ${input.cluster} (see: dag clusters list)`);
    const rules = ruleFields(input.rules);
    const { rows } = await friendly(
      this.#db.query(
        `INSERT INTO apps_environments
           (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name, iac_branch, name${rules.map((field) => `, ${RULE_COLUMNS[field]}`).join('')})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10${rules.map((_, i) => `, $${i + 11}`).join('')}) RETURNING id`,
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

  async setEnvironmentRules(
    appRef: string,
    name: string,
    patch: DeployRulesPatch,
  ): Promise<Environment> {
    const env = (await this.listEnvironments(appRef)).find((e) => e.name === name);
    if (!env) throw new UserError(`app ${appRef} has no environment named ${name}`);
    const fields = ruleFields(patch);
    if (fields.length === 0) return env;
    const assignments = fields.map((field, i) => `${RULE_COLUMNS[field]} = $${i + 2}`);
    const { rows } = await this.#db.query<Row>(
      `UPDATE apps_environments SET ${assignments.join(', ')}, updated_at = now() WHERE id = $1 RETURNING *`,
      [env.id, ...fields.map((field) => patch[field])],
    );
    if (!rows[0]) throw new UserError(`app ${appRef} has no environment named ${name}`);
    return toEnvironment(rows[0]);
  }

  async findAppByRepoUrls(urls: string[]): Promise<App | undefined> {
    const keys = new Set(urls.map((u) => repoKey(u)).filter((k) => k !== undefined));
    return (await this.listApps()).find((a) => keys.has(repoKey(a.repoUrl) ?? ''));
  }

  async getApp(id: number): Promise<App | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM apps WHERE id = $1', [id]);
    return rows[0] ? toApp(rows[0]) : undefined;
  }

  async getEnvironment(id: number): Promise<Environment | undefined> {
    await this.#nameEnvironments();
    const { rows } = await this.#db.query('SELECT * FROM apps_environments WHERE id = $1', [id]);
    return rows[0] ? toEnvironment(rows[0]) : undefined;
  }

  async getIac(id: number): Promise<Iac | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM iacs WHERE id = $1', [id]);
    return rows[0] ? toIac(rows[0]) : undefined;
  }

  async getCluster(id: number): Promise<Cluster | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM clusters WHERE id = $1', [id]);
    return rows[0] ? toCluster(rows[0]) : undefined;
  }

  // ---- deploys

  async beginDeploy(input: {
    environmentId: number;
    sha: string;
    ref: string;
    pusher: string | null;
    attempt?: number | undefined;
  }): Promise<DeployRecord> {
    // Insert-or-read: concurrent redeliveries get the same row.
    const { rows } = await this.#db.query(
      `INSERT INTO deploys (environment_id, sha, ref, pusher, attempt) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (environment_id, sha, attempt) DO NOTHING
       RETURNING *`,
      [input.environmentId, input.sha, input.ref, input.pusher, input.attempt ?? 1],
    );
    if (rows[0]) return toDeploy(rows[0]);
    // A separate statement sees the row a concurrent insert committed.
    const found = await this.#db.query(
      `SELECT * FROM deploys WHERE environment_id = $1 AND sha = $2
          AND ($3::int IS NULL OR attempt = $3)
        ORDER BY attempt DESC LIMIT 1`,
      [input.environmentId, input.sha, input.attempt ?? null],
    );
    if (!found.rows[0]) throw new TransientError('a deploy record vanished while it was read');
    return toDeploy(found.rows[0]);
  }

  async requestDeploy(input: {
    environmentId: number;
    sha: string;
    ref: string;
    pusher: string | null;
    requestKey: string;
  }): Promise<DeployAsk> {
    const one = async (sql: string, params: unknown[]) => {
      const { rows } = await this.#db.query(sql, params);
      return rows[0] ? toDeploy(rows[0]) : undefined;
    };
    // A concurrent request may insert the same attempt first: then look again (it is pending).
    for (let tries = 0; tries < 5; tries++) {
      const mine = await one(
        'SELECT * FROM deploys WHERE environment_id = $1 AND request_key = $2',
        [input.environmentId, input.requestKey],
      );
      if (mine) return { status: 'new', record: mine };
      const latest = await one(
        `SELECT * FROM deploys WHERE environment_id = $1 AND sha = $2
          ORDER BY attempt DESC LIMIT 1`,
        [input.environmentId, input.sha],
      );
      if (latest && (latest.state === 'queued' || latest.state === 'in_progress')) {
        return { status: 'joined', record: latest };
      }
      if (latest?.state === 'success') {
        const running = await this.runningDeploy(input.environmentId);
        if (running?.id === latest.id) return { status: 'current', record: latest };
      }
      const inserted = await one(
        `INSERT INTO deploys (environment_id, sha, ref, pusher, attempt, request_key)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING *`,
        [
          input.environmentId,
          input.sha,
          input.ref,
          input.pusher,
          (latest?.attempt ?? 0) + 1,
          input.requestKey,
        ],
      );
      if (inserted) return { status: 'new', record: inserted };
    }
    throw new TransientError('concurrent deploy requests kept colliding; try again');
  }

  /**
   * What the environment runs: its latest successful deploy, unless another deploy of it is
   * queued or running (then what it will run is not settled: undefined).
   */
  async runningDeploy(environmentId: number): Promise<DeployRecord | undefined> {
    const { rows } = await this.#db.query(
      `SELECT * FROM deploys d WHERE environment_id = $1 AND state = 'success'
          AND NOT EXISTS (SELECT 1 FROM deploys p WHERE p.environment_id = $1
                            AND p.state IN ('queued', 'in_progress'))
        ORDER BY updated_at DESC, id DESC LIMIT 1`,
      [environmentId],
    );
    return rows[0] ? toDeploy(rows[0]) : undefined;
  }

  async claimDeployment(
    id: number,
    staleAfterSeconds: number,
    owner?: string,
  ): Promise<{ claimed: false } | { claimed: true; takenOver: boolean }> {
    // One atomic UPDATE: of callers racing for the same row, exactly one sees it match.
    const { rows } = await this.#db.query<{ previous: Date | string | null }>(
      `UPDATE deploys d SET deployment_claim = clock_timestamp(), deployment_claim_owner = $3
         FROM (SELECT id, deployment_claim AS previous FROM deploys WHERE id = $1) old
        WHERE d.id = old.id AND d.provider_deployment_id IS NULL
          AND (d.deployment_claim IS NULL
               OR d.deployment_claim < clock_timestamp() - make_interval(secs => $2)
               OR d.deployment_claim_owner = $3)
       RETURNING old.previous`,
      [id, staleAfterSeconds, owner ?? null],
    );
    if (!rows[0]) return { claimed: false };
    return { claimed: true, takenOver: rows[0].previous !== null };
  }

  async releaseDeploymentClaim(id: number): Promise<void> {
    await this.#db.query(
      'UPDATE deploys SET deployment_claim = NULL WHERE id = $1 AND provider_deployment_id IS NULL',
      [id],
    );
  }

  async markReported(id: number, state: DeployState): Promise<boolean> {
    // Reported states only move forward: queued, in_progress, then success or failure.
    const rank = (column: string) =>
      `CASE ${column} WHEN 'queued' THEN 0 WHEN 'in_progress' THEN 1 ELSE 2 END`;
    const { rows } = await this.#db.query(
      `UPDATE deploys SET reported_state = $2
        WHERE id = $1 AND (reported_state IS NULL OR ${rank('reported_state')} < ${rank('$2::text')})
       RETURNING id`,
      [id, state],
    );
    return rows.length > 0;
  }

  async getDeploy(id: number): Promise<DeployRecord | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM deploys WHERE id = $1', [id]);
    return rows[0] ? toDeploy(rows[0]) : undefined;
  }

  async updateDeploy(id: number, patch: DeployPatch): Promise<DeployRecord> {
    const { rows } = await this.#db.query(
      `UPDATE deploys SET
         state = COALESCE($2, state),
         provider_deployment_id = COALESCE($3, provider_deployment_id),
         iac_commit = COALESCE($4, iac_commit),
         error = CASE WHEN $2::text = 'success' THEN NULL ELSE COALESCE($5, error) END,
         reported_state = COALESCE($6, reported_state),
         iac_changed = COALESCE($7, iac_changed),
         iac_branch = COALESCE($8, iac_branch),
         updated_at = CASE WHEN $2::text IS NULL THEN updated_at ELSE now() END
       WHERE id = $1 RETURNING *`,
      [
        id,
        patch.state ?? null,
        patch.providerDeploymentId ?? null,
        patch.iacCommit ?? null,
        patch.error ?? null,
        patch.reportedState ?? null,
        patch.iacChanged ?? null,
        patch.iacBranch ?? null,
      ],
    );
    if (!rows[0]) throw new UserError(`no deploy with id ${id}`);
    return toDeploy(rows[0]);
  }

  async listDeploys(
    options: { environmentId?: number; limit?: number } = {},
  ): Promise<DeployRecord[]> {
    const { rows } = await this.#db.query(
      `SELECT * FROM deploys WHERE ($1::int IS NULL OR environment_id = $1)
       ORDER BY id DESC LIMIT $2`,
      [options.environmentId ?? null, options.limit ?? 50],
    );
    return rows.map(toDeploy);
  }

  // ---- promotions (SqlPromotionStore)

  addRoute(input: NewPromotionRoute): Promise<PromotionRoute> {
    return this.#promotions.addRoute(input);
  }

  listRoutes(appRef?: string): Promise<PromotionRoute[]> {
    return this.#promotions.listRoutes(appRef);
  }

  getRoute(id: number): Promise<PromotionRoute | undefined> {
    return this.#promotions.getRoute(id);
  }

  removeRoute(appRef: string, from: string, to: string): Promise<PromotionRoute> {
    return this.#promotions.removeRoute(appRef, from, to);
  }

  currentPromotion(routeId: number): Promise<PromotionRecord | undefined> {
    return this.#promotions.currentPromotion(routeId);
  }

  savePromotion(
    record: Omit<PromotionRecord, 'id' | 'updatedAt'> & { id?: number | undefined },
  ): Promise<PromotionRecord> {
    return this.#promotions.savePromotion(record);
  }

  findPromotionByPullRequest(
    repoUrl: string,
    number: number,
  ): Promise<PromotionRecord | undefined> {
    return this.#promotions.findPromotionByPullRequest(repoUrl, number);
  }

  // ---- upkeep

  async normalize(): Promise<{ sealed: number; resealed: number; named: number }> {
    let sealed = 0;
    let resealed = 0;
    for (const { table, column } of SECRET_COLUMNS) {
      const counts = await this.#db.transaction(async (tx) => {
        const { rows } = await tx.query<{ id: number; value: string }>(
          `SELECT id, ${column} AS value FROM ${table} WHERE ${column} IS NOT NULL ORDER BY id FOR UPDATE`,
        );
        let s = 0;
        let r = 0;
        for (const row of rows) {
          if (!isSealed(row.value)) {
            await this.#store(tx, table, column, row.id, row.value);
            s++;
          } else if (Keyring.sealedWith(row.value) !== this.#keyring.currentId) {
            await this.#store(tx, table, column, row.id, this.#keyring.open(row.value));
            r++;
          }
        }
        return [s, r] as const;
      });
      sealed += counts[0];
      resealed += counts[1];
    }
    const named = await this.#nameEnvironments();
    return { sealed, resealed, named };
  }

  async secretsReport(): Promise<SecretsReport> {
    const report: SecretsReport = {
      sealed: 0,
      plaintext: 0,
      oldKey: 0,
      unknownKey: 0,
      unreadable: [],
    };
    for (const { table, column } of SECRET_COLUMNS) {
      const { rows } = await this.#db.query<{ id: number; value: string }>(
        `SELECT id, ${column} AS value FROM ${table} WHERE ${column} IS NOT NULL ORDER BY id`,
      );
      for (const { id: rowId, value } of rows) {
        const id = Keyring.sealedWith(value);
        if (!isSealed(value)) report.plaintext++;
        else if (id === this.#keyring.currentId) report.sealed++;
        else {
          try {
            this.#keyring.open(value);
            report.oldKey++;
          } catch {
            report.unknownKey++;
            report.unreadable.push({ table, column, id: rowId, keyId: id });
          }
        }
      }
    }
    return report;
  }

  async #store(tx: Queryable, table: string, column: string, id: number, plaintext: string) {
    this.#masker?.add(plaintext);
    await tx.query(`UPDATE ${table} SET ${column} = $1, updated_at = now() WHERE id = $2`, [
      this.#keyring.seal(plaintext),
      id,
    ]);
  }

  async #secret(table: string, column: string, id: number): Promise<string | null> {
    const { rows } = await this.#db.query<{ value: string | null }>(
      `SELECT ${column} AS value FROM ${table} WHERE id = $1`,
      [id],
    );
    if (rows.length === 0) throw new UserError(`no ${table} row with id ${id}`);
    const value = rows[0]?.value ?? null;
    if (value === null) return null;
    if (isSealed(value)) {
      const plaintext = this.#keyring.open(value);
      this.#masker?.add(plaintext);
      return plaintext;
    }
    // Inserted as plaintext since start (plain SQL, as the docs show): seal before use.
    // The WHERE clause keeps a concurrent reseal from being overwritten.
    this.#masker?.add(value);
    await this.#db.query(
      `UPDATE ${table} SET ${column} = $1, updated_at = now() WHERE id = $2 AND ${column} = $3`,
      [this.#keyring.seal(value), id, value],
    );
    return value;
  }

  async #nameEnvironments(): Promise<number> {
    const pending = await this.#db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM apps_environments WHERE name IS NULL',
    );
    if ((pending.rows[0]?.n ?? 0) === 0) return 0;
    const apps = new Map((await this.listApps()).map((a) => [a.id, a]));
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
