import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics, WebhookOutcome } from '../metrics/registry.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
type Provider = 'github' | 'gitlab';

const EVENT_HEADER: Record<Provider, string> = {
  github: 'x-github-event',
  gitlab: 'x-gitlab-event',
};

/**
 * How a webhook endpoint's answer counts (see the README's "Webhook intake"): 202 is a
 * delivery enqueued, counted as `queued` or `duplicate` where it is enqueued; any other 2xx an
 * ignored event; 401/403 a missing or wrong signature or token; 413 a body over the limit; 5xx
 * an error; any other 4xx a malformed delivery (headers, content type, JSON, fields).
 */
export function webhookOutcome(status: number): WebhookOutcome | 'enqueued' {
  if (status === 202) return 'enqueued';
  if (status >= 200 && status < 300) return 'ignored';
  if (status === 401 || status === 403) return 'rejected_signature';
  if (status === 413) return 'too_large';
  if (status >= 500) return 'error';
  return 'malformed';
}

/**
 * The webhook endpoint, with each delivery it answers counted by event and outcome. Only POSTs
 * are deliveries; a delivery whose sender went away before any answer is not counted.
 */
export function observedWebhook(
  provider: Provider,
  handler: Handler,
  metrics: Pick<Metrics, 'webhook'>,
): Handler {
  return async (req, res) => {
    const header = req.headers[EVENT_HEADER[provider]];
    const event = Array.isArray(header) ? header[0] : header;
    let handled: boolean;
    try {
      handled = await handler(req, res);
    } catch (error) {
      if (req.method === 'POST') metrics.webhook(provider, event, 'error');
      throw error;
    }
    if (handled && req.method === 'POST' && res.headersSent) {
      const outcome = webhookOutcome(res.statusCode);
      if (outcome !== 'enqueued') metrics.webhook(provider, event, outcome);
    }
    return handled;
  };
}
