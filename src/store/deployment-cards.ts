// What a deployment card is built from: which change request shipped an app commit (asked of
// the provider once per commit, deployment_cards), and where that commit was deployed.

import type { Queryable } from './db.ts';
import { toDeploy } from './deploys.ts';
import type { DeployRecord } from './types.ts';

export class SqlDeploymentCards {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** The request that shipped the commit, null for none, undefined when not asked yet. */
  async shippedBy(appId: number, sha: string): Promise<number | null | undefined> {
    const { rows } = await this.#db.query<{ number: number | null }>(
      'SELECT number FROM deployment_cards WHERE app_id = $1 AND sha = $2',
      [appId, sha],
    );
    return rows[0] === undefined ? undefined : rows[0].number;
  }

  async remember(appId: number, sha: string, number: number | null): Promise<void> {
    await this.#db.query(
      `INSERT INTO deployment_cards (app_id, sha, number) VALUES ($1, $2, $3)
       ON CONFLICT (app_id, sha) DO UPDATE SET number = EXCLUDED.number, found_at = now()`,
      [appId, sha, number],
    );
  }

  /** The latest deploy attempt of the commit in each environment of the app. */
  async deploysOf(appId: number, sha: string): Promise<DeployRecord[]> {
    const { rows } = await this.#db.query(
      `SELECT DISTINCT ON (d.environment_id) d.* FROM deploys d
         JOIN apps_environments e ON e.id = d.environment_id
        WHERE e.app_id = $1 AND d.sha = $2
        ORDER BY d.environment_id, d.attempt DESC`,
      [appId, sha],
    );
    return rows.map(toDeploy);
  }
}
