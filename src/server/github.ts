import type { IncomingMessage, ServerResponse } from 'node:http';
import { Probot, ProbotOctokit, createNodeMiddleware } from 'probot';
import { GITHUB_EVENTS } from '../events/handled.ts';
import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import { observedOctokit } from '../platform/github/observed-octokit.ts';
import type { ProviderRequestObserver } from '../platform/request-metrics.ts';
import type { Settings } from '../settings.ts';

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
export type Enqueue = (delivery: Delivery) => Promise<{ status: 'queued' | 'duplicate' }>;

/**
 * GitHub webhooks through Probot: it verifies X-Hub-Signature-256 against WEBHOOK_SECRET
 * (400 when wrong, before any handler runs); DAG then only enqueues the delivery.
 */
/**
 * The GitHub App. Its Octokit retries and throttles (secondary rate limits: content-creating
 * requests are spaced about a second apart); `throttle: false` is for tests against mocks.
 */
export function createProbot(
  github: NonNullable<Settings['github']>,
  log: Logger,
  options: {
    throttle?: boolean;
    /** Hears each request of the App's Octokits (metrics). */
    onRequest?: ProviderRequestObserver | undefined;
  } = {},
): Probot {
  const Octokit = observedOctokit(
    options.throttle === false
      ? // A function default runs after Probot's own, so it has the last word.
        ProbotOctokit.defaults((o: Record<string, unknown>) => ({
          ...o,
          throttle: { ...(o.throttle as object), enabled: false },
        }))
      : ProbotOctokit,
    options.onRequest,
  );
  const githubLog = log.child({ component: 'github' });
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

export async function githubWebhookHandler(
  github: NonNullable<Settings['github']>,
  probot: Probot,
  enqueue: Enqueue,
  log: Logger,
): Promise<Handler> {
  const middleware = await createNodeMiddleware(
    (app) => {
      app.onAny(async (context) => {
        if (!GITHUB_EVENTS.has(context.name)) {
          log.debug({ event: context.name, deliveryId: context.id }, 'github event ignored');
          return;
        }
        const result = await enqueue({
          provider: 'github',
          deliveryId: context.id,
          event: context.name,
          payload: context.payload,
        });
        log.info(
          { event: context.name, deliveryId: context.id, status: result.status },
          'github webhook accepted',
        );
      });
    },
    { probot, webhooksPath: github.webhookPath },
  );
  return async (req, res) => {
    // Probot's setup flow registers the App with its webhook URL at "/": accept that too.
    if (req.method === 'POST' && req.url === '/' && req.headers['x-github-event']) {
      req.url = github.webhookPath;
    }
    return (await middleware(req, res)) === true;
  };
}
