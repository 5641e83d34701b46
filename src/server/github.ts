import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Probot, ProbotOctokit } from 'probot';
import type { Logger } from '../log.ts';
import { observedOctokit } from '../platform/github/observed-octokit.ts';
import {
  isContentWrite,
  unpacedWriteGroup,
  type WriteLimit,
} from '../platform/github/write-limit.ts';
import type { ProviderRequestObserver } from '../platform/request-metrics.ts';
import type { Settings } from '../settings.ts';
import { MAX_WEBHOOK_BYTES, declaresMoreThan, header, readLimited, refuse } from './body.ts';
import { deliver, type Enqueue } from './deliver.ts';
import { sendJson } from './respond.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
export type { Enqueue };

/** How long DAG lets one request wait for a rate limit to pass before it gives up. */
export const MAX_RATE_LIMIT_WAIT_SECONDS = 60;
/** How many times one request waits out a rate limit before it gives up. */
export const MAX_RATE_LIMIT_RETRIES = 3;

type ThrottledRequest = { method?: string; url?: string; request?: { retryCount?: number } };

/**
 * What the App's Octokit does when GitHub answers with a rate limit: wait for the time GitHub
 * names (`Retry-After` for a secondary limit, `x-ratelimit-reset` for the primary one) and send
 * the request again, within the same call, a few times and only for short waits. Probot's own
 * handler for secondary limits only logs, so the 403 reached the job, which retried the whole
 * job 10 s to minutes later. A longer wait fails the call as transient: the job's backoff takes
 * over, rather than a worker sleeping for an hour.
 */
export function rateLimitHandler(
  log: Logger,
  kind: 'primary' | 'secondary',
): (retryAfter: number, options: ThrottledRequest) => boolean {
  return (retryAfter, options) => {
    const retries = options.request?.retryCount ?? 0;
    const retry = retryAfter <= MAX_RATE_LIMIT_WAIT_SECONDS && retries < MAX_RATE_LIMIT_RETRIES;
    log.warn(
      { route: `${options.method ?? ''} ${options.url ?? ''}`, retryAfter, retries, retry },
      retry
        ? `GitHub ${kind} rate limit: sending the request again in ${retryAfter} s`
        : `GitHub ${kind} rate limit: giving up on this request; the job retries it later`,
    );
    return retry;
  };
}

/**
 * The GitHub App. Its Octokit retries 5xx (plugin-retry) and throttles: content-creating
 * requests take a write from `writeLimit` (the budget all DAG processes share, instead of
 * Octokit's fixed one-a-second pacing per process), and a rate-limit answer is waited out within
 * the call (rateLimitHandler). `throttle: false` is for tests against mocks.
 */
export function createProbot(
  github: NonNullable<Settings['github']>,
  log: Logger,
  options: {
    throttle?: boolean;
    /** Hears each request of the App's Octokits (metrics). */
    onRequest?: ProviderRequestObserver | undefined;
    /** The App's write budget shared by DAG's processes (sharedWriteLimit). */
    writeLimit?: WriteLimit | undefined;
  } = {},
): Probot {
  const githubLog = log.child({ component: 'github' });
  const write = unpacedWriteGroup();
  const limited = options.writeLimit
    ? ProbotOctokit.plugin((octokit) => {
        const take = options.writeLimit as WriteLimit;
        octokit.hook.before('request', async (request) => {
          if (isContentWrite(request.method, request.url)) await take();
        });
        return {};
      })
    : ProbotOctokit;
  const Octokit = observedOctokit(
    // A function default runs after Probot's own, so it has the last word.
    limited.defaults((o: Record<string, unknown>) => ({
      ...o,
      throttle:
        options.throttle === false
          ? { ...(o.throttle as object), enabled: false }
          : {
              ...(o.throttle as object),
              write,
              onRateLimit: rateLimitHandler(githubLog, 'primary'),
              onSecondaryRateLimit: rateLimitHandler(githubLog, 'secondary'),
            },
    })),
    options.onRequest,
  );
  return new Probot({
    Octokit,
    appId: github.appId,
    privateKey: github.privateKey,
    secret: github.webhookSecret,
    // Probot's Octokit logs each request at debug with the body it sends (a comment, a check
    // run's diff): DAG's GitHub lines start at info. Requests are counted in /metrics instead.
    log: githubLog.isLevelEnabled('debug') ? githubLog.child({}, { level: 'info' }) : githubLog,
    ...(github.baseUrl ? { baseUrl: github.baseUrl } : {}),
  });
}

const SIGNATURE = /^sha256=([0-9a-f]{64})$/;
/** GitHub's event names (`issue_comment`) and delivery GUIDs; anything else is not GitHub. */
const EVENT = /^[a-z_]{1,64}$/;
const DELIVERY = /^[A-Za-z0-9-]{1,128}$/;

/**
 * GitHub webhooks, verified and enqueued by DAG itself (Probot's webhook middleware is not
 * used: it reads any body whole, and logs a failed verification with the payload attached).
 * In order, each step before the body is read when it can be:
 * 1. a body declared over MAX_WEBHOOK_BYTES: 413, unread;
 * 2. no or malformed X-Hub-Signature-256, X-GitHub-Event or X-GitHub-Delivery: 401/400, unread;
 * 3. the body, read up to the limit (413 past it) and hashed as it streams in;
 * 4. the HMAC-SHA256 of the raw bytes, compared in constant time: 401 when it differs;
 * 5. then JSON (400), then the event's shape (400 naming the field), then the job (202).
 * Answers are short JSON; no payload ever reaches an answer or a log line.
 */
export function githubWebhookHandler(
  github: NonNullable<Settings['github']>,
  enqueue: Enqueue,
  log: Logger,
): Handler {
  const ghLog = log.child({ component: 'github' });
  const path = github.webhookPath.replace(/\/+$/, '') || '/';
  return async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://dag').pathname.replace(/\/+$/, '') || '/';
    // Probot's setup flow registers the App with its webhook URL at "/": accept that too.
    const atRoot = pathname === '/' && req.method === 'POST' && header(req, 'x-github-event');
    if (pathname !== path && !atRoot) return false;
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
      req.resume();
      return true;
    }
    if (declaresMoreThan(req, MAX_WEBHOOK_BYTES)) {
      refuse(req, res, 413, { error: `payload larger than ${MAX_WEBHOOK_BYTES} bytes` });
      return true;
    }
    const given = SIGNATURE.exec(header(req, 'x-hub-signature-256') ?? '')?.[1];
    if (given === undefined) {
      ghLog.warn({ remote: req.socket.remoteAddress }, 'github webhook rejected: no signature');
      refuse(req, res, 401, { error: 'missing or malformed X-Hub-Signature-256' });
      return true;
    }
    const event = header(req, 'x-github-event') ?? '';
    const deliveryId = header(req, 'x-github-delivery') ?? '';
    if (!EVENT.test(event) || !DELIVERY.test(deliveryId)) {
      refuse(req, res, 400, { error: 'missing or malformed X-GitHub-Event or X-GitHub-Delivery' });
      return true;
    }
    const contentType = header(req, 'content-type') ?? '';
    if (!/^\s*application\/json\s*(;|$)/i.test(contentType)) {
      refuse(req, res, 415, { error: 'Content-Type must be application/json' });
      return true;
    }

    const hmac = createHmac('sha256', github.webhookSecret);
    const read = await readLimited(req, MAX_WEBHOOK_BYTES, (chunk) => hmac.update(chunk));
    if (read.status === 'aborted') return true;
    if (read.status === 'too-large') {
      refuse(req, res, 413, { error: `payload larger than ${MAX_WEBHOOK_BYTES} bytes` });
      return true;
    }
    if (!timingSafeEqual(hmac.digest(), Buffer.from(given, 'hex'))) {
      ghLog.warn(
        { remote: req.socket.remoteAddress, event, deliveryId },
        'github webhook rejected: signature does not match',
      );
      sendJson(res, 401, { error: 'X-Hub-Signature-256 does not match the payload' });
      return true;
    }

    let payload: unknown;
    try {
      payload = JSON.parse(read.body.toString('utf8'));
    } catch {
      sendJson(res, 400, { error: 'payload is not JSON' });
      return true;
    }
    await deliver(res, { provider: 'github', event, deliveryId, payload }, enqueue, ghLog);
    return true;
  };
}
