import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.ts';
import type { Handler } from './github.ts';
import { Intake, RETRY_AFTER_SECONDS } from './intake.ts';
import { sendJson } from './respond.ts';

export type Readiness = () => Promise<{ ready: boolean; checks: Record<string, string> }>;

/**
 * DAG's one HTTP server: liveness, readiness and metrics first (they answer in every mode,
 * setup included), then the webhook handlers in order, then 404. No body parser runs before a
 * webhook handler: signatures are checked over the raw bytes. During a shutdown `intake`
 * turns readiness off first and refuses new requests last (src/server/intake.ts).
 */
export function createHttpServer(options: {
  handlers: Handler[];
  readiness: Readiness;
  log: Logger;
  /** Serves `/metrics` (src/server/metrics.ts): like health, in every mode. */
  metrics?: Handler;
  intake?: Intake;
}): Server {
  const { handlers, readiness, log, intake = new Intake() } = options;
  return createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    intake.track(res);
    try {
      if (req.method === 'GET' && path === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
        return;
      }
      if (req.method === 'GET' && path === '/readyz' && intake.phase !== 'open') {
        sendJson(res, 503, { status: 'stopping', checks: { shutdown: intake.phase } });
        return;
      }
      if (req.method === 'GET' && path === '/readyz') {
        const result = await readiness();
        sendJson(res, result.ready ? 200 : 503, {
          status: result.ready ? 'ready' : 'not ready',
          checks: result.checks,
        });
        return;
      }
      if (await options.metrics?.(req, res)) return;
      if (intake.phase === 'refusing') {
        // The database is about to close: the provider (or load balancer) is to try again.
        sendJson(
          res,
          503,
          { error: 'DAG is stopping; retry later' },
          { 'retry-after': String(RETRY_AFTER_SECONDS), connection: 'close' },
        );
        return;
      }
      for (const handler of handlers) {
        if (await handler(req, res)) return;
      }
      sendJson(res, 404, { error: 'not found' });
    } catch (error) {
      log.error({ err: error, path }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    }
  });
}
