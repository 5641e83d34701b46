export type QueryResult<R> = { rows: R[]; rowCount: number };

/** Anything that runs SQL: the database, or a transaction on it. */
export interface Queryable {
  /**
   * Runs one statement with `$n` parameters. Without parameters the text may hold several
   * statements (simple protocol, as node-postgres does); the last one's rows are returned.
   */
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** One statement's result as `psql` shows it: columns, and values as Postgres prints them. */
export type StatementResult = {
  /** The command tag, e.g. `SELECT 2`, `INSERT 0 1`, `CREATE TABLE`. */
  tag: string;
  columns: { name: string; typeId: number }[];
  rows: (string | null)[][];
};

/**
 * One database, reached with `pg` in both modes: a Postgres server (DATABASE_URL), or the
 * embedded PGlite in its own process (src/store/embedded.ts). The store, migrations and the
 * queue run one code path.
 *
 * The embedded database is one Postgres session shared by every connection: its server runs
 * one connection's transaction at a time (the others wait), session-level advisory locks do
 * not exclude, and session settings (SET, LISTEN) are everyone's.
 */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Where the data lives, safe to print (no password). */
  readonly location: string;
  /** A connection string for other `pg` clients (the job queue); may hold a password. */
  readonly url: string;
  /** Runs fn in one transaction, on one connection. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Runs fn on one connection (session-level advisory locks, on Postgres). */
  withSession<T>(fn: (session: Queryable) => Promise<T>): Promise<T>;
  /** Runs SQL text as `psql` would: any number of statements, one result each. */
  script(text: string): Promise<StatementResult[]>;
  /** Calls back once if the database goes away for good (the embedded database's process died). */
  onLost?(listener: (error: Error) => void): void;
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
