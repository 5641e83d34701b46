import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, UserError } from '../../errors.ts';
import { describeUrl, type StatementResult } from '../../store/db.ts';
import { embeddedLayout, lockOwner, socketUrl } from '../../store/embedded-layout.ts';
import { migrate } from '../../store/migrate.ts';
import { cliSettings, openCliDatabase, withContext } from '../context.ts';
import { DatabaseUnreachableError } from '../database-unreachable.ts';
import type { Cli } from '../io.ts';

/** SQL text is small; a file this large is a mistake (a dump belongs to psql). */
const MAX_SQL_BYTES = 16 * 1024 * 1024;

async function readStdin(cli: Cli): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of cli.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_SQL_BYTES) throw new UserError('stdin holds more than 16 MiB of SQL');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function sqlText(cli: Cli, options: SqlOptions): Promise<string> {
  if (options.command !== undefined && options.file !== undefined) {
    throw new UserError('give the SQL with -c or with -f, not both');
  }
  if (options.command !== undefined) return options.command;
  if (options.file !== undefined && options.file !== '-') {
    try {
      return readFileSync(options.file, 'utf8');
    } catch {
      throw new UserError(`cannot read the SQL file ${options.file}`);
    }
  }
  if (options.file === undefined && cli.stdin.isTTY) {
    throw new UserError('give the SQL with -c "SQL", -f FILE, or on stdin');
  }
  return readStdin(cli);
}

// Type OIDs whose values psql right-aligns, and those --json prints as numbers or JSON.
const NUMERIC = new Set([20, 21, 23, 26, 700, 701, 1700]);
const JSON_NUMBER = new Set([21, 23, 26, 700, 701]);
const JSON_TYPES = new Set([114, 3802]);

// One row on one line, as the other lists do: control characters become spaces.
// eslint-disable-next-line no-control-regex
const oneLine = (value: string) => value.replace(/[\u0000-\u001f\u007f]/g, ' ');

/** psql's aligned format: centred headers, numbers to the right, `(n rows)` or the command tag. */
export function formatResult(result: StatementResult): string {
  if (result.columns.length === 0) return result.tag;
  const cells = result.rows.map((row) => row.map((v) => (v === null ? '' : oneLine(v))));
  const widths = result.columns.map((c, i) =>
    Math.max(c.name.length, ...cells.map((row) => (row[i] ?? '').length)),
  );
  const line = (parts: string[]) => ` ${parts.join(' | ')}`.trimEnd();
  const header = result.columns.map((c, i) => {
    const width = widths[i] ?? 0;
    const left = Math.floor((width - c.name.length) / 2);
    return `${' '.repeat(left)}${c.name}`.padEnd(width);
  });
  const rule = widths.map((w) => '-'.repeat(w + 2)).join('+');
  const body = cells.map((row) =>
    line(
      row.map((cell, i) =>
        NUMERIC.has(result.columns[i]?.typeId ?? 0)
          ? cell.padStart(widths[i] ?? 0)
          : cell.padEnd(widths[i] ?? 0),
      ),
    ),
  );
  const count = `(${result.rows.length} ${result.rows.length === 1 ? 'row' : 'rows'})`;
  return [line(header), rule, ...body, count].join('\n');
}

/** The rows of a result as JSON objects: numbers, booleans and JSON as such, the rest as text. */
export function jsonRows(result: StatementResult): Record<string, unknown>[] {
  return result.rows.map((row) =>
    Object.fromEntries(
      result.columns.map((column, i) => {
        const value = row[i] ?? null;
        if (value === null) return [column.name, null];
        if (column.typeId === 16) return [column.name, value === 't'];
        if (JSON_NUMBER.has(column.typeId)) return [column.name, Number(value)];
        if (JSON_TYPES.has(column.typeId)) return [column.name, JSON.parse(value) as unknown];
        return [column.name, value];
      }),
    ),
  );
}

type SqlOptions = { command?: string; file?: string; json?: boolean };

export function registerDbCommands(program: Command, cli: Cli): void {
  const db = program.command('db').description('manage the database');

  db.command('migrate')
    .description('apply pending migrations (the server also applies them at start)')
    .action(async () => {
      await withContext(
        cli,
        async ({ db: database }) => {
          const applied = await migrate(database);
          if (applied.length === 0) {
            cli.print(`database is up to date (${database.location})`);
            return;
          }
          cli.print(`applied ${applied.length} migration(s) to ${database.location}:`);
          for (const name of applied) cli.print(`  ${name}`);
        },
        { migrated: false },
      );
    });

  db.command('sql')
    .description(
      "run SQL, like psql: on DATABASE_URL, or on the embedded database (through a running DAG's socket, or opened here when DAG is not running)",
    )
    .option('-c, --command <sql>', 'the SQL to run')
    .option('-f, --file <file>', 'a file of SQL to run (- for stdin; the default)')
    .option('--json', 'print the rows of the last statement as a JSON array')
    .addHelpText(
      'after',
      '\nStatements given together run in one transaction unless they hold BEGIN/COMMIT:\nan error undoes them all. Plaintext tokens written with SQL are sealed by DAG at start.',
    )
    .action(async (options: SqlOptions) => {
      const text = await sqlText(cli, options);
      const settings = cliSettings(cli);
      const database = await openCliDatabase(settings.database);
      try {
        let results: StatementResult[];
        try {
          results = await database.script(text);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          if (typeof code !== 'string') throw error;
          const position = (error as { position?: unknown }).position;
          throw new UserError(
            `ERROR: ${(error as Error).message}${position ? ` (at character ${String(position)})` : ''} (SQLSTATE ${code})`,
            { cause: error },
          );
        }
        if (options.json) {
          const last = results.filter((r) => r.columns.length > 0).at(-1);
          cli.print(JSON.stringify(last ? jsonRows(last) : [], null, 2));
          return;
        }
        for (const result of results) cli.print(formatResult(result));
      } finally {
        await database.close();
      }
    });

  db.command('url')
    .description(
      "print a connection string for psql to the running DAG's embedded database (or DATABASE_URL without its password)",
    )
    .action(() => {
      const { database } = cliSettings(cli);
      if (database.kind === 'postgres') {
        cli.print(describeUrl(database.url));
        if (new URL(database.url).password) {
          cli.note('dag: the password is left out: give it to psql in PGPASSWORD or ~/.pgpass');
        }
        return;
      }
      if (database.dataDir === 'memory://') {
        throw new ConfigError(
          'DAG_DATA_DIR is memory://: that database has no socket to connect to',
        );
      }
      const layout = embeddedLayout(database.dataDir);
      if (lockOwner(layout) === undefined || !existsSync(layout.socketPath)) {
        throw new DatabaseUnreachableError(
          `DAG is not running on ${database.dataDir}: nothing serves its database now (dag db sql opens it by itself)`,
        );
      }
      cli.print(socketUrl(layout.socketDir));
    });
}
