import pg from 'pg';
import { TransientError } from '../errors.ts';
import {
  describeUrl,
  type Db,
  type Queryable,
  type QueryResult,
  type StatementResult,
} from './db.ts';

function wrap(client: pg.Pool | pg.PoolClient): Queryable {
  return {
    async query<R>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
      const result = await client.query(text, values);
      // Without parameters pg may answer a multi-statement text with one result per statement.
      const last = Array.isArray(result) ? (result.at(-1) as pg.QueryResult) : result;
      return { rows: (last?.rows ?? []) as R[], rowCount: last?.rowCount ?? 0 };
    },
  };
}

/** Values as Postgres prints them, for `psql`-like output: no parsing into JS types. */
const AS_TEXT = { getTypeParser: () => (value: string) => value };

/** Runs SQL text on one client, keeping every statement's command tag as the server sent it. */
async function script(client: pg.PoolClient, text: string): Promise<StatementResult[]> {
  const tags: string[] = [];
  const onComplete = (message: { text: string }) => tags.push(message.text);
  client.connection.on('commandComplete', onComplete);
  try {
    const answer = (await client.query({ text, rowMode: 'array', types: AS_TEXT })) as
      pg.QueryResult<(string | null)[]> | pg.QueryResult<(string | null)[]>[];
    const results = Array.isArray(answer) ? answer : [answer];
    return results
      .filter((r) => r.command !== null) // an empty statement has no result to show
      .map((r, i) => ({
        tag: tags[i] ?? `${r.command}${r.rowCount === null ? '' : ` ${r.rowCount}`}`,
        columns: r.fields.map((f) => ({ name: f.name, typeId: f.dataTypeID })),
        rows: r.rows,
      }));
  } finally {
    client.connection.off('commandComplete', onComplete);
  }
}

export type PoolOptions = {
  max?: number;
  /** Embedded: the database process's socket (src/store/embedded.ts). */
  kind?: Db['kind'];
  /** What messages call the database; the URL without its password by default. */
  location?: string;
};

/** A Db on a `pg` pool: a Postgres server, or the embedded database's socket. */
export async function openPostgres(url: string, options: PoolOptions = {}): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'dag',
  });
  // An idle client that loses its server must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  const location = options.location ?? describeUrl(url);
  try {
    const client = await pool.connect();
    client.release();
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new TransientError(
      options.kind === 'embedded'
        ? `cannot reach the embedded database at ${location}`
        : `cannot reach Postgres at ${location}`,
      { cause: error },
    );
  }
  const root = wrap(pool);
  const withClient = async <T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    const client = await pool.connect();
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  };
  return {
    kind: options.kind ?? 'postgres',
    location,
    url,
    query: root.query,
    transaction: (fn) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(wrap(client));
          await client.query('COMMIT');
          return result;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    withSession: (fn) => withClient((client) => fn(wrap(client))),
    script: (text) => withClient((client) => script(client, text)),
    close: () => pool.end(),
  };
}
