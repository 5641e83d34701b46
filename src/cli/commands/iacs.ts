import type { Command } from 'commander';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { readSecret } from '../read-secret.ts';
import { gitProvider, iacRepoUrl, resourceName } from '../validate.ts';
import type { Iac } from '../../model.ts';

type AddOptions = { name: string; repoUrl: string; provider?: string; tokenStdin?: boolean };

function iacJson(iac: Iac) {
  return {
    id: iac.id,
    name: iac.name,
    repoUrl: iac.repoUrl,
    gitProvider: iac.gitProvider,
    hasToken: iac.hasToken,
    createdAt: iac.createdAt.toISOString(),
  };
}

export function registerIacCommands(program: Command, cli: Cli): void {
  const iacs = program.command('iacs').description('IAC repositories DAG pushes releases to');

  iacs
    .command('add')
    .description('register an IAC repository (the token is sealed before it is stored)')
    .requiredOption('--name <name>', 'name to refer to it, e.g. prod-iac')
    .requiredOption('--repo-url <url>', 'clone URL, e.g. https://gitlab.com/org/iac-repo.git')
    .option(
      '--provider <provider>',
      "'github' or 'gitlab', where promotion pull requests open (default: told by the URL)",
    )
    .option('--token-stdin', 'read the access token from stdin (else from DAG_IAC_TOKEN, if set)')
    .action(async (options: AddOptions) => {
      const name = resourceName('IAC', options.name);
      const repoUrl = iacRepoUrl(options.repoUrl);
      const provider = options.provider === undefined ? undefined : gitProvider(options.provider);
      const accessToken = await readSecret(cli, {
        fromStdin: options.tokenStdin === true,
        envName: 'DAG_IAC_TOKEN',
      });
      const iac = await withContext(cli, ({ store }) =>
        store.addIac({ name, repoUrl, accessToken, gitProvider: provider }),
      );
      const token = iac.hasToken
        ? 'with a sealed access token'
        : 'without a token (DAG will clone and push anonymously)';
      const where = iac.gitProvider ? `${iac.repoUrl} on ${iac.gitProvider}` : iac.repoUrl;
      cli.print(`added IAC repository ${iac.id}: ${iac.name} (${where}) ${token}`);
    });

  iacs
    .command('list')
    .description('list IAC repositories (tokens are never shown)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const all = await withContext(cli, ({ store }) => store.listIacs());
      printList(cli, options, all, {
        headers: ['id', 'name', 'provider', 'repository', 'token'],
        row: (i) => [i.id, i.name, i.gitProvider, i.repoUrl, i.hasToken ? 'set' : null],
        json: iacJson,
        empty: 'no IAC repositories yet (add one: dag iacs add --name NAME --repo-url URL)',
      });
    });

  iacs
    .command('remove')
    .description('remove an IAC repository no environment uses')
    .argument('<iac>', 'id or name')
    .action(async (ref: string) => {
      const iac = await withContext(cli, ({ store }) => store.removeIac(ref));
      cli.print(`removed IAC repository ${iac.id}: ${iac.name}`);
    });
}
