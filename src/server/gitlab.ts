import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { GITLAB_EVENTS } from '../events/handled.ts';
import type { Logger } from '../log.ts';
import type { Settings } from '../settings.ts';
import type { Enqueue, Handler } from './github.ts';
import { readBody, sendJson } from './respond.ts';

/** GitLab payloads can be large (a push lists up to 20 commits with their files). */
const MAX_BODY_BYTES = 25 * 1024 * 1024;

/** Compares secrets in time that depends on neither their content nor their length. */
export function secretsEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

const payloadShape = z.looseObject({ object_kind: z.string().min(1) });

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The GitLab webhook endpoint: verifies X-Gitlab-Token in constant time, checks the payload
 * is JSON of GitLab's shape, and enqueues the events DAG handles. Events DAG ignores still
 * get a 2xx: GitLab disables hooks that fail repeatedly.
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
    const token = header(req, 'x-gitlab-token');
    if (token === undefined || !secretsEqual(token, gitlab.webhookSecret)) {
      glLog.warn(
        { remote: req.socket.remoteAddress },
        'gitlab webhook rejected: bad X-Gitlab-Token',
      );
      sendJson(res, 401, { error: 'invalid X-Gitlab-Token' });
      req.resume();
      return true;
    }
    const event = header(req, 'x-gitlab-event');
    if (!event) {
      sendJson(res, 400, { error: 'missing X-Gitlab-Event header' });
      req.resume();
      return true;
    }
    let body: string;
    try {
      body = await readBody(req, MAX_BODY_BYTES);
    } catch {
      sendJson(res, 413, { error: `payload larger than ${MAX_BODY_BYTES} bytes` });
      return true;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(body);
    } catch {
      sendJson(res, 400, { error: 'payload is not JSON' });
      return true;
    }
    if (!payloadShape.safeParse(payload).success) {
      sendJson(res, 400, { error: 'payload is not a GitLab webhook (no object_kind)' });
      return true;
    }
    if (!GITLAB_EVENTS.has(event)) {
      glLog.debug({ event }, 'gitlab event ignored');
      sendJson(res, 200, { status: 'ignored', event });
      return true;
    }
    // GitLab 16+ sends Idempotency-Key (the same on retries); older versions X-Gitlab-Event-UUID.
    const deliveryId =
      header(req, 'idempotency-key') ??
      header(req, 'x-gitlab-event-uuid') ??
      `body-${createHash('sha256').update(body).digest('hex')}`;
    const result = await enqueue({ provider: 'gitlab', deliveryId, event, payload });
    glLog.info({ event, deliveryId, status: result.status }, 'gitlab webhook accepted');
    sendJson(res, 202, { status: result.status });
    return true;
  };
}
