import { UserError } from '../errors.ts';
import type { App } from '../model.ts';
import { repoKey, repoShortName } from '../util/repo-url.ts';
import type { Db } from './db.ts';
import { constraintMessages, parseRow, type Row } from './rows.ts';
import { appRow, type AppPatch, type NewApp } from './types.ts';

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

/** Turns a constraint violation of apps into the sentence an operator needs. */
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

/** The apps in SQL, found by id, repository URL or short name. */
export class SqlAppStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

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

  /** The app, or a UserError pointing at `dag apps list`. */
  async requireApp(ref: string): Promise<App> {
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
    const app = await this.requireApp(ref);
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
    const app = await this.requireApp(ref);
    await this.#db.query('DELETE FROM apps WHERE id = $1', [app.id]);
    return app;
  }

  async findAppByRepoUrls(urls: string[]): Promise<App | undefined> {
    const keys = new Set(urls.map((u) => repoKey(u)).filter((k) => k !== undefined));
    return (await this.listApps()).find((a) => keys.has(repoKey(a.repoUrl) ?? ''));
  }

  async getApp(id: number): Promise<App | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM apps WHERE id = $1', [id]);
    return rows[0] ? toApp(rows[0]) : undefined;
  }
}
