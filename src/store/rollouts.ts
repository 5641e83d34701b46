// The rollout state of each environment as monitoring last saw it (environment_rollouts), and
// the commit DAG last committed for it (its newest successful deploy). Rows are read back
// through a schema: a row someone edited by hand that no longer makes sense reads as none.

import { z } from 'zod';
import {
  ROLLOUT_PHASES,
  MONITORED_WORKLOAD_KINDS,
  type CommittedCommit,
  type RolloutState,
} from '../monitor/types.ts';
import type { Queryable } from './db.ts';

const COMMIT = z.string().regex(/^[0-9a-f]{7,64}$/);
const DATE = z.iso.datetime({ offset: true }).transform((text) => new Date(text));
const COUNT = z.number().int().nonnegative().nullable();

const stateSchema = z.object({
  phase: z.enum(ROLLOUT_PHASES),
  liveCommit: z
    .object({ sha: COMMIT, from: z.enum(['workloads', 'pods', 'helmrelease']) })
    .nullable(),
  rollingOutCommit: COMMIT.nullable(),
  committedCommit: COMMIT.nullable(),
  reason: z.string().max(1000).nullable(),
  since: DATE,
  workloads: z
    .array(
      z.object({
        kind: z.enum(MONITORED_WORKLOAD_KINDS),
        name: z.string().max(253),
        desired: COUNT,
        updated: COUNT,
        ready: COUNT,
        available: COUNT,
        phase: z.enum(ROLLOUT_PHASES),
        reason: z.string().max(1000).nullable(),
        commit: COMMIT.nullable(),
      }),
    )
    .max(500),
  drift: z.object({
    drifted: z.boolean(),
    kind: z.enum(['commit', 'edited']).nullable(),
    since: DATE.nullable(),
  }),
});

export type StoredRollout = { state: RolloutState; observedAt: Date; reported: string | null };

export class SqlRolloutStore {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
  }

  /** Replaces the environment's state (dates as ISO text in `state`). */
  async save(environmentId: number, state: RolloutState): Promise<void> {
    await this.#db.query(
      `INSERT INTO environment_rollouts
         (environment_id, phase, live_commit, rolling_out_commit, committed_commit, reason, since, state, observed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp())
       ON CONFLICT (environment_id) DO UPDATE SET
         phase = EXCLUDED.phase, live_commit = EXCLUDED.live_commit,
         rolling_out_commit = EXCLUDED.rolling_out_commit,
         committed_commit = EXCLUDED.committed_commit, reason = EXCLUDED.reason,
         since = EXCLUDED.since, state = EXCLUDED.state, observed_at = EXCLUDED.observed_at`,
      [
        environmentId,
        state.phase,
        state.liveCommit?.sha ?? null,
        state.rollingOutCommit,
        state.committedCommit,
        state.reason,
        state.since.toISOString(),
        JSON.stringify(state),
      ],
    );
  }

  async get(environmentId: number): Promise<StoredRollout | undefined> {
    const { rows } = await this.#db.query<{
      state: unknown;
      observed_at: Date | string;
      reported: string | null;
    }>('SELECT state, observed_at, reported FROM environment_rollouts WHERE environment_id = $1', [
      environmentId,
    ]);
    const row = rows[0];
    if (!row) return undefined;
    const raw = typeof row.state === 'string' ? (JSON.parse(row.state) as unknown) : row.state;
    const parsed = stateSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    return { state: parsed.data, observedAt: new Date(row.observed_at), reported: row.reported };
  }

  /** Records the report key last delivered for the environment. */
  async markReported(environmentId: number, key: string): Promise<void> {
    await this.#db.query(
      'UPDATE environment_rollouts SET reported = $2 WHERE environment_id = $1',
      [environmentId, key],
    );
  }

  /**
   * The commit released to the environment's cluster, for one whose cluster reconciles another
   * branch than DAG writes: the newest deploy a merged promotion released (markReleased).
   */
  async released(environmentId: number): Promise<CommittedCommit | null> {
    const { rows } = await this.#db.query<{ sha: string; released_at: Date | string }>(
      `SELECT sha, released_at FROM deploys
        WHERE environment_id = $1 AND state = 'success' AND released_at IS NOT NULL
        ORDER BY released_at DESC, id DESC LIMIT 1`,
      [environmentId],
    );
    const row = rows[0];
    return row ? { sha: row.sha, committedAt: new Date(row.released_at) } : null;
  }

  /** Records that the environment's deploy of `sha` reached the branch its cluster reconciles. */
  async markReleased(environmentId: number, sha: string): Promise<void> {
    await this.#db.query(
      `UPDATE deploys SET released_at = clock_timestamp()
        WHERE id = (SELECT id FROM deploys WHERE environment_id = $1 AND sha = $2
                      AND state = 'success' ORDER BY attempt DESC LIMIT 1)`,
      [environmentId, sha],
    );
  }

  /** The commit DAG last committed for the environment: its newest successful deploy's. */
  async committed(environmentId: number): Promise<CommittedCommit | null> {
    const { rows } = await this.#db.query<{ sha: string; updated_at: Date | string }>(
      `SELECT sha, updated_at FROM deploys
        WHERE environment_id = $1 AND state = 'success'
        ORDER BY updated_at DESC, id DESC LIMIT 1`,
      [environmentId],
    );
    const row = rows[0];
    return row ? { sha: row.sha, committedAt: new Date(row.updated_at) } : null;
  }
}
