import { ConfigError, DagError, TransientError, UserError } from '../errors.ts';

/** Classifies a provider API failure: 429 and 5xx are transient; auth is configuration. */
export function providerError(provider: string, action: string, error: unknown): DagError {
  if (error instanceof DagError) return error;
  const status =
    (error as { status?: unknown }).status ??
    (error as { cause?: { response?: { status?: unknown } } }).cause?.response?.status;
  const code = typeof status === 'number' ? status : undefined;
  const what = `${provider} API: ${action} failed${code ? ` (HTTP ${code})` : ''}`;
  if (code === undefined || code === 429 || code >= 500) {
    return new TransientError(what, { cause: error, ...(code ? { status: code } : {}) });
  }
  // GitHub answers 403 for rate limits too: those are transient.
  const limited =
    code === 403 && /rate limit/i.test(String((error as { message?: unknown }).message ?? ''));
  if (limited) return new TransientError(what, { cause: error, status: code });
  if (code === 401 || code === 403) {
    return new ConfigError(`${what}: DAG's credentials were refused or lack a permission`, {
      cause: error,
    });
  }
  return new UserError(what, { cause: error, status: code });
}

export function httpStatus(error: unknown): number | undefined {
  const status =
    (error as { status?: unknown }).status ??
    (error as { cause?: { response?: { status?: unknown } } }).cause?.response?.status;
  return typeof status === 'number' ? status : undefined;
}
