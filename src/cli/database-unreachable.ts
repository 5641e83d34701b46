import { DagError } from '../errors.ts';

/** The database could not be opened: Postgres is down or refuses us, or the embedded one is locked. */
export class DatabaseUnreachableError extends DagError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('transient', message, options);
  }
}
