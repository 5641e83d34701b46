import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/metrics/registry.ts';
import { metricsHandler } from '../../src/server/metrics.ts';

let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** An HTTP server with only the metrics endpoint (404 elsewhere); its base URL. */
async function serve(token: string | undefined): Promise<string> {
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.gitPushRetry();
  const handler = metricsHandler(metrics, token);
  server = createServer(async (req, res) => {
    if (!(await handler(req, res))) res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('/metrics', () => {
  it('serves the Prometheus text format, open when no token is set', async () => {
    const url = await serve(undefined);
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toContain('dag_git_push_retries_total 1');
    expect((await fetch(`${url}/metrics?x=1`)).status).toBe(200);
    expect((await fetch(`${url}/other`)).status).toBe(404);
  });

  it('asks for the bearer token when one is set', async () => {
    const url = await serve('scrape-token-123');
    const none = await fetch(`${url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(await none.text()).not.toContain('dag_');
    const wrong = await fetch(`${url}/metrics`, {
      headers: { authorization: 'Bearer scrape-token-12' },
    });
    expect(wrong.status).toBe(401);
    const basic = await fetch(`${url}/metrics`, {
      headers: { authorization: 'Basic scrape-token-123' },
    });
    expect(basic.status).toBe(401);
    const right = await fetch(`${url}/metrics`, {
      headers: { authorization: 'Bearer scrape-token-123' },
    });
    expect(right.status).toBe(200);
    expect(await right.text()).toContain('dag_git_push_retries_total 1');
  });

  it('answers only GET and HEAD', async () => {
    const url = await serve(undefined);
    const post = await fetch(`${url}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(`${url}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });
});
