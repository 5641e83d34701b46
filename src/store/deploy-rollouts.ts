// The rollouts of committed deploys (deploys.rollout): which deploys of an environment still
// wait for their cluster or for their outcome to be posted, and the outcome each reached.

import type { Queryable } from './db.ts';
import { toDeploy } from './deploys.ts';
import {
  deployRolloutRequest,
  type DeployRecord,
  type DeployRolloutRequest,
  type RolloutOutcome,
} from './types.ts';

/**
 * A deploy whose rollout is open: still pending, its outcome not posted yet, or failed while it
 * is the newest committed (it may recover).
 */
export type OpenRollout = {
  record: DeployRecord;
  /** The deploy's request, or null when the stored one no longer reads (then it is not posted). */
  request: DeployRolloutRequest | null;
};

export class SqlDeployRollouts {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** The environment's open rollouts, oldest first (at most `limit`). */
  async open(environmentId: number, limit = 50): Promise<OpenRollout[]> {
    const { rows } = await this.#db.query(
      `SELECT * FROM deploys
        WHERE environment_id = $1 AND state = 'success'
          AND (rollout IS NOT NULL AND rollout IS DISTINCT FROM rollout_reported
               OR rollout = 'pending'
               -- A failed rollout may still recover while its commit is the newest committed.
               OR rollout = 'failed' AND id = (SELECT max(id) FROM deploys
                                                WHERE environment_id = $1 AND state = 'success'))
        ORDER BY id LIMIT $2`,
      [environmentId, limit],
    );
    return rows.map((row) => {
      const raw =
        typeof row.rollout_request === 'string'
          ? (JSON.parse(row.rollout_request) as unknown)
          : row.rollout_request;
      const parsed = deployRolloutRequest.safeParse(raw);
      return { record: toDeploy(row), request: parsed.success ? parsed.data : null };
    });
  }

  /**
   * Records the outcome a pending rollout reached (or a failed one that recovered: `healthy`).
   * Healthy and superseded are final. The record as it is now, or undefined when it had ended.
   */
  async settle(
    id: number,
    outcome: Exclude<RolloutOutcome, 'pending'>,
    reason: string | null,
  ): Promise<DeployRecord | undefined> {
    const { rows } = await this.#db.query(
      `UPDATE deploys SET rollout = $2, rollout_reason = $3, rollout_at = clock_timestamp()
        WHERE id = $1 AND (rollout = 'pending' OR rollout = 'failed' AND $2 = 'healthy')
       RETURNING *`,
      [id, outcome, reason?.slice(0, 1000) ?? null],
    );
    return rows[0] ? toDeploy(rows[0]) : undefined;
  }

  /** Records that `outcome` was posted to the provider. */
  async markReported(id: number, outcome: RolloutOutcome): Promise<void> {
    await this.#db.query('UPDATE deploys SET rollout_reported = $2 WHERE id = $1', [id, outcome]);
  }
}
