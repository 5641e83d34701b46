import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import type { DeployRecord } from '../../store/types.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { positiveInteger } from '../validate.ts';

type ListOptions = { app?: string; env?: string; failed?: boolean; limit: string; json?: boolean };
type Row = { deploy: DeployRecord; app: string; environment: string };

function deployJson({ deploy, app, environment }: Row) {
  return {
    id: deploy.id,
    app,
    environment,
    environmentId: deploy.environmentId,
    sha: deploy.sha,
    ref: deploy.ref,
    pusher: deploy.pusher,
    attempt: deploy.attempt,
    requestKey: deploy.requestKey,
    state: deploy.state,
    providerDeploymentId: deploy.providerDeploymentId,
    reportedState: deploy.reportedState,
    iacCommit: deploy.iacCommit,
    error: deploy.error,
    /** Monitored environments: how the rollout went (pending, healthy, failed, superseded). */
    rollout: deploy.rollout,
    rolloutReason: deploy.rolloutReason,
    updatedAt: deploy.updatedAt.toISOString(),
  };
}

/**
 * `dag deploys list`: what each environment was asked to run and how it ended, including
 * deploys that failed for a reason a person must fix (those are not retried, so they never
 * show up among failed jobs).
 */
export function registerDeployCommands(program: Command, cli: Cli): void {
  const deploys = program.command('deploys').description('deploys of app commits to environments');
  deploys
    .command('list')
    .description('recent deploys, newest first')
    .option('--app <app>', 'only this app (id, repository URL or short name)')
    .option('--env <environment>', 'only this environment (with --app)')
    .option('--failed', 'only deploys that failed')
    .option('--limit <n>', 'at most this many deploys', '50')
    .option('--json', 'print a JSON array')
    .action(async (options: ListOptions) => {
      const limit = positiveInteger('--limit', options.limit, 1000);
      if (options.env && !options.app) throw new UserError('--env needs --app');
      const rows = await withContext(cli, async ({ store }) => {
        const apps = new Map((await store.listApps()).map((a) => [a.id, a.name]));
        const envs = await store.listEnvironments(options.app);
        const chosen = options.env ? envs.filter((e) => e.name === options.env) : envs;
        if (options.env && chosen.length === 0) {
          throw new UserError(`app ${options.app} has no environment ${options.env}`);
        }
        const byId = new Map(chosen.map((e) => [e.id, e]));
        const all = options.app
          ? (
              await Promise.all(
                chosen.map((e) => store.listDeploys({ environmentId: e.id, limit })),
              )
            ).flat()
          : await store.listDeploys({ limit });
        return all
          .filter((d) => byId.has(d.environmentId))
          .filter((d) => !options.failed || d.state === 'failure')
          .sort((a, b) => b.id - a.id)
          .slice(0, limit)
          .map((deploy) => {
            const env = byId.get(deploy.environmentId);
            return {
              deploy,
              app: env ? (apps.get(env.appId) ?? String(env.appId)) : '?',
              environment: env?.name ?? String(deploy.environmentId),
            };
          });
      });
      printList(cli, options, rows, {
        headers: ['id', 'app', 'environment', 'commit', 'state', 'iac commit', 'updated', 'error'],
        row: ({ deploy, app, environment }) => [
          deploy.id,
          app,
          environment,
          deploy.sha.slice(0, 12),
          deploy.state,
          deploy.iacCommit?.slice(0, 12),
          deploy.updatedAt,
          deploy.error,
        ],
        json: deployJson,
        empty: options.failed ? 'no failed deploys' : 'no deploys yet',
      });
    });
}
