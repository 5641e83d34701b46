import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import {
  PROMOTION_STRATEGIES,
  type ConfigStore,
  type PromotionRecord,
  type PromotionRoute,
  type PromotionStrategy,
} from '../../store/types.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { environmentName } from '../validate.ts';
import { type Permission, PERMISSIONS } from '../../model.ts';

type RouteOptions = { app: string; from: string; to: string };
type AddOptions = RouteOptions & { strategy?: string; automatic?: boolean; permission?: string };

type Named = { route: PromotionRoute; app: string; from: string; to: string };
type Listed = Named & { promotion: PromotionRecord | undefined };

function strategy(value: string): PromotionStrategy {
  if (!(PROMOTION_STRATEGIES as readonly string[]).includes(value)) {
    throw new UserError(`strategy must be one of ${PROMOTION_STRATEGIES.join(', ')}`);
  }
  return value as PromotionStrategy;
}

function permission(value: string): Permission {
  if (!(PERMISSIONS as readonly string[]).includes(value) || value === 'none') {
    throw new UserError(`permission must be one of ${PERMISSIONS.slice(1).join(', ')}`);
  }
  return value as Permission;
}

/** `folder`, or `folder (inferred)` when the route leaves the strategy to DAG. */
function strategyText(route: PromotionRoute): string {
  return route.strategyInferred ? `${route.strategy} (inferred)` : route.strategy;
}

/** Routes with the names of their app and environments, as people type them. */
async function describe(store: ConfigStore, routes: PromotionRoute[]): Promise<Named[]> {
  const [apps, envs] = await Promise.all([store.listApps(), store.listEnvironments()]);
  const appNames = new Map(apps.map((a) => [a.id, a.name]));
  const envNames = new Map(envs.map((e) => [e.id, e.name]));
  return routes.map((route) => ({
    route,
    app: appNames.get(route.appId) ?? String(route.appId),
    from: envNames.get(route.fromEnvironmentId) ?? String(route.fromEnvironmentId),
    to: envNames.get(route.toEnvironmentId) ?? String(route.toEnvironmentId),
  }));
}

function routeJson({ route, app, from, to, promotion }: Listed) {
  return {
    id: route.id,
    app,
    appId: route.appId,
    from,
    fromEnvironmentId: route.fromEnvironmentId,
    to,
    toEnvironmentId: route.toEnvironmentId,
    strategy: route.strategy,
    strategyInferred: route.strategyInferred,
    automatic: route.automatic,
    requiredPermission: route.requiredPermission,
    promotion: promotion
      ? {
          state: promotion.state,
          url: promotion.url,
          number: promotion.number,
          branch: promotion.branch,
          baseBranch: promotion.baseBranch,
          sourceSha: promotion.sourceSha,
          updatedAt: promotion.updatedAt.toISOString(),
        }
      : null,
    createdAt: route.createdAt.toISOString(),
  };
}

function routeOptions(command: Command): Command {
  return command
    .requiredOption('--app <app>', 'app id, repository URL or name')
    .requiredOption('--from <env>', 'environment the release comes from, e.g. staging')
    .requiredOption('--to <env>', 'environment it is promoted to, e.g. production');
}

export function registerPromotionCommands(program: Command, cli: Cli): void {
  const promotions = program
    .command('promotions')
    .description('promotion routes: which environment promotes to which, by pull request');

  routeOptions(promotions.command('add'))
    .description('let DAG promote releases of an app from one environment to another')
    .option(
      '--strategy <strategy>',
      `${PROMOTION_STRATEGIES.join(', ')} (default: iac-branch when both environments write one IAC repository on two named branches, else folder)`,
    )
    .option('--automatic', 'open or update the promotion after every deploy to --from')
    .option(
      '--permission <level>',
      'least permission on the app repository to /promote (default: maintain into production or prod, else write)',
    )
    .action(async (options: AddOptions) => {
      const input = {
        app: options.app,
        from: environmentName(options.from),
        to: environmentName(options.to),
        strategy: options.strategy === undefined ? undefined : strategy(options.strategy),
        automatic: options.automatic === true,
        requiredPermission:
          options.permission === undefined ? undefined : permission(options.permission),
      };
      const [added] = await withContext(cli, async ({ store }) =>
        describe(store, [await store.addRoute(input)]),
      );
      if (!added) return;
      const { route, app, from, to } = added;
      const when = route.automatic ? 'after every deploy' : 'on request';
      cli.print(
        `added promotion route ${route.id} of app ${app}: ${from} -> ${to}, ${strategyText(route)}, ${when}, /promote needs ${route.requiredPermission}`,
      );
    });

  promotions
    .command('list')
    .description('list promotion routes and their current promotion pull request')
    .option('--app <app>', 'only this app (id, repository URL or name)')
    .option('--json', 'print a JSON array')
    .action(async (options: { app?: string; json?: boolean }) => {
      const all = await withContext(cli, async ({ store }) => {
        const named = await describe(store, await store.listRoutes(options.app));
        return Promise.all(
          named.map(async (item) => ({
            ...item,
            promotion: await store.currentPromotion(item.route.id),
          })),
        );
      });
      printList(cli, options, all, {
        headers: [
          'app',
          'from',
          'to',
          'strategy',
          'automatic',
          'permission',
          'promotion',
          'pull request',
        ],
        row: ({ route, app, from, to, promotion }) => [
          app,
          from,
          to,
          strategyText(route),
          route.automatic,
          route.requiredPermission,
          promotion?.state,
          promotion?.url,
        ],
        json: routeJson,
        empty:
          'no promotion routes yet (add one: dag promotions add --app APP --from staging --to production)',
      });
    });

  routeOptions(promotions.command('remove'))
    .description('stop promoting between two environments of an app')
    .action(async (options: RouteOptions) => {
      const route = await withContext(cli, ({ store }) =>
        store.removeRoute(options.app, options.from, options.to),
      );
      cli.print(
        `removed promotion route ${route.id} of app ${options.app}: ${options.from} -> ${options.to}`,
      );
    });
}
