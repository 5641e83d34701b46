import { z } from 'zod';
import type { Db } from './db.ts';
import { parseRow } from './rows.ts';

export const FIX_PROPOSAL_STATES = [
  'validating',
  'rejected',
  'open',
  'updated',
  'merged',
  'closed',
  'superseded',
  'failed',
] as const;
export type FixProposalState = (typeof FIX_PROPOSAL_STATES)[number];

/** States of a proposal whose pull request is (as far as DAG knows) open. */
export const OPEN_STATES: readonly FixProposalState[] = ['validating', 'open', 'updated'];

export type FixProposalReason = { field: string; message: string };

/** One proposal as recorded (src/store/migrations/1764374400000_fix-proposals.sql). */
export type FixProposalRecord = {
  id: number;
  tokenId: number | null;
  tokenName: string;
  agentName: string;
  agentModel: string;
  title: string;
  rationale: string;
  target: Record<string, unknown>;
  appId: number | null;
  environmentId: number | null;
  fingerprint: string;
  changeKind: 'values-patch' | 'files' | 'diff';
  state: FixProposalState;
  statusCode: number | null;
  reasons: FixProposalReason[];
  prNumber: number | null;
  prUrl: string | null;
  branch: string | null;
  pushedHead: string | null;
  supersededBy: number | null;
  createdAt: Date;
  updatedAt: Date;
};

export type NewFixProposal = Pick<
  FixProposalRecord,
  | 'tokenId'
  | 'tokenName'
  | 'agentName'
  | 'agentModel'
  | 'title'
  | 'rationale'
  | 'target'
  | 'appId'
  | 'environmentId'
  | 'fingerprint'
  | 'changeKind'
  | 'state'
> &
  Partial<Pick<FixProposalRecord, 'statusCode' | 'reasons'>>;

export type FixProposalUpdate = Partial<
  Pick<
    FixProposalRecord,
    'state' | 'statusCode' | 'reasons' | 'prNumber' | 'prUrl' | 'branch' | 'pushedHead'
  >
>;

export type FixProposalFilter = {
  appId?: number;
  state?: FixProposalState;
  /** At most this many, newest first (default 100). */
  limit?: number;
};

/** create() of a proposal whose change is open already under another id. */
export class DuplicateProposalError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('a proposal with this fingerprint is open already', options);
    this.name = 'DuplicateProposalError';
  }
}

export interface FixProposalStore {
  /** Records a proposal; DuplicateProposalError if one with its fingerprint is open. */
  create(input: NewFixProposal): Promise<FixProposalRecord>;
  get(id: number): Promise<FixProposalRecord | undefined>;
  /** The newest proposal with this fingerprint whose pull request is open (or about to be). */
  findOpenByFingerprint(fingerprint: string): Promise<FixProposalRecord | undefined>;
  update(id: number, changes: FixProposalUpdate): Promise<FixProposalRecord>;
  /**
   * Marks the other open proposals for the same app and environment, on the same pull-request
   * branch (the app repository's or the IAC repository's), superseded by `id`; the ids marked.
   */
  supersedeOthers(id: number): Promise<number[]>;
  list(filter?: FixProposalFilter): Promise<FixProposalRecord[]>;
}

/** The proposals of a fix pull request, as its state changes (merged, closed, reopened). */
export interface FixProposalPullRequests {
  /** Every proposal recorded on pull request `number` (of any repository: callers check). */
  listOnPullRequest(number: number): Promise<FixProposalRecord[]>;
  /** Moves the proposals `ids` that are in one of `from` to `to`; the ids moved. */
  moveState(
    ids: number[],
    from: readonly FixProposalState[],
    to: FixProposalState,
  ): Promise<number[]>;
}

const timestamp = z.coerce.date();
const nullableInt = z.coerce.number().int().nullable();
const row = z.object({
  id: z.coerce.number().int(),
  token_id: nullableInt,
  token_name: z.string(),
  agent_name: z.string(),
  agent_model: z.string(),
  title: z.string(),
  rationale: z.string(),
  target: z.record(z.string(), z.unknown()),
  app_id: nullableInt,
  environment_id: nullableInt,
  fingerprint: z.string(),
  change_kind: z.enum(['values-patch', 'files', 'diff']),
  state: z.enum(FIX_PROPOSAL_STATES),
  status_code: nullableInt,
  reasons: z.array(z.object({ field: z.string(), message: z.string() })),
  pr_number: nullableInt,
  pr_url: z.string().nullable(),
  branch: z.string().nullable(),
  pushed_head: z.string().nullable(),
  superseded_by: nullableInt,
  created_at: timestamp,
  updated_at: timestamp,
});

function toRecord(raw: Record<string, unknown>): FixProposalRecord {
  const r = parseRow(row, 'fix_proposals', raw);
  return {
    id: r.id,
    tokenId: r.token_id,
    tokenName: r.token_name,
    agentName: r.agent_name,
    agentModel: r.agent_model,
    title: r.title,
    rationale: r.rationale,
    target: r.target,
    appId: r.app_id,
    environmentId: r.environment_id,
    fingerprint: r.fingerprint,
    changeKind: r.change_kind,
    state: r.state,
    statusCode: r.status_code,
    reasons: r.reasons,
    prNumber: r.pr_number,
    prUrl: r.pr_url,
    branch: r.branch,
    pushedHead: r.pushed_head,
    supersededBy: r.superseded_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const UPDATABLE = {
  state: 'state',
  statusCode: 'status_code',
  reasons: 'reasons',
  prNumber: 'pr_number',
  prUrl: 'pr_url',
  branch: 'branch',
  pushedHead: 'pushed_head',
} as const satisfies Record<keyof FixProposalUpdate, string>;

/** Fix proposals in SQL. */
export class SqlFixProposalStore implements FixProposalStore, FixProposalPullRequests {
  readonly #db: Db;

  constructor(db: Db) {
    this.#db = db;
  }

  async create(input: NewFixProposal): Promise<FixProposalRecord> {
    const { rows } = await this.#insert(input);
    if (!rows[0]) throw new Error('INSERT INTO fix_proposals returned no row');
    return toRecord(rows[0]);
  }

  async #insert(input: NewFixProposal) {
    try {
      return await this.#db.query(
        `INSERT INTO fix_proposals (token_id, token_name, agent_name, agent_model, title, rationale,
         target, app_id, environment_id, fingerprint, change_kind, state, status_code, reasons)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING *`,
        [
          input.tokenId,
          input.tokenName,
          input.agentName,
          input.agentModel,
          input.title,
          input.rationale,
          JSON.stringify(input.target),
          input.appId,
          input.environmentId,
          input.fingerprint,
          input.changeKind,
          input.state,
          input.statusCode ?? null,
          JSON.stringify(input.reasons ?? []),
        ],
      );
    } catch (error) {
      if ((error as { constraint?: unknown }).constraint === 'fix_proposals_open_fingerprint_key') {
        throw new DuplicateProposalError({ cause: error });
      }
      throw error;
    }
  }

  async get(id: number): Promise<FixProposalRecord | undefined> {
    const { rows } = await this.#db.query('SELECT * FROM fix_proposals WHERE id = $1', [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async findOpenByFingerprint(fingerprint: string): Promise<FixProposalRecord | undefined> {
    const { rows } = await this.#db.query(
      `SELECT * FROM fix_proposals WHERE fingerprint = $1 AND state = ANY($2::text[])
        ORDER BY id DESC LIMIT 1`,
      [fingerprint, OPEN_STATES],
    );
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async update(id: number, changes: FixProposalUpdate): Promise<FixProposalRecord> {
    const sets: string[] = ['updated_at = now()'];
    const values: unknown[] = [id];
    for (const [key, column] of Object.entries(UPDATABLE) as [keyof FixProposalUpdate, string][]) {
      const value = changes[key];
      if (value === undefined) continue;
      values.push(key === 'reasons' ? JSON.stringify(value) : value);
      sets.push(`${column} = $${values.length}`);
    }
    const { rows } = await this.#db.query(
      `UPDATE fix_proposals SET ${sets.join(', ')} WHERE id = $1 RETURNING *`,
      values,
    );
    if (!rows[0]) throw new Error(`fix proposal ${id} does not exist`);
    return toRecord(rows[0]);
  }

  async supersedeOthers(id: number): Promise<number[]> {
    const { rows } = await this.#db.query<{ id: number }>(
      `UPDATE fix_proposals o SET state = 'superseded', superseded_by = p.id, updated_at = now()
         FROM fix_proposals p
        WHERE p.id = $1 AND o.id <> p.id AND o.app_id = p.app_id
          AND o.environment_id = p.environment_id AND o.fingerprint <> p.fingerprint
          AND o.branch IS NOT DISTINCT FROM p.branch
          AND o.state = ANY($2::text[])
       RETURNING o.id`,
      [id, ['open', 'updated']],
    );
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async listOnPullRequest(number: number): Promise<FixProposalRecord[]> {
    const { rows } = await this.#db.query(
      'SELECT * FROM fix_proposals WHERE pr_number = $1 ORDER BY id',
      [number],
    );
    return rows.map(toRecord);
  }

  async moveState(
    ids: number[],
    from: readonly FixProposalState[],
    to: FixProposalState,
  ): Promise<number[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.#db.query<{ id: number }>(
      `UPDATE fix_proposals SET state = $3, updated_at = now()
        WHERE id = ANY($1::int[]) AND state = ANY($2::text[]) RETURNING id`,
      [ids, from, to],
    );
    return rows.map((r) => Number(r.id)).sort((a, b) => a - b);
  }

  async list(filter: FixProposalFilter = {}): Promise<FixProposalRecord[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.appId !== undefined) {
      values.push(filter.appId);
      where.push(`app_id = $${values.length}`);
    }
    if (filter.state !== undefined) {
      values.push(filter.state);
      where.push(`state = $${values.length}`);
    }
    values.push(Math.max(1, Math.min(filter.limit ?? 100, 1000)));
    const { rows } = await this.#db.query(
      `SELECT * FROM fix_proposals ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY id DESC LIMIT $${values.length}`,
      values,
    );
    return rows.map(toRecord);
  }
}
