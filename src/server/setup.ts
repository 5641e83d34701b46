import type { Handler } from './github.ts';

/**
 * Probot's GitHub App setup flow (the manifest flow that creates the App from app.yml and
 * writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET to .env). Probot runs it only inside its own
 * server, and its package exports map does not expose the module, so DAG loads it by file URL
 * next to Probot's entry point and mounts it on DAG's server, beside /healthz and /readyz.
 */
export async function githubSetupHandler(options: {
  host: string;
  port: number;
}): Promise<Handler> {
  const entry = import.meta.resolve('probot');
  const setupModule = (await import(new URL('./apps/setup.js', entry).href)) as {
    setupAppFactory: (o: {
      host: string;
      port: number;
      log: unknown;
      updateEnv?: (env: Record<string, string>) => Record<string, string>;
    }) => () => Promise<Handler>;
  };
  const { getLog } = (await import(new URL('./helpers/get-log.js', entry).href)) as {
    getLog: (o: { level: string }) => Promise<unknown>;
  };
  // Without this Probot's setup would download smee-client at run time to open a webhook proxy.
  process.env.NO_SMEE_SETUP ??= 'true';
  // Probot's setup prints its own instructions through a Probot logger.
  const log = await getLog({ level: 'info' });
  const factory = setupModule.setupAppFactory({ host: options.host, port: options.port, log });
  return factory();
}
