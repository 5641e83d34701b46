import type { Command } from 'commander';
import { migrate } from '../../store/migrate.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';

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
}
