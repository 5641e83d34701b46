import { Ajv2020 } from 'ajv/dist/2020.js';
import { openApiDocument } from '../../src/api/openapi.ts';

type Json = Record<string, unknown>;

const doc = openApiDocument();
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addFormat('date-time', (s: string) => !Number.isNaN(Date.parse(s)));
ajv.addSchema(doc, 'openapi');

/** The document's path template for a request path (`/api/v1/fix-proposals/{id}`). */
function template(path: string): string | undefined {
  const pathname = new URL(path, 'http://dag').pathname;
  return Object.keys(doc.paths as Json).find((t) =>
    new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(pathname),
  );
}

/**
 * Why an answer does not match the document (its status undocumented for the operation, or its
 * body not of the declared schema); undefined when it matches.
 */
export function mismatch(
  method: string,
  path: string,
  status: number,
  body: unknown,
): string | undefined {
  const t = template(path);
  const operation = t
    ? (((doc.paths as Json)[t] as Json)[method.toLowerCase()] as Json | undefined)
    : undefined;
  const responses = operation?.responses as Json | undefined;
  if (!responses) {
    // Outside the document (another method, a path that is none of its): a 404 or 405 Error.
    const validate = ajv.getSchema('openapi#/components/schemas/Error');
    if (status !== 404 && status !== 405) return `${method} ${path} answered ${status}`;
    return validate?.(body) ? undefined : `${method} ${path}: not an Error body`;
  }
  const response = responses[String(status)] as Json | undefined;
  if (!response) return `${method} ${t} does not document status ${status}`;
  const ref = (
    (response.content as Json)['application/json'] as { schema: { $ref: string } }
  ).schema.$ref.replace('#/', 'openapi#/');
  const validate = ajv.getSchema(ref);
  if (!validate) return `no schema ${ref}`;
  return validate(body)
    ? undefined
    : `${method} ${t} ${status}: ${ajv.errorsText(validate.errors)}`;
}

/** Whether a request body is a Proposal as the document says. */
export function proposalErrors(body: unknown): string | undefined {
  const validate = ajv.getSchema('openapi#/components/schemas/Proposal');
  if (!validate) return 'no Proposal schema';
  return validate(body) ? undefined : ajv.errorsText(validate.errors);
}
