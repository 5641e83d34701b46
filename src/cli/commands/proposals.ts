import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import {
  FIX_PROPOSAL_STATES,
  SqlFixProposalStore,
  type FixProposalRecord,
  type FixProposalState,
} from '../../store/fix-proposals.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';

type ListOptions = { app?: string; state?: string; limit: string; json?: boolean };

type Listed = { proposal: FixProposalRecord; app: string | null; environment: string | null };

function state(value: string): FixProposalState {
  if (!(FIX_PROPOSAL_STATES as readonly string[]).includes(value)) {
    throw new UserError(`state must be one of ${FIX_PROPOSAL_STATES.join(', ')}`);
  }
  return value as FixProposalState;
}

function proposalJson({ proposal: p, app, environment }: Listed) {
  return {
    id: p.id,
    state: p.state,
    app,
    appId: p.appId,
    environment,
    environmentId: p.environmentId,
    target: p.target,
    title: p.title,
    changeKind: p.changeKind,
    fingerprint: p.fingerprint,
    token: { id: p.tokenId, name: p.tokenName },
    agent: { name: p.agentName, model: p.agentModel },
    statusCode: p.statusCode,
    reasons: p.reasons,
    pullRequest:
      p.prNumber === null
        ? null
        : { number: p.prNumber, url: p.prUrl, branch: p.branch, pushedHead: p.pushedHead },
    supersededBy: p.supersededBy,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}

/** `dag proposals`: the fix proposals agents sent to the REST API, newest first. */
export function registerProposalCommands(program: Command, cli: Cli): void {
  const group = program
    .command('proposals')
    .description('fix proposals sent by AI agents through the REST API (an audit trail)');

  group
    .command('list')
    .description('list fix proposals, newest first: state, target, sender and pull request')
    .option('--app <app>', 'only this app (id, repository URL or short name)')
    .option('--state <state>', `only this state (${FIX_PROPOSAL_STATES.join(', ')})`)
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print a JSON array')
    .action(async (options: ListOptions) => {
      const wanted = options.state === undefined ? undefined : state(options.state);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
        throw new UserError('--limit must be a whole number from 1 to 1000');
      }
      const listed = await withContext(cli, async ({ db, store }) => {
        let appId: number | undefined;
        if (options.app !== undefined) {
          const app = await store.findApp(options.app);
          if (!app) throw new UserError(`unknown app: ${options.app} (see: dag apps list)`);
          appId = app.id;
        }
        const proposals = await new SqlFixProposalStore(db).list({
          ...(appId === undefined ? {} : { appId }),
          ...(wanted === undefined ? {} : { state: wanted }),
          limit,
        });
        const [apps, envs] = await Promise.all([store.listApps(), store.listEnvironments()]);
        const appNames = new Map(apps.map((a) => [a.id, a.name]));
        const envNames = new Map(envs.map((e) => [e.id, e.name]));
        return proposals.map((proposal) => ({
          proposal,
          app: proposal.appId === null ? null : (appNames.get(proposal.appId) ?? null),
          environment:
            proposal.environmentId === null ? null : (envNames.get(proposal.environmentId) ?? null),
        }));
      });
      printList(cli, options, listed, {
        headers: ['id', 'state', 'app', 'environment', 'change', 'token', 'agent', 'pr', 'created'],
        row: ({ proposal: p, app, environment }) => [
          p.id,
          p.state === 'rejected' && p.statusCode !== null ? `rejected (${p.statusCode})` : p.state,
          app ?? '-',
          environment ?? '-',
          p.changeKind,
          p.tokenName,
          `${p.agentName} (${p.agentModel})`,
          p.prUrl ?? (p.prNumber === null ? '-' : `#${p.prNumber}`),
          p.createdAt,
        ],
        json: proposalJson,
        empty: 'no fix proposals yet (agents send them to POST /api/v1/fix-proposals)',
      });
    });
}
