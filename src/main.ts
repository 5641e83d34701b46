import { errorMessage } from './errors.ts';
import { startService } from './service.ts';
import { readSettings } from './settings.ts';

// Entry point: read settings, start DAG, stop cleanly on SIGTERM/SIGINT.
try {
  const service = await startService(readSettings());
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.error(`${signal}: stopping DAG`);
    await service.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
} catch (error) {
  console.error(`dag: cannot start: ${errorMessage(error)}`);
  process.exit(1);
}
