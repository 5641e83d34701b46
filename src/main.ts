import { errorMessage } from './errors.ts';
import { startService } from './service.ts';
import { readSettings } from './settings.ts';
import { exitOnSignals } from './shutdown.ts';

// Entry point: read settings, start DAG, stop it gracefully on SIGTERM/SIGINT.
try {
  const settings = readSettings();
  const service = await startService(settings);
  exitOnSignals(() => service.close(), { timeoutMs: settings.shutdownTimeoutSeconds * 1000 });
} catch (error) {
  console.error(`dag: cannot start: ${errorMessage(error)}`);
  process.exit(1);
}
