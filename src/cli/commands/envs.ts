import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import type { ConfigStore, DeployRulesPatch, EnvironmentPatch } from '../../store/types.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { branch, environmentName, helmType, iacPath, namespace, releaseName } from '../validate.ts';
import type { DeployRules, Environment } from '../../model.ts';
import { environmentStatus, type EnvironmentStatus } from '../../monitor/status.ts';
import { SqlRolloutStore } from '../../store/rollouts.ts';

type AddOptions = {
  app: string;
  branch: string;
  iac: string;
  path: string;
  cluster: string;
  helmType: string;
  namespace?: string;
  release?: string;
  iacBranch?: string;
  reconciledBranch?: string;
  name?: string;
} & RuleOptions;

/** --x / --no-x: true, false, or undefined when neither is given. */
type RuleOptions = {
  requiresApproval?: boolean;
  requiresGreenChecks?: boolean;
  onlyFromOwnBranch?: boolean;
};

/** Each rule's name in refusals and lists, and its option. */
const RULES: { field: keyof DeployRules; name: string; option: string; help: string }[] = [
  {
    field: 'onlyFromOwnBranch',
    name: 'own-branch',
    option: 'only-from-own-branch',
    help: "only pull requests into the environment's own branch",
  },
  {
    field: 'requiresApproval',
    name: 'approval',
    option: 'requires-approval',
    help: 'the pull request is approved, with no outstanding change request',
  },
  {
    field: 'requiresGreenChecks',
    name: 'green-checks',
    option: 'requires-green-checks',
    help: 'every check run and commit status on the head commit passed',
  },
];

/** `own-branch, approval`: the rules /deploy checks here beyond write access and no forks. */
function ruleNames(rules: DeployRules, separator = ', '): string {
  return RULES.filter((r) => rules[r.field])
    .map((r) => r.name)
    .join(separator);
}

/** Adds --<rule> and --no-<rule> for each /deploy rule. */
function ruleOptions(command: Command, defaults: string): Command {
  for (const rule of RULES) {
    command
      .option(`--${rule.option}`, `/deploy needs: ${rule.help}${defaults}`)
      .option(`--no-${rule.option}`, `/deploy does not need it`);
  }
  return command;
}

function rulesPatch(options: RuleOptions): DeployRulesPatch {
  return {
    requiresApproval: options.requiresApproval,
    requiresGreenChecks: options.requiresGreenChecks,
    onlyFromOwnBranch: options.onlyFromOwnBranch,
  };
}

type Named = { app: string; iac: string; cluster: string };

/** Environments with the names of what they refer to, as people type them. */
async function describe(store: ConfigStore, envs: Environment[]) {
  const [apps, iacs, clusters] = await Promise.all([
    store.listApps(),
    store.listIacs(),
    store.listClusters(),
  ]);
  const appNames = new Map(apps.map((a) => [a.id, a.name]));
  const iacNames = new Map(iacs.map((i) => [i.id, i.name]));
  const clusterNames = new Map(clusters.map((c) => [c.id, c.name]));
  return envs.map((env) => ({
    env,
    app: appNames.get(env.appId) ?? String(env.appId),
    iac: iacNames.get(env.iacId) ?? String(env.iacId),
    cluster: clusterNames.get(env.clusterId) ?? String(env.clusterId),
  }));
}

function environmentJson({ env, app, iac, cluster }: Named & { env: Environment }) {
  return {
    id: env.id,
    app,
    appId: env.appId,
    name: env.name,
    branch: env.branch,
    iac,
    iacId: env.iacId,
    iacPath: env.iacPath,
    iacBranch: env.iacBranch,
    reconciledBranch: env.reconciledBranch,
    cluster,
    clusterId: env.clusterId,
    helmType: env.helmType,
    helmNamespace: env.helmNamespace,
    helmName: env.helmName,
    rules: { ...env.rules },
    createdAt: env.createdAt.toISOString(),
  };
}

export function registerEnvironmentCommands(program: Command, cli: Cli): void {
  const envs = program
    .command('envs')
    .description('environments: which branch of an app deploys where');

  const add = envs
    .command('add')
    .description('map an app branch to an IAC repository path and a cluster')
    .requiredOption('--app <app>', 'app id, repository URL or name')
    .requiredOption('--branch <branch>', 'app branch that deploys here, e.g. main')
    .requiredOption('--iac <iac>', 'IAC repository id or name')
    .requiredOption('--path <path>', 'folder in the IAC repository, e.g. clusters/staging/my-app')
    .requiredOption('--cluster <cluster>', 'cluster id or name')
    .requiredOption('--helm-type <type>', "'flux' (HelmRelease) or 'plain' (rendered manifests)")
    .option('--namespace <namespace>', 'Kubernetes namespace')
    .option('--release <name>', 'Helm release name')
    .option('--iac-branch <branch>', "IAC repository branch (default: the repository's default)")
    .option(
      '--reconciled-branch <branch>',
      'IAC branch the cluster reconciles, when not the one DAG writes (e.g. production)',
    )
    .option('--name <name>', 'environment name (default: derived from the path or branch)');
  ruleOptions(add, ' (default: on for production and prod)').action(async (options: AddOptions) => {
    const input = {
      app: options.app,
      branch: branch('--branch', options.branch),
      iac: options.iac,
      iacPath: iacPath(options.path),
      cluster: options.cluster,
      helmType: helmType(options.helmType),
      helmNamespace: options.namespace === undefined ? undefined : namespace(options.namespace),
      helmName: options.release === undefined ? undefined : releaseName(options.release),
      iacBranch:
        options.iacBranch === undefined ? undefined : branch('--iac-branch', options.iacBranch),
      reconciledBranch:
        options.reconciledBranch === undefined
          ? undefined
          : branch('--reconciled-branch', options.reconciledBranch),
      name: options.name === undefined ? undefined : environmentName(options.name),
      rules: rulesPatch(options),
    };
    const [added] = await withContext(cli, async ({ store }) =>
      describe(store, [await store.addEnvironment(input)]),
    );
    if (!added) return;
    const { env, app, iac, cluster } = added;
    const target = `${iac}:${env.iacPath}${env.iacBranch ? ` (branch ${env.iacBranch})` : ''}${env.reconciledBranch ? `, cluster reconciles ${env.reconciledBranch}` : ''}`;
    const rules = ruleNames(env.rules);
    cli.print(
      `added environment ${env.name} to app ${app}: branch ${env.branch} -> ${target}, ${env.helmType}, cluster ${cluster}${rules ? `; deploy rules: ${rules}` : ''}`,
    );
  });

  const set = envs
    .command('set')
    .description(
      "change who may /deploy a pull request to an app's environment, or the branch its cluster reconciles",
    )
    .argument('<app>', 'app id, repository URL or name')
    .argument('<env-name>', 'environment name')
    .option(
      '--default-rules',
      "back to DAG's default rules (all on for production and prod, off otherwise), then apply the others",
    )
    .option(
      '--reconciled-branch <branch>',
      'IAC branch the cluster reconciles, when not the one DAG writes (e.g. production)',
    )
    .option('--no-reconciled-branch', 'the cluster reconciles the branch DAG writes');
  ruleOptions(set, '').action(
    async (
      app: string,
      name: string,
      options: RuleOptions & { defaultRules?: boolean; reconciledBranch?: string | boolean },
    ) => {
      const given = rulesPatch(options);
      const reset = options.defaultRules === true;
      // commander: a string for --reconciled-branch B, false for --no-reconciled-branch.
      const reconciled =
        typeof options.reconciledBranch === 'string'
          ? branch('--reconciled-branch', options.reconciledBranch)
          : options.reconciledBranch === false
            ? null
            : undefined;
      const rulesGiven = Object.values(given).some((value) => value !== undefined);
      if (!reset && !rulesGiven && reconciled === undefined) {
        throw new UserError(
          'nothing to set: give at least one rule, --default-rules or --[no-]reconciled-branch (see: dag envs set --help)',
        );
      }
      const rules: DeployRulesPatch = {
        requiresApproval: given.requiresApproval ?? (reset ? null : undefined),
        requiresGreenChecks: given.requiresGreenChecks ?? (reset ? null : undefined),
        onlyFromOwnBranch: given.onlyFromOwnBranch ?? (reset ? null : undefined),
      };
      const patch: EnvironmentPatch = { rules, reconciledBranch: reconciled };
      const env = await withContext(cli, ({ store }) => store.setEnvironment(app, name, patch));
      const changes: string[] = [];
      if (reset || rulesGiven) changes.push(`deploy rules: ${ruleNames(env.rules) || 'none'}`);
      if (reconciled !== undefined) {
        changes.push(
          `its cluster reconciles ${env.reconciledBranch ?? `the branch DAG writes (${env.iacBranch ?? "the IAC repository's default"})`}`,
        );
      }
      cli.print(`updated environment ${env.name} of app ${app}: ${changes.join('; ')}`);
    },
  );

  envs
    .command('status')
    .description(
      'what runs where: per environment, the commit DAG committed, the commit live in the cluster, the rollout (progressing, healthy, failed) and since when, and drift, as cluster monitoring last saw them',
    )
    .option('--app <app>', 'only this app (id, repository URL or name)')
    .option('--json', 'print a JSON array')
    .action(async (options: { app?: string; json?: boolean }) => {
      const all = await withContext(cli, async ({ store, db }) => {
        const rollouts = new SqlRolloutStore(db);
        const described = await describe(store, await store.listEnvironments(options.app));
        return Promise.all(
          described.map(async (item) => ({
            ...item,
            status: await environmentStatus(rollouts, item.env.id),
          })),
        );
      });
      const short = (sha: string | null) => (sha === null ? null : sha.slice(0, 7));
      printList(cli, options, all, {
        headers: [
          'app',
          'name',
          'cluster',
          'committed',
          'live',
          'rollout',
          'since',
          'drift',
          'reason',
        ],
        row: ({ app, env, cluster, status }) => [
          app,
          env.name,
          cluster,
          short(status.committedCommit),
          short(status.liveCommit),
          status.rollingOutCommit === null
            ? status.phase
            : `${status.phase} (to ${short(status.rollingOutCommit)})`,
          status.since,
          status.drift.drifted ? (status.drift.kind ?? 'yes') : 'no',
          status.reason,
        ],
        json: ({
          app,
          env,
          cluster,
          status,
        }): { app: string; environment: string; cluster: string } & EnvironmentStatus => ({
          app,
          environment: env.name,
          cluster,
          ...status,
        }),
        empty: 'no environments yet (add one: dag envs add --app APP --branch main ...)',
      });
    });

  envs
    .command('list')
    .description('list environments')
    .option('--app <app>', 'only this app (id, repository URL or name)')
    .option('--json', 'print a JSON array')
    .action(async (options: { app?: string; json?: boolean }) => {
      const all = await withContext(cli, async ({ store }) =>
        describe(store, await store.listEnvironments(options.app)),
      );
      printList(cli, options, all, {
        headers: [
          'app',
          'name',
          'branch',
          'iac',
          'path',
          'iac-branch',
          'reconciled-branch',
          'cluster',
          'type',
          'namespace',
          'release',
          'deploy-rules',
        ],
        row: ({ env, app, iac, cluster }) => [
          app,
          env.name,
          env.branch,
          iac,
          env.iacPath,
          env.iacBranch,
          env.reconciledBranch,
          cluster,
          env.helmType,
          env.helmNamespace,
          env.helmName,
          ruleNames(env.rules, ','),
        ],
        json: environmentJson,
        empty: 'no environments yet (add one: dag envs add --app APP --branch main ...)',
      });
    });

  envs
    .command('remove')
    .description("remove an app's environment")
    .argument('<app>', 'app id, repository URL or name')
    .argument('<env-name>', 'environment name')
    .action(async (app: string, name: string) => {
      const env = await withContext(cli, ({ store }) => store.removeEnvironment(app, name));
      cli.print(`removed environment ${env.name} of app ${app}`);
    });
}
