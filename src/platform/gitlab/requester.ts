import { GitbeakerRequestError } from '@gitbeaker/rest';
import {
  createRequesterFn,
  getMatchingRateLimiter,
  type RateLimiters,
} from '@gitbeaker/requester-utils';
import { observedFetch, type ProviderRequestObserver } from '../request-metrics.ts';

/**
 * The `requesterFn` DAG gives `@gitbeaker/rest`'s constructors in place of the stock one. It is
 * built the way `@gitbeaker/rest` builds its own (`createRequesterFn` from
 * `@gitbeaker/requester-utils`: gitbeaker prepares URL, headers, token and body; this sends
 * them), but where the stock one retries 429 and 502 within milliseconds and ignores
 * Retry-After, this one retries 429 and 5xx (and network errors) with exponential backoff and
 * jitter, waits as long as Retry-After asks (up to maxDelayMs), and gives up after `attempts`,
 * leaving the error for DAG's job retry to handle. `sleep` is replaceable so tests can see the
 * waits without waiting.
 */
export type BackoffOptions = {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  sleep?: ((ms: number) => Promise<void>) | undefined;
};
const DEFAULT_BACKOFF: BackoffOptions = { attempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 };

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

async function body(response: Response): Promise<unknown> {
  if (response.status === 204) return null;
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (type === 'application/json') return (await response.json()) ?? {};
  if (type.startsWith('text/')) return response.text();
  return response.blob();
}

async function failure(request: Request, response: Response): Promise<never> {
  const text = await response.text();
  let description = text;
  if ((response.headers.get('content-type') ?? '').includes('application/json')) {
    try {
      const parsed = JSON.parse(text) as { error?: unknown; message?: unknown };
      const message = parsed.error ?? parsed.message ?? '';
      description = typeof message === 'string' ? message : JSON.stringify(message);
    } catch {
      description = text;
    }
  }
  throw new GitbeakerRequestError(description, { cause: { description, request, response } });
}

/**
 * `onResponse` hears each attempt (status or `error`, duration, rate limit left) under the
 * endpoint's templated route, for metrics.
 */
export function backoffRequester(
  backoff: BackoffOptions = DEFAULT_BACKOFF,
  onResponse?: ProviderRequestObserver,
) {
  const sleep =
    backoff.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  return createRequesterFn(
    (_service, options) => Promise.resolve(options),
    async (endpoint, options = {}) => {
      const { rateLimiters, prefixUrl, searchParams, method, asStream, agent, ...init } =
        options as Record<string, unknown>;
      void agent;
      const base = typeof prefixUrl === 'string' ? prefixUrl.replace(/\/?$/, '/') : undefined;
      const url = new URL(endpoint, base);
      url.search = typeof searchParams === 'string' ? searchParams : '';
      const send = onResponse
        ? observedFetch(
            'gitlab',
            { method: String(method), path: endpoint },
            onResponse,
            () => fetch,
          )
        : fetch;
      const rateLimit = getMatchingRateLimiter(
        endpoint,
        rateLimiters as RateLimiters | undefined,
        method as string | undefined,
      );
      // A POST answered 5xx (or not at all) may have been carried out: sending it again could
      // make a second deployment or note. Only 429 (refused before any work) is sent again.
      const idempotent = String(method).toUpperCase() !== 'POST';
      for (let attempt = 1; ; attempt++) {
        await rateLimit();
        const request = new Request(url, { ...(init as RequestInit), method: method as string });
        let response: Response;
        try {
          response = await send(request);
        } catch (error) {
          if (!idempotent || attempt >= backoff.attempts) throw error;
          await sleep(Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** (attempt - 1)));
          continue;
        }
        if (response.ok) {
          const headers = Object.fromEntries(response.headers.entries());
          return {
            body: (asStream ? response.body : await body(response)) as never,
            headers,
            status: response.status,
          };
        }
        const retryable = response.status === 429 || (idempotent && response.status >= 500);
        if (!retryable || attempt >= backoff.attempts) return failure(request, response);
        const exponential = backoff.baseDelayMs * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
        const wait = retryAfterMs(response.headers.get('retry-after')) ?? exponential;
        await response.body?.cancel();
        await sleep(Math.min(backoff.maxDelayMs, wait));
      }
    },
  );
}
