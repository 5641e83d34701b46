import type { Command } from 'commander';
import { DagError } from '../../errors.ts';
import { runChecks } from '../doctor-checks.ts';
import type { Cli } from '../io.ts';

/** Thrown after the report is printed, so the exit code says a check failed. */
export class FailedChecksError extends DagError {
  constructor(failed: number) {
    super('internal', `${failed} check(s) failed`);
  }
}

export function registerDoctorCommand(program: Command, cli: Cli): void {
  program
    .command('doctor')
    .description('check settings, database, migrations, encryption key and sealed secrets')
    .option('--json', 'print a JSON array of {name, status, message}')
    .action(async (options: { json?: boolean }) => {
      const checks = await runChecks(cli);
      if (options.json) {
        cli.print(JSON.stringify(checks, null, 2));
      } else {
        const width = Math.max(...checks.map((c) => c.name.length));
        for (const c of checks)
          cli.print(`${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.message}`);
      }
      const failed = checks.filter((c) => c.status === 'fail').length;
      if (failed > 0) throw new FailedChecksError(failed);
    });
}
