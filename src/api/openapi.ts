import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ProposalSchema } from '../fix/proposal.ts';
import { sendJson } from '../server/respond.ts';
import { FIX_PROPOSAL_STATES } from '../store/fix-proposals.ts';
import { FIX_PROPOSALS_PATH, MAX_PROPOSAL_BODY_BYTES } from './fix-proposals.ts';

/**
 * The OpenAPI 3.1 document of DAG's REST API, served at GET /api/v1/openapi.json. The request
 * body's schema is generated from the zod schema the API validates with (src/fix/proposal.ts);
 * the answers' schemas are declared here and checked against real answers by
 * test/api/openapi.test.ts. Caps that JSON Schema cannot say (bytes, totals) are in the
 * descriptions.
 */

export const OPENAPI_PATH = '/api/v1/openapi.json';

const FieldErrorSchema = z.strictObject({ field: z.string(), message: z.string() });

export const ErrorSchema = z
  .strictObject({
    error: z.string(),
    errors: z.array(FieldErrorSchema).optional(),
    lookedAt: z.array(z.string()).optional(),
    /** The proposal recorded before DAG failed to verify it (503). */
    id: z.number().int().optional(),
  })
  .meta({ description: 'Every refusal: a sentence, and the fields at fault where there are any.' });

export const AcceptedSchema = z
  .strictObject({
    id: z.number().int(),
    state: z.literal('validating'),
    links: z.strictObject({ self: z.string() }),
  })
  .meta({ description: 'The proposal verified and its pull request queued.' });

export const FixProposalViewSchema = z
  .strictObject({
    id: z.number().int(),
    state: z.enum(FIX_PROPOSAL_STATES),
    title: z.string(),
    agent: z.strictObject({ name: z.string(), model: z.string() }),
    target: z.record(z.string(), z.string()),
    appId: z.number().int().nullable(),
    environmentId: z.number().int().nullable(),
    fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    changeKind: z.enum(['values-patch', 'files', 'diff']),
    statusCode: z.number().int().nullable(),
    reasons: z.array(FieldErrorSchema),
    pullRequest: z
      .strictObject({
        number: z.number().int(),
        url: z.string().nullable(),
        branch: z.string().nullable(),
        pushedHead: z.string().nullable(),
      })
      .nullable(),
    supersededBy: z.number().int().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    links: z.strictObject({ self: z.string(), pullRequest: z.string().optional() }),
  })
  .meta({
    description: 'A fix proposal as recorded: its state and, once opened, its pull request.',
  });

type Json = Record<string, unknown>;

/** A zod schema as a component; its own definitions are hoisted into `defs`. */
function component(schema: z.ZodType, io: 'input' | 'output', defs: Json): Json {
  const json = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  delete json.$schema;
  const own = (json.$defs ?? {}) as Json;
  delete json.$defs;
  Object.assign(defs, own);
  return json;
}

const error = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

let document: Json | undefined;

export function openApiDocument(): Json {
  if (document) return document;
  const defs: Json = {};
  const schemas: Json = {
    Proposal: component(ProposalSchema, 'input', defs),
    Accepted: component(AcceptedSchema, 'output', defs),
    FixProposal: component(FixProposalViewSchema, 'output', defs),
    Error: component(ErrorSchema, 'output', defs),
  };
  Object.assign(schemas, defs);
  const text = JSON.stringify({
    openapi: '3.1.0',
    info: {
      title: 'DAG REST API',
      version: '1',
      description:
        'Fix proposals from AI agents, on bearer tokens issued with `dag tokens create`. See the README, "AI fix proposals".',
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'dag_...' } },
    },
    security: [{ bearer: [] }],
    paths: {
      [FIX_PROPOSALS_PATH]: {
        post: {
          operationId: 'proposeFix',
          summary: 'Propose a fix for an environment or a live workload',
          description: `Needs a token with permission \`propose\` that reaches the target's environment. The body is at most ${MAX_PROPOSAL_BODY_BYTES} bytes; files, diffs and patches have their own caps (answered 413 naming the field).`,
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Proposal' } } },
          },
          responses: {
            '200': {
              description: 'The same change is proposed already and open: that proposal.',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/FixProposal' } },
              },
            },
            '202': {
              description: 'Verified; the pull request is being opened.',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/Accepted' } },
              },
            },
            '400': error('Not JSON, not UTF-8, nested too deep, or a field is invalid.'),
            '401': error('No token, or a malformed, unknown, revoked or expired one.'),
            '403': error('The token lacks permission `propose` or does not reach the target.'),
            '404': error('No such app, environment, cluster or workload (with `lookedAt`).'),
            '405': error('Another method than POST.'),
            '409': error(
              'The workload matches several environments, or the change does not apply.',
            ),
            '413': error('The body, or one of its fields, is over its cap.'),
            '415': error('The body is not application/json in UTF-8.'),
            '422': error('The change does not verify (render, schema, dry run).'),
            '429': error("The token's request budget is spent: see Retry-After."),
            '502': error('The cluster answered with an error while tracing the workload.'),
            '503': error('Tokens, the cluster or the app repository cannot be reached now.'),
          },
        },
      },
      [`${FIX_PROPOSALS_PATH}/{id}`]: {
        get: {
          operationId: 'getFixProposal',
          summary: 'A fix proposal, if the token reaches it',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } },
          ],
          responses: {
            '200': {
              description: 'The proposal.',
              content: {
                'application/json': { schema: { $ref: '#/components/schemas/FixProposal' } },
              },
            },
            '401': error('No usable token.'),
            '403': error('The token lacks permission `read`.'),
            '404': error('No such proposal within the token\u2019s scope.'),
            '405': error('Another method than GET.'),
            '429': error("The token's request budget is spent: see Retry-After."),
            '503': error('Tokens cannot be checked now.'),
          },
        },
      },
    },
  }).replaceAll('"#/$defs/', '"#/components/schemas/');
  document = JSON.parse(text) as Json;
  return document;
}

/** Serves the document at OPENAPI_PATH, to anyone (it holds no data). */
export function openApiHandler(): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (new URL(req.url ?? '/', 'http://dag').pathname !== OPENAPI_PATH) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      return true;
    }
    sendJson(res, 200, openApiDocument());
    return true;
  };
}
