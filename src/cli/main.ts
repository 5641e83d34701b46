// Entry point of the `dag` admin command: run it on this process's io and exit with its code.
// Exit codes are documented in program.ts.
import { processIo } from './io.ts';
import { EXIT, runCli } from './program.ts';

try {
  process.exitCode = await runCli(process.argv.slice(2), processIo());
} catch (error) {
  // runCli reports every error itself; this is a last resort that prints no detail.
  console.error('dag: unexpected failure', error instanceof Error ? error.name : '');
  process.exitCode = EXIT.failed;
}
