import { Command, CommanderError } from 'commander';
import packageJson from '../../package.json' with { type: 'json' };
import { DagError, errorMessage } from '../errors.ts';
import { registerAppCommands } from './commands/apps.ts';
import { registerClusterCommands } from './commands/clusters.ts';
import { registerDbCommands } from './commands/db.ts';
import { registerDeployCommand } from './commands/deploy.ts';
import { registerDeployCommands } from './commands/deploys.ts';
import { registerDoctorCommand } from './commands/doctor.ts';
import { registerEnvironmentCommands } from './commands/envs.ts';
import { registerIacCommands } from './commands/iacs.ts';
import { registerJobCommands } from './commands/jobs.ts';
import { registerMcpCommand } from './commands/mcp.ts';
import { registerPromotionCommands } from './commands/promotions.ts';
import { registerProposalCommands } from './commands/proposals.ts';
import { registerRenderCommand } from './commands/render.ts';
import { registerTokenCommands } from './commands/tokens.ts';
import { DatabaseUnreachableError } from './database-unreachable.ts';
import { toCli, type Cli, type CliIo } from './io.ts';

/**
 * Exit codes of `dag`, the same for every command:
 *   0  success
 *   1  a check failed (`dag doctor`) or a runtime error
 *   2  usage or invalid input: unknown command or option, missing or malformed value,
 *      unknown app/IAC/cluster, a constraint the input violates (UserError)
 *   3  configuration: settings (e.g. a malformed DAG_ENCRYPTION_KEY), a database that is not
 *      migrated, stored configuration DAG cannot read (ConfigError)
 *   4  the database cannot be reached or opened (Postgres down, embedded database locked)
 * Errors print one line on stderr, `dag: <message>`, and never a secret.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, config: 3, database: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Commander's codes for help or version output; its exitCode says whether it was asked for. */
const DISPLAYED = new Set(['commander.help', 'commander.helpDisplayed', 'commander.version']);

export function exitCodeFor(error: unknown): ExitCode {
  // Help after a missing subcommand exits 1 in commander: a usage error here.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof DatabaseUnreachableError) return EXIT.database;
  if (error instanceof DagError && error.kind === 'user') return EXIT.usage;
  if (error instanceof DagError && error.kind === 'config') return EXIT.config;
  return EXIT.failed;
}

/** The one line printed for an error, or undefined when commander already printed help. */
function errorLine(error: unknown): string | undefined {
  if (!(error instanceof CommanderError)) return `dag: ${errorMessage(error)}`;
  if (DISPLAYED.has(error.code)) return undefined;
  // One line, keeping commander's "(Did you mean ...?)" suggestion.
  let message = error.message
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .trim();
  if (error.code === 'commander.unknownOption') {
    // Commander quotes the unknown argument, and `--flag=value` or `-xVALUE` may carry a
    // secret: name the option only.
    const typed = /'([^']*)'/.exec(message)?.[1] ?? '';
    const name = typed.startsWith('--') ? (typed.split('=')[0] ?? '') : typed.slice(0, 2);
    if (name === '--token') {
      return 'dag: there is no --token option: a token on the command line leaks into shell history and process lists; pipe it to --token-stdin, or set DAG_IAC_TOKEN / DAG_CLUSTER_TOKEN';
    }
    message = message.replace(`'${typed}'`, `'${name}'`);
  }
  return `dag: ${message}`;
}

export function buildProgram(io: CliIo | Cli): Command {
  const cli = toCli(io);
  const program = new Command('dag')
    .description(
      'administer DAG: apps, IAC repositories, clusters, environments, promotions, jobs, API tokens, the MCP server',
    )
    .version(packageJson.version, '-V, --version')
    .showSuggestionAfterError(true)
    // Settings inherited by every subcommand defined below: throw instead of exiting, and
    // write through the masked io. Error lines are printed by runCli, once.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void cli.stdout.write(text),
      writeErr: (text) => void cli.stderr.write(text),
      outputError: () => undefined,
    });
  registerDbCommands(program, cli);
  registerAppCommands(program, cli);
  registerIacCommands(program, cli);
  registerClusterCommands(program, cli);
  registerEnvironmentCommands(program, cli);
  registerJobCommands(program, cli);
  registerDeployCommands(program, cli);
  registerDeployCommand(program, cli);
  registerPromotionCommands(program, cli);
  registerTokenCommands(program, cli);
  registerProposalCommands(program, cli);
  registerRenderCommand(program, cli);
  registerMcpCommand(program, cli);
  registerDoctorCommand(program, cli);
  return program;
}

/** Runs `dag <argv>` and returns its exit code; it never throws and never exits the process. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  const cli = toCli(io);
  try {
    await buildProgram(cli).parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    const line = errorLine(error);
    if (line) cli.note(line);
    return exitCodeFor(error);
  }
}
