import type { IncomingMessage, ServerResponse } from 'node:http';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { sendJson } from '../server/respond.ts';
import type { RequestAuthDeps } from './auth.ts';
import { readJsonBody } from './fix-proposals.ts';
import { createMcpServer, type McpDeps } from './mcp.ts';

/**
 * The MCP server over streamable HTTP at `/mcp`, stateless: each POST is one JSON-RPC message
 * (or batch) answered as JSON by a server and transport of its own, for the request's token.
 * Before the SDK sees a byte, the request passes the REST API's checks (readJsonBody): JSON
 * content type, a token (Bearer, with the per-token and per-address budgets), a body within 2
 * MiB, UTF-8, bounded nesting, valid JSON; those refusals are the REST API's `{error}` answers.
 * What passes is the SDK's: a wrong Accept header or a malformed JSON-RPC message is its HTTP
 * 4xx with a JSON-RPC error; a tool's refusal is a tool result with `isError`.
 * GET (a server-sent event stream) and DELETE (a session's end) have no use without sessions.
 */

export const MCP_PATH = '/mcp';

export type McpHttpDeps = RequestAuthDeps & Omit<McpDeps, 'principal' | 'log'>;

export function mcpHandler(
  deps: McpHttpDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    if (new URL(req.url ?? '/', 'http://dag').pathname !== MCP_PATH) return false;
    if (req.method !== 'POST') {
      sendJson(
        res,
        405,
        { error: 'use POST (DAG serves MCP without sessions)' },
        { allow: 'POST' },
      );
      return true;
    }
    const read = await readJsonBody(req, res, deps, deps.mask);
    if (!read.ok) return true;
    const principal = read.principal;
    const server = createMcpServer({
      ...deps,
      principal: async () => ({ ok: true, principal }),
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    res.once('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, read.body);
    return true;
  };
}
