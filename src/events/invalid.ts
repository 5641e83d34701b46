import type { z } from 'zod';
import { UserError } from '../errors.ts';

/**
 * A webhook payload that does not have the shape DAG needs: the intake answers 400 with the
 * field named, and a job that meets one fails without retrying. The message and the field come
 * from the schema (its keys and zod's wording), never from the payload's values.
 */
export class InvalidPayload extends UserError {
  /** Dotted path of the first offending field (`pull_request.head.sha`), `(root)` for the whole. */
  readonly field: string;

  constructor(message: string, field: string) {
    super(message, { status: 400 });
    this.field = field;
  }
}

/** The first problem zod found, as an InvalidPayload naming `what` (`GitHub push`). */
export function invalidPayload(what: string, error: z.ZodError): InvalidPayload {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') || '(root)';
  return new InvalidPayload(
    `${what} payload is invalid at ${field}: ${issue?.message ?? 'unexpected shape'}`,
    field,
  );
}
