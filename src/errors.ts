/**
 * Errors DAG raises at its boundaries. `kind` tells callers what to do with one:
 * - user: the input was wrong; show the message to whoever sent it, do not retry.
 * - config: DAG's own settings or stored configuration are wrong; an operator must act.
 * - transient: a dependency failed in a way that may heal (network, 429, 5xx); retry.
 * Messages never contain secrets: callers pass a cause for detail, which the logger redacts.
 */
export const ErrorKind = {
  user: 'user',
  config: 'config',
  transient: 'transient',
  internal: 'internal',
} as const;
export type ErrorKind = (typeof ErrorKind)[keyof typeof ErrorKind];

export class DagError extends Error {
  readonly kind: ErrorKind;
  readonly status: number | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.kind = kind;
    this.status = options.status;
  }
}

export class UserError extends DagError {
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super('user', message, options);
  }
}

export class ConfigError extends DagError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('config', message, options);
  }
}

export class TransientError extends DagError {
  constructor(message: string, options: { cause?: unknown; status?: number } = {}) {
    super('transient', message, options);
  }
}

/** True when retrying the same work later may succeed. */
export function isTransient(error: unknown): boolean {
  if (error instanceof DagError) return error.kind === 'transient';
  const code = (error as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EAI_AGAIN', 'EPIPE', '57P01', '08006'].includes(
      code,
    )
  );
}

/**
 * True when running the same work again cannot succeed without a person acting first: the input
 * was wrong (user), or DAG's settings or stored configuration are (config: an operator fixes
 * them, then retries by hand, e.g. `dag jobs retry`).
 */
export function isPermanent(error: unknown): boolean {
  return error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Why something failed, in words for the people DAG answers: DAG's own message, else "internal error". */
export function reasonOf(error: unknown): string {
  return error instanceof DagError ? error.message : `internal error: ${errorMessage(error)}`;
}
