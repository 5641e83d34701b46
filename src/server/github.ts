import type { IncomingMessage, ServerResponse } from 'node:http';
import { Probot, ProbotOctokit, createNodeMiddleware } from 'probot';
import { GITHUB_EVENTS } from '../events/handled.ts';
import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
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
  options: { throttle?: boolean } = {},
): Probot {
  return new Probot({
    ...(options.throttle === false
      ? {
          // A function default runs after Probot's own, so it has the last word.
          Octokit: ProbotOctokit.defaults((o: Record<string, unknown>) => ({
            ...o,
            throttle: { ...(o.throttle as object), enabled: false },
          })),
        }
      : {}),
    appId: github.appId,
    privateKey: github.privateKey,
    secret: github.webhookSecret,
    log: log.child({ component: 'github' }),
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
