import type { ServerResponse } from 'node:http';
import { triage, type Provider } from '../events/triage.ts';
import { InvalidPayload } from '../events/invalid.ts';
import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import { sendJson } from './respond.ts';

export type Enqueue = (delivery: Delivery) => Promise<{ status: 'queued' | 'duplicate' }>;

/**
 * The last step of both webhook endpoints, for a verified delivery parsed from JSON: a
 * malformed delivery of an event DAG handles is answered 400 `{error, field}` and never
 * enqueued; one DAG ignores is answered 200 without a job; the rest is enqueued (202).
 * Log lines name the event, the delivery and the field, never the payload.
 */
export async function deliver(
  res: ServerResponse,
  input: { provider: Provider; event: string; deliveryId: string; payload: unknown },
  enqueue: Enqueue,
  log: Logger,
): Promise<void> {
  const { provider, event, deliveryId, payload } = input;
  let verdict;
  try {
    verdict = triage(provider, event, payload);
  } catch (error) {
    if (!(error instanceof InvalidPayload)) throw error;
    log.warn({ event, deliveryId, field: error.field }, `${provider} webhook refused: malformed`);
    sendJson(res, 400, { error: error.message, field: error.field });
    return;
  }
  if (verdict.status === 'ignore') {
    log.debug({ event, deliveryId, reason: verdict.reason }, `${provider} event ignored`);
    sendJson(res, 200, { status: 'ignored', event });
    return;
  }
  const result = await enqueue({ provider, deliveryId, event, payload });
  log.info({ event, deliveryId, status: result.status }, `${provider} webhook accepted`);
  sendJson(res, 202, { status: result.status });
}
