import type { ProbotOctokit } from 'probot';
import { observedFetch, type ProviderRequestObserver } from '../request-metrics.ts';

type OctokitClass = typeof ProbotOctokit;

/**
 * The Octokit class with every API request reported to `observe`: a request hook hands each
 * request a fetch that reports under the request's templated route (`options.url`, e.g.
 * `/repos/{owner}/{repo}/deployments`, before Octokit fills it in). The hook is the outermost
 * one, and the fetch the innermost layer: each attempt Octokit's retry and throttling make is
 * reported, with its own status and duration.
 */
export function observedOctokit<T extends OctokitClass>(
  Base: T,
  observe: ProviderRequestObserver | undefined,
): T {
  if (!observe) return Base;
  return Base.plugin((octokit) => {
    octokit.hook.wrap('request', (request, options) => {
      const inner = options.request?.fetch as typeof fetch | undefined;
      const fetch = observedFetch(
        'github',
        { method: options.method, path: options.url },
        observe,
        () => inner ?? globalThis.fetch,
      );
      // Hooks are bound to this request's options object: set the fetch on it, not on a copy.
      options.request = { ...options.request, fetch };
      return request(options);
    });
    return {};
  }) as T;
}
