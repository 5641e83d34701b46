import type { z } from 'zod';
import { ConfigError, UserError } from '../errors.ts';

export type Row = Record<string, unknown>;

/** The row as its schema types it; a row that breaks it is a ConfigError naming the row. */
export function parseRow<T>(schema: z.ZodType<T>, table: string, row: Row): T {
  const parsed = schema.safeParse(row);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      `row ${String(row.id)} of ${table} is invalid: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
    );
  }
  return parsed.data;
}

/**
 * Awaits a statement, turning a violation of one of these constraints (by name) into a
 * UserError with the sentence an operator needs.
 */
export function constraintMessages(
  messages: Record<string, string>,
): <T>(work: Promise<T>) => Promise<T> {
  return async (work) => {
    try {
      return await work;
    } catch (error) {
      const constraint = (error as { constraint?: unknown }).constraint;
      if (typeof constraint === 'string' && messages[constraint]) {
        throw new UserError(messages[constraint], { cause: error });
      }
      throw error;
    }
  };
}
