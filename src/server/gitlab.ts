import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import type { Settings } from '../settings.ts';
import { MAX_WEBHOOK_BYTES, declaresMoreThan, header, readLimited, refuse } from './body.ts';
import { deliver, type Enqueue } from './deliver.ts';
import type { Handler } from './github.ts';
import { sendJson } from './respond.ts';

/** Compares secrets in time that depends on neither their content nor their length. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const payloadShape = z.looseObject({ object_kind: z.string().min(1) });

/** GitLab's X-Gitlab-Event values (`Push Hook`), and the UUIDs it identifies deliveries by. */
const EVENT = /^[A-Za-z ]{1,64}$/;
const DELIVERY = /^[A-Za-z0-9-]{1,128}$/;

/**
 * The GitLab webhook endpoint. Before a byte of the body is read: a body declared over
 * MAX_WEBHOOK_BYTES is answered 413, a missing or wrong X-Gitlab-Token (compared in constant
 * time) 401, a missing X-Gitlab-Event 400. Then the body is read up to the limit (413 past
 * it), checked to be JSON of GitLab's shape, and the events DAG handles are checked field by
 * field (400 naming the field) and enqueued. Events DAG ignores still get a 2xx: GitLab
 * disables hooks that fail repeatedly.
 */
export function gitlabWebhookHandler(
  gitlab: NonNullable<Settings['gitlab']>,
  enqueue: Enqueue,
  log: Logger,
): Handler {
  const glLog = log.child({ component: 'gitlab' });
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://dag');
    if (url.pathname !== gitlab.webhookPath) return false;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      return true;
    }
    if (declaresMoreThan(req, MAX_WEBHOOK_BYTES)) {
      refuse(req, res, 413, { error: `payload larger than ${MAX_WEBHOOK_BYTES} bytes` });
      return true;
    }
    const token = header(req, 'x-gitlab-token');
    if (token === undefined || !secretsEqual(token, gitlab.webhookSecret)) {
      glLog.warn(
        { remote: req.socket.remoteAddress },
        'gitlab webhook rejected: bad X-Gitlab-Token',
      );
      refuse(req, res, 401, { error: 'invalid X-Gitlab-Token' });
      return true;
    }
    const event = header(req, 'x-gitlab-event');
    if (!event || !EVENT.test(event)) {
      refuse(req, res, 400, { error: `${event ? 'malformed' : 'missing'} X-Gitlab-Event header` });
      return true;
    }
    const read = await readLimited(req, MAX_WEBHOOK_BYTES);
    if (read.status === 'aborted') return true;
    if (read.status === 'too-large') {
      refuse(req, res, 413, { error: `payload larger than ${MAX_WEBHOOK_BYTES} bytes` });
      return true;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(read.body.toString('utf8'));
    } catch {
      sendJson(res, 400, { error: 'payload is not JSON' });
      return true;
    }
    if (!payloadShape.safeParse(payload).success) {
      sendJson(res, 400, {
        error: 'payload is not a GitLab webhook (no object_kind)',
        field: 'object_kind',
      });
      return true;
    }
    // GitLab 16+ sends Idempotency-Key (the same on retries); older versions X-Gitlab-Event-UUID.
    const deliveryId =
      [header(req, 'idempotency-key'), header(req, 'x-gitlab-event-uuid')].find(
        (id): id is string => id !== undefined && DELIVERY.test(id),
      ) ?? `body-${createHash('sha256').update(read.body).digest('hex')}`;
    await deliver(res, { provider: 'gitlab', event, deliveryId, payload }, enqueue, glLog);
    return true;
  };
}
