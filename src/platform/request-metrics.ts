import { routeLabel } from './request-route.ts';

/** One HTTP request (one attempt) to a provider's API, as metrics count it. */
export type ProviderRequest = {
  provider: 'github' | 'gitlab';
  /** The API's host (and port), e.g. `api.github.com`: bounded by DAG's configuration. */
  host: string;
  /** Method and templated route (see routeLabel): never a path with names in it. */
  route: string;
  /** The HTTP status, or `error` when no answer came (network failure, timeout). */
  status: number | 'error';
  seconds: number;
  /** What the answer said about the rate limit, when it said something. */
  rateLimit?: { resource: string; remaining: number } | undefined;
};

export type ProviderRequestObserver = (request: ProviderRequest) => void;

/**
 * The rate limit an answer reports: GitHub's `x-ratelimit-remaining` for the budget named by
 * `x-ratelimit-resource` (core, search, graphql, ...), GitLab's `ratelimit-remaining`.
 */
export function rateLimitOf(
  provider: 'github' | 'gitlab',
  headers: Headers,
): ProviderRequest['rateLimit'] {
  const raw = headers.get('x-ratelimit-remaining') ?? headers.get('ratelimit-remaining');
  if (raw === null || raw.trim() === '') return undefined;
  const remaining = Number(raw);
  if (!Number.isFinite(remaining)) return undefined;
  const named = headers.get('x-ratelimit-resource') ?? '';
  // GitHub's resources are a short fixed list; anything unexpected is not a label value.
  const resource = provider === 'github' && /^[a-z_]{1,40}$/.test(named) ? named : 'core';
  return { resource: provider === 'gitlab' ? 'api' : resource, remaining };
}

/**
 * A fetch that reports each request it sends under `route` (`METHOD /templated/route`).
 * `inner` is resolved at call time, so a fetch replaced later (test mocks) is the one used.
 */
export function observedFetch(
  provider: 'github' | 'gitlab',
  route: { method: string; path: string },
  observe: ProviderRequestObserver,
  inner: () => typeof fetch,
): typeof fetch {
  const label = routeLabel(provider, route.method, route.path);
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const started = performance.now();
    const report = (status: number | 'error', headers?: Headers) =>
      observe({
        provider,
        host: url.host,
        route: label,
        status,
        seconds: (performance.now() - started) / 1000,
        rateLimit: headers ? rateLimitOf(provider, headers) : undefined,
      });
    let response: Response;
    try {
      response = await inner()(input, init);
    } catch (error) {
      report('error');
      throw error;
    }
    report(response.status, response.headers);
    return response;
  };
}
