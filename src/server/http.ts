import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.ts';
import type { Handler } from './github.ts';
import { sendJson } from './respond.ts';

export type Readiness = () => Promise<{ ready: boolean; checks: Record<string, string> }>;

/**
 * DAG's one HTTP server: liveness and readiness first (they answer in every mode, setup
 * included), then the webhook handlers in order, then 404. No body parser runs before a
 * webhook handler: signatures are checked over the raw bytes.
 */
export function createHttpServer(options: {
  handlers: Handler[];
  readiness: Readiness;
  log: Logger;
}): Server {
  const { handlers, readiness, log } = options;
  return createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method === 'GET' && path === '/healthz') {
        sendJson(res, 200, { status: 'ok' });
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
