import type { Command } from 'commander';
import type { App } from '../../store/types.ts';
import { repoKey } from '../../util/repo-url.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { appName, appRepoUrl, gitProvider } from '../validate.ts';

type AddOptions = { provider: string; repoUrl: string; name?: string };

function appJson(app: App) {
  return {
    id: app.id,
    name: app.name,
    gitProvider: app.gitProvider,
    repoUrl: app.repoUrl,
    createdAt: app.createdAt.toISOString(),
  };
}

/** A hint when the provider contradicts a well-known host (self-hosted ones can be anything). */
function providerMismatch(provider: string, repoUrl: string): string | undefined {
  const host = repoKey(repoUrl)?.split('/')[0];
  const expected = host === 'github.com' ? 'github' : host === 'gitlab.com' ? 'gitlab' : undefined;
  return expected && expected !== provider ? expected : undefined;
}

export function registerAppCommands(program: Command, cli: Cli): void {
  const apps = program.command('apps').description('application repositories DAG deploys');

  apps
    .command('add')
    .description('register an application repository')
    .requiredOption('--provider <provider>', "git hosting provider: 'github' or 'gitlab'")
    .requiredOption('--repo-url <url>', 'repository URL, e.g. https://gitlab.com/org/my-app')
    .option('--name <name>', "short name (default: the repository's name)")
    .action(async (options: AddOptions) => {
      const input = {
        gitProvider: gitProvider(options.provider),
        repoUrl: appRepoUrl(options.repoUrl),
        name: options.name === undefined ? undefined : appName(options.name),
      };
      const expected = providerMismatch(input.gitProvider, input.repoUrl);
      if (expected) {
        cli.note(
          `dag: warning: this URL is on ${expected}, but the provider is ${input.gitProvider}`,
        );
      }
      const app = await withContext(cli, ({ store }) => store.addApp(input));
      cli.print(`added app ${app.id}: ${app.name} (${app.gitProvider}, ${app.repoUrl})`);
    });

  apps
    .command('list')
    .description('list applications')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const all = await withContext(cli, ({ store }) => store.listApps());
      printList(cli, options, all, {
        headers: ['id', 'name', 'provider', 'repository'],
        row: (a) => [a.id, a.name, a.gitProvider, a.repoUrl],
        json: appJson,
        empty: 'no apps yet (add one: dag apps add --provider gitlab --repo-url URL)',
      });
    });

  apps
    .command('remove')
    .description('remove an application and its environments')
    .argument('<app>', 'id, repository URL or name')
    .action(async (ref: string) => {
      const { app, environments } = await withContext(cli, async ({ store }) => {
        const environments = (await store.listEnvironments(ref)).length;
        return { app: await store.removeApp(ref), environments };
      });
      const also = environments > 0 ? ` and its ${environments} environment(s)` : '';
      cli.print(`removed app ${app.id}: ${app.name}${also}`);
    });
}
