import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './respond.ts';

export const METRICS_PATH = '/metrics';

/** What the endpoint serves: the Prometheus text of a registry (src/metrics/registry.ts). */
export type MetricsSource = { contentType: string; render(): Promise<string> };

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  return header ? /^Bearer +(\S+)\s*$/i.exec(header)?.[1] : undefined;
}

/** Compares in time that depends on neither the tokens' content nor their length. */
function tokensEqual(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * `GET /metrics`: the Prometheus text format. With a token (DAG_METRICS_TOKEN) a scrape must
 * send `Authorization: Bearer <token>`; without one the endpoint is open, for scrapes from
 * inside the cluster: do not route it from the internet.
 */
export function metricsHandler(
  metrics: MetricsSource,
  token: string | undefined,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if ((req.url ?? '/').split('?')[0] !== METRICS_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET, HEAD' });
      return true;
    }
    if (token !== undefined) {
      const given = bearerToken(req);
      if (given === undefined || !tokensEqual(given, token)) {
        sendJson(
          res,
          401,
          { error: 'a bearer token is required (DAG_METRICS_TOKEN)' },
          { 'www-authenticate': 'Bearer realm="dag metrics"' },
        );
        return true;
      }
    }
    const body = await metrics.render();
    res.writeHead(200, {
      'content-type': metrics.contentType,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}
