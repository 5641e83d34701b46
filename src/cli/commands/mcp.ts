import { Writable, type Readable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Command } from 'commander';
import { appRepoAccess } from '../../api/app-repo-source.ts';
import { iacRepoAccess } from '../../api/iac-repo-source.ts';
import { iacPlatformFactory } from '../../platform/iac-platform.ts';
import { proposalChecks } from '../../fix/live-check.ts';
import { runGit } from '../../iac/git.ts';
import { IacWorkspace } from '../../iac/workspace.ts';
import { trustGitlab } from '../../platform/trust.ts';
import { helmAvailable, helmTemplate } from '../../render/helm-template.ts';
import { authenticateRequest, sharedTokenRateLimit } from '../../api/auth.ts';
import { FixProposalService } from '../../api/fix-proposal-service.ts';
import { MAX_PROPOSAL_BODY_BYTES, type FixProposalJob } from '../../api/fix-proposals.ts';
import { createMcpServer } from '../../api/mcp.ts';
import { maskText } from '../../diff/mask-text.ts';
import { UserError } from '../../errors.ts';
import { JobQueue, QUEUES } from '../../jobs/queue.ts';
import { ClusterClients } from '../../k8s/client.ts';
import { createLogger } from '../../log.ts';
import { platformFactory } from '../../platform/factory.ts';
import { renderBundle } from '../../render/bundle.ts';
import { loadTemplates } from '../../render/templates.ts';
import { parseValuesFile } from '../../render/yaml.ts';
import { createProbot } from '../../server/github.ts';
import { SqlApiTokenStore } from '../../store/api-tokens.ts';
import { SqlFixProposalStore } from '../../store/fix-proposals.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { SqlRolloutStore } from '../../store/rollouts.ts';

/**
 * `dag mcp`: DAG's MCP server over stdio, for an agent that starts it as a subprocess. The token
 * comes from DAG_API_TOKEN (never the command line, where `ps` shows it) and is checked against
 * DAG's database before the server starts, then again at each tool call, so a token revoked or
 * expired mid-session stops working at once. Proposals are queued for DAG's workers, as the REST
 * API queues them. stdout carries only MCP messages; logs go to stderr.
 */
export function registerMcpCommand(program: Command, cli: Cli): void {
  program
    .command('mcp')
    .description("serve DAG's MCP tools over stdio (the API token in DAG_API_TOKEN)")
    .action(async () => {
      const secret = cli.env.DAG_API_TOKEN?.trim();
      if (!secret) {
        throw new UserError(
          'set DAG_API_TOKEN to an API token (dag tokens create); a token is never taken from the command line',
        );
      }
      cli.masker.add(secret);
      await withContext(cli, async ({ settings, db, store }) => {
        const log = createLogger({
          level: settings.logLevel === 'info' ? 'warn' : settings.logLevel,
          masker: cli.masker,
          destination: { write: (line: string) => void cli.stderr.write(line) },
        });
        const auth = {
          tokens: new SqlApiTokenStore(db, store, { log }),
          rateLimit: sharedTokenRateLimit(db, log),
          log,
        };
        const principal = () => authenticateRequest(`Bearer ${secret}`, auth);
        const first = await principal();
        if (!first.ok) throw new UserError(`DAG_API_TOKEN: ${first.refusal.error}`);

        const templates = loadTemplates(settings.templatesDir);
        const tools = {
          render: (input: Parameters<typeof renderBundle>[0]) => renderBundle(input, templates),
          parseValues: parseValuesFile,
        };
        const probot = settings.github ? createProbot(settings.github, log) : undefined;
        const { source } = appRepoAccess(platformFactory({ probot, gitlab: settings.gitlab }));
        const clusters = new ClusterClients({ store, log });
        // The same checks as DAG's server: the Flux CRDs, and a dry run on the cluster.
        const iac = await IacWorkspace.create({
          cacheDir: settings.cacheDir,
          log,
          git: trustGitlab(settings.gitlab, runGit).runner,
          gitlabHosts: settings.gitlab ? [new URL(settings.gitlab.url).hostname] : [],
        });
        // A fix to IAC files DAG does not render is verified against the IAC repository.
        const { source: iacSource } = iacRepoAccess(
          iacPlatformFactory({
            probot,
            githubApiUrl: settings.github?.baseUrl,
            gitlab: settings.gitlab,
          }),
          store,
          async (target) => (await iac.readFolders({ ...target, branch: null }, [])).branch,
        );
        const verifyExtras = proposalChecks({
          store,
          iac,
          clusters,
          helmTemplate: (chart, release) =>
            helmTemplate(chart, release, { helm: settings.helmPath }),
          helmAvailable: () => helmAvailable(settings.helmPath),
        });
        const mask = (text: string) => cli.masker.mask(maskText(text));
        const queue = await JobQueue.create(db, log, { supervise: false, manageQueues: false });
        try {
          const deps = {
            log,
            config: store,
            proposals: new SqlFixProposalStore(db),
            clusters,
            source,
            iacSource,
            tools,
            verifyExtras,
            mask,
            enqueue: async (job: FixProposalJob) => {
              await queue.enqueueKeyed(QUEUES.fixProposal, `proposal:${job.proposalId}`, job);
            },
          };
          const server = createMcpServer({
            service: new FixProposalService(deps),
            view: {
              config: store,
              deploys: store,
              source,
              tools,
              clusters,
              rollouts: new SqlRolloutStore(db),
            },
            mask,
            log,
            principal,
          });
          await serveStdio(server, cli);
        } finally {
          await queue.stop(5_000);
        }
      });
    });
}

/** Serves until stdin ends; one message is at most a proposal's size and its envelope. */
async function serveStdio(server: ReturnType<typeof createMcpServer>, cli: Cli): Promise<void> {
  const stdin = cli.stdin as Readable;
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      cli.stdout.write(chunk.toString('utf8'));
      done();
    },
  });
  const transport = new StdioServerTransport(stdin, stdout, {
    maxBufferSize: MAX_PROPOSAL_BODY_BYTES + 64 * 1024,
  });
  const closed = new Promise<void>((resolve) => {
    transport.onclose = resolve;
    stdin.once('end', resolve);
    stdin.once('close', resolve);
  });
  await server.connect(transport);
  await closed;
  await server.close();
}
