import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import { JobQueue } from '../../jobs/queue.ts';
import { createLogger } from '../../log.ts';
import { appRepoRef } from '../../util/repo-url.ts';
import { askDeploy } from '../../workflows/deploy.ts';
import type { DeployRequest } from '../../workflows/deploy-plan.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';

type DeployOptions = { sha: string; json?: boolean };

/**
 * `dag deploy <app> <environment> --sha <sha>`: deploys a commit of the app to an environment
 * through the same deploy job as a push, queued for DAG's workers: a redeploy, or a rollback to
 * a commit that ran there before. Nothing is queued when the environment runs that commit now.
 * The commit must exist in the app repository: the deploy job fails, and says so, if not.
 */
export function registerDeployCommand(program: Command, cli: Cli): void {
  program
    .command('deploy')
    .description('deploy (or roll back to) a commit of an app in an environment, through the queue')
    .argument('<app>', 'app id, repository URL or short name')
    .argument('<environment>', 'environment name')
    .requiredOption('--sha <sha>', 'the app commit to deploy (40 or 64 hex characters)')
    .option('--json', 'print the outcome as JSON')
    .action(async (appRef: string, envName: string, options: DeployOptions) => {
      if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(options.sha)) {
        throw new UserError('--sha must be a full commit id (40 or 64 lower-case hex characters)');
      }
      const outcome = await withContext(cli, async ({ store, db }) => {
        const app = await store.findApp(appRef);
        if (!app) throw new UserError(`unknown app: ${appRef} (see: dag apps list)`);
        const envs = await store.listEnvironments(String(app.id));
        const env = envs.find((e) => e.name === envName);
        if (!env) {
          throw new UserError(
            `app ${app.name} has no environment ${envName} (it has: ${envs.map((e) => e.name).join(', ') || 'none'})`,
          );
        }
        const repo = appRepoRef(app);
        const request: DeployRequest & { requestKey: string } = {
          environmentId: env.id,
          target: { iacId: env.iacId, iacBranch: env.iacBranch },
          sha: options.sha,
          // The commit is taken to be on the environment's branch, as `dag render` does.
          branch: env.branch,
          pusher: `${userInfo().username} (dag deploy)`,
          repo,
          commitUrl: `${repo.webUrl}${app.gitProvider === 'gitlab' ? '/-' : ''}/commit/${options.sha}`,
          requestKey: `cli:${randomUUID()}`,
        };
        const asked = await askDeploy(request, store);
        const base = { app: app.name, environment: env.name, sha: options.sha };
        if (asked.status === 'current') {
          return {
            ...base,
            status: 'current' as const,
            attempt: asked.record.attempt,
            jobId: null,
          };
        }
        const log = createLogger({
          level: 'error',
          masker: cli.masker,
          destination: { write: (line: string) => void cli.stderr.write(line) },
        });
        const queue = await JobQueue.create(db, log, { supervise: false, manageQueues: false });
        try {
          const { jobId } = await queue.enqueueDeploy(asked.request);
          return { ...base, status: 'queued' as const, attempt: asked.record.attempt, jobId };
        } finally {
          await queue.stop(5_000);
        }
      });
      if (options.json) {
        cli.print(JSON.stringify(outcome, null, 2));
      } else if (outcome.status === 'current') {
        cli.print(`${outcome.environment} already runs ${outcome.sha}: nothing to deploy`);
      } else {
        cli.print(
          `deploy of ${outcome.sha.slice(0, 12)} to ${outcome.app} ${outcome.environment} queued (attempt ${outcome.attempt}, job ${outcome.jobId}); follow it with: dag deploys list --app ${outcome.app} --env ${outcome.environment}`,
        );
      }
    });
}
