import type { PGlite } from '@electric-sql/pglite';

export type QueryResult<R> = { rows: R[]; rowCount: number };

/** Anything that runs SQL: the database, or a transaction on it. */
export interface Queryable {
  /**
   * Runs one statement with `$n` parameters. Without parameters the text may hold several
   * statements (simple protocol, as node-postgres does); the last one's rows are returned.
   */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** What the job queue needs to reach the same database. */
export type QueueBackend =
  { kind: 'postgres'; connectionString: string } | { kind: 'embedded'; pglite: PGlite };

/**
 * One database, real Postgres (`pg`) or embedded PGlite, behind one interface so that the
 * store, migrations and queue run one code path in both modes.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Where the data lives, safe to print (no password). */
  readonly location: string;
  /** Runs fn in one transaction; on PGlite it also holds the single connection exclusively. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn on one pinned session (needed for session-level advisory locks). PGlite has a
   * single session already, so there it is the database itself: run such work (migrations)
   * before anything else uses the embedded database.
   */
  withSession<T>(fn: (session: Queryable) => Promise<T>): Promise<T>;
  queueBackend(): QueueBackend;
  close(): Promise<void>;
}

/** Postgres connection URL with any password removed, for messages and logs. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    parsed.username = parsed.username ? parsed.username : '';
    return parsed.toString();
  } catch {
    return 'postgres (unparseable URL)';
  }
}
