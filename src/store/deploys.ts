import { TransientError, UserError } from '../errors.ts';
import type { Db } from './db.ts';
import { parseRow, type Row } from './rows.ts';
import {
  deployRow,
  type DeployAsk,
  type DeployPatch,
  type DeployRecord,
  type DeployState,
  type DeployStore,
} from './types.ts';

export function toDeploy(row: Row): DeployRecord {
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
    rollout: r.rollout,
    rolloutReason: r.rollout_reason,
    rolloutReported: r.rollout_reported,
    rolloutAt: r.rollout_at,
    updatedAt: r.updated_at,
  };
}

/** The deploy records in SQL: one row per attempt to make an environment run a commit. */
export class SqlDeployStore implements DeployStore {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

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
         rollout = CASE WHEN $9::jsonb IS NULL THEN rollout ELSE 'pending' END,
         rollout_request = COALESCE($9::jsonb, rollout_request),
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
        patch.awaitRollout ? JSON.stringify(patch.awaitRollout) : null,
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
}
