import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import { renderBundle } from '../../render/bundle.ts';
import { loadTemplates } from '../../render/templates.ts';
import { parseValuesFile } from '../../render/yaml.ts';
import { buildBundle } from '../../workflows/deploy.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { localSource } from '../local-source.ts';

type RenderOptions = { sha: string; branch?: string; repoDir: string; out?: string };

/**
 * `dag render`: the exact bundle a deploy of a commit would commit to an environment's folder,
 * computed offline from a local checkout of the app repository at that commit. The commit is
 * taken to be on the environment's branch, as a push to that branch would be, unless `--branch`
 * says otherwise.
 */
export function registerRenderCommand(program: Command, cli: Cli): void {
  program
    .command('render')
    .description('print (or write) the release bundle a deploy would commit, offline')
    .argument('<app>', 'app id, repository URL or short name')
    .argument('<environment>', 'environment name')
    .requiredOption('--sha <sha>', 'the app commit to render (40 or 64 hex characters)')
    .option('--branch <branch>', "the branch the commit is on (default: the environment's branch)")
    .option('--repo-dir <dir>', 'a checkout of the app repository at that commit', '.')
    .option('--out <dir>', 'write the files into this folder (replacing its contents)')
    .action(async (appRef: string, envName: string, options: RenderOptions) => {
      if (!/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(options.sha)) {
        throw new UserError('--sha must be a full commit id (40 or 64 lower-case hex characters)');
      }
      const bundle = await withContext(cli, async ({ store, settings }) => {
        const app = await store.findApp(appRef);
        if (!app) throw new UserError(`unknown app: ${appRef} (see: dag apps list)`);
        const env = (await store.listEnvironments(String(app.id))).find((e) => e.name === envName);
        if (!env) {
          const names = (await store.listEnvironments(String(app.id))).map((e) => e.name);
          throw new UserError(
            `app ${app.name} has no environment ${envName} (it has: ${names.join(', ') || 'none'})`,
          );
        }
        const templates = loadTemplates(settings.templatesDir);
        const web = app.repoUrl.replace(/\.git$/, '').replace(/\/+$/, '');
        return buildBundle(
          localSource(path.resolve(options.repoDir)),
          { render: (input) => renderBundle(input, templates), parseValues: parseValuesFile },
          app,
          env,
          {
            sha: options.sha,
            branch: options.branch ?? env.branch,
            commitUrl: `${web}${app.gitProvider === 'gitlab' ? '/-' : ''}/commit/${options.sha}`,
          },
        );
      });
      const names = Object.keys(bundle.files).sort();
      if (options.out) {
        const out = path.resolve(options.out);
        await rm(out, { recursive: true, force: true });
        for (const name of names) {
          const file = path.join(out, name);
          await mkdir(path.dirname(file), { recursive: true });
          await writeFile(file, bundle.files[name] as string);
        }
        cli.print(`wrote ${names.length} file(s) to ${out}`);
        return;
      }
      for (const name of names) {
        cli.print(`# ${name}`);
        cli.print((bundle.files[name] as string).replace(/\n$/, ''));
      }
    });
}
