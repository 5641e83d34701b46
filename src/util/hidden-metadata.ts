import type { z } from 'zod';

/**
 * Data DAG hides in a pull request's body to read it back: one line `<!-- dag:<kind> {json} -->`.
 * The JSON has `<`, `>`, `&` and `-` escaped, so nothing in it can close the comment early. A
 * marker that is missing, longer than `maxChars`, not JSON or not of `schema`'s shape reads as
 * none: anyone who can edit the body can type it, so callers check what it says. What is
 * rendered is the caller's to validate.
 */
export function hiddenMetadata<S extends z.ZodType>(
  kind: string,
  schema: S,
  maxChars: number,
): { render(value: z.infer<S>): string; parse(body: string): z.infer<S> | null } {
  const marker = new RegExp(`^<!-- dag:${kind} (\\{[^\\n]{0,${maxChars}}\\}) -->$`, 'm');
  return {
    render(value) {
      const safe = JSON.stringify(value).replace(
        /[<>&-]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
      return `<!-- dag:${kind} ${safe} -->`;
    },
    parse(body) {
      const json = marker.exec(body)?.[1];
      if (json === undefined) return null;
      try {
        const parsed = schema.safeParse(JSON.parse(json));
        return parsed.success ? parsed.data : null;
      } catch {
        return null;
      }
    },
  };
}
