import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import packageJson from '../../package.json' with { type: 'json' };
import { AppTargetSchema, ProposalSchema, WorkloadTargetSchema } from '../fix/proposal.ts';
import type { Logger } from '../log.ts';
import type { AuthAnswer } from './auth.ts';
import { environmentView, type EnvironmentViewDeps } from './environment-view.ts';
import { refusalFailure, type Answer, type FixProposalService } from './fix-proposal-service.ts';
import type { FixProposalOutcome } from './fix-proposals.ts';
import type { ApiPrincipal } from './token.ts';

/**
 * DAG's MCP server: the fix-proposal pipeline (FixProposalService) and a view of what runs where,
 * as tools for an agent, on the same tokens and scopes as the REST API. The transports are the
 * caller's: stdio (`dag mcp`) and streamable HTTP (`/mcp`, src/api/mcp-http.ts).
 *
 * A tool answers JSON text: the value, or, with `isError`, `{status, error, errors?, lookedAt?}`
 * where `status` is the HTTP status the REST API gives the same refusal.
 */

export type McpDeps = {
  service: FixProposalService;
  view: Omit<EnvironmentViewDeps, 'mask'>;
  mask: (text: string) => string;
  log: Logger;
  /** Who calls: the HTTP request's token, or (stdio) the token checked again at each call. */
  principal: () => Promise<AuthAnswer>;
  onOutcome?: (outcome: FixProposalOutcome) => void;
};

const READ_ONLY = { readOnlyHint: true, destructiveHint: false, openWorldHint: false } as const;

function text(value: unknown, isError = false): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 2) }],
    ...(isError ? { isError: true } : {}),
  };
}

function answer(result: Answer<unknown>): CallToolResult {
  if (result.ok) return text(result.value);
  return text({ status: result.status, ...result.body }, true);
}

export function createMcpServer(deps: McpDeps): McpServer {
  const server = new McpServer(
    { name: 'dag', version: packageJson.version },
    {
      instructions:
        'DAG deploys apps to Kubernetes through GitOps. To fix a broken workload: find_environment (live workload -> app and environment), get_environment (what runs there), preview_fix (verify a change, writing nothing), then propose_fix (opens a pull request for human review) and get_proposal to follow it.',
    },
  );
  const log = deps.log.child({ component: 'mcp' });

  /** Runs a tool as the calling token; DAG's own failures are logged, not shown. */
  const as =
    <A>(tool: string, run: (principal: ApiPrincipal, args: A) => Promise<CallToolResult>) =>
    async (args: A): Promise<CallToolResult> => {
      const auth = await deps.principal();
      if (!auth.ok) return answer(refusalFailure(auth.refusal));
      try {
        return await run(auth.principal, args);
      } catch (error) {
        log.error({ err: error, tool, tokenId: auth.principal.tokenId }, 'an MCP tool failed');
        return text({ status: 500, error: 'DAG failed to answer; try again later' }, true);
      }
    };

  server.registerTool(
    'find_environment',
    {
      title: 'Find the environment of a live workload',
      description:
        'Traces a live Kubernetes workload (a Pod, ReplicaSet, Deployment, StatefulSet, DaemonSet, Job or CronJob on a cluster DAG knows) through its owners to the app and environment DAG deploys it from. Returns {app, environment, cluster, workload, chain, matchedBy, via}. Call get_environment next with the app and environment names, or use the same workload as the target of preview_fix. On failure the answer says what DAG looked at (lookedAt).',
      inputSchema: WorkloadTargetSchema,
      annotations: READ_ONLY,
    },
    as('find_environment', async (principal, args) => {
      const resolved = await deps.service.resolve(principal, args, 'read');
      if (!resolved.ok) return answer(resolved);
      const { app, environment, workload } = resolved.value;
      return text({
        app: app.name,
        environment: environment.name,
        branch: environment.branch,
        namespace: environment.helmNamespace,
        ...workload,
      });
    }),
  );

  server.registerTool(
    'get_environment',
    {
      title: 'What runs in an environment',
      description:
        "Shows one environment of an app: its settings (branch, cluster, namespace, IAC folder), the source commit it runs and the IAC commit that holds it (running, and the latest deploys), the files DAG renders for it at the environment branch's tip (secrets masked, bounded), and each rendered object as the cluster has it now with its conditions and replicas. Read the conditions to see what is wrong; then preview_fix a change to the app repository's values or chart.",
      inputSchema: AppTargetSchema,
      annotations: READ_ONLY,
    },
    as('get_environment', async (principal, args) => {
      const resolved = await deps.service.resolve(principal, args, 'read');
      if (!resolved.ok) return answer(resolved);
      const { app, environment } = resolved.value;
      return text(await environmentView(app, environment, { ...deps.view, mask: deps.mask }));
    }),
  );

  server.registerTool(
    'preview_fix',
    {
      title: 'Preview a fix (writes nothing)',
      description:
        "Runs the whole verification of a fix proposal exactly as propose_fix would, and writes nothing: no record, no branch, no pull request. The change is made to the app repository at the environment branch's tip (a values patch, whole files, or a unified diff); every environment of the app is rendered before and after. Returns {target, tip, changedFiles, checks, sourceDiff, bundleDiffs, unchangedEnvironments}; an isError answer names each field at fault. When the diffs are what you meant, call propose_fix with the same arguments.",
      inputSchema: ProposalSchema,
      annotations: READ_ONLY,
    },
    as('preview_fix', async (principal, args) =>
      answer(await deps.service.preview(principal, args)),
    ),
  );

  server.registerTool(
    'propose_fix',
    {
      title: 'Propose a fix as a pull request for human review',
      description:
        'Sends a fix proposal: DAG verifies it (as preview_fix does), records it and opens (or updates) a pull request in the app repository for a person to review and merge. Nothing is deployed until a person merges it. The same change proposed again is the same proposal. Needs a token with propose permission. Returns {id, state, links} (state validating: the pull request is being opened); call get_proposal with the id to follow it.',
      inputSchema: ProposalSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    as('propose_fix', async (principal, args) => {
      const result = await deps.service.propose(principal, args);
      deps.onOutcome?.(result.outcome);
      return answer(result);
    }),
  );

  server.registerTool(
    'get_proposal',
    {
      title: 'Follow a fix proposal',
      description:
        'Shows one fix proposal: its state (validating, open, updated, rejected, failed, superseded...), the reasons it was rejected or failed, and its pull request (number, url, branch) once opened. Call it again later to see the pull request appear.',
      inputSchema: { id: z.number().int().min(1).max(2_147_483_647) },
      annotations: READ_ONLY,
    },
    as('get_proposal', async (principal, args: { id: number }) =>
      answer(await deps.service.get(principal, String(args.id))),
    ),
  );

  return server;
}
