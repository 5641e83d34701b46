import type { Command } from 'commander';
import { UserError } from '../../errors.ts';
import { renderImageTag } from '../../render/image-tag.ts';
import { type AppPatch } from '../../store/types.ts';
import { repoKey } from '../../util/repo-url.ts';
import { withContext } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { appName, appRepoUrl, gitProvider, quote } from '../validate.ts';
import { type App, CHART_SOURCES, type ChartSourceKind } from '../../model.ts';

type AddOptions = { provider: string; repoUrl: string; name?: string };

type SetOptions = {
  chartSource?: string;
  chartPath?: string;
  chartRepoUrl?: string;
  chartName?: string;
  chartVersion?: string;
  chartSecretRef?: string;
  imageRepository?: string;
  imageTagFormat?: string;
  valuesPath?: string;
  autoDiff?: boolean;
};

function appJson(app: App) {
  return {
    id: app.id,
    name: app.name,
    gitProvider: app.gitProvider,
    repoUrl: app.repoUrl,
    chartSource: app.chart.source,
    chartPath: app.chart.path,
    chartRepoUrl: app.chart.repoUrl,
    chartName: app.chart.name,
    chartVersion: app.chart.version,
    chartSecretRef: app.chart.secretRef,
    imageRepository: app.imageRepository,
    imageTagFormat: app.imageTagFormat,
    valuesPath: app.valuesPath,
    autoDiff: app.autoDiff,
    createdAt: app.createdAt.toISOString(),
  };
}

// Checks of `dag apps set` input, before the database is opened. The database's constraints
// (migrations/*_deploy.sql) stay the last word; the store checks the combination.

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const CHART_NAME = /^[A-Za-z0-9][-A-Za-z0-9._]*$/;
/** host[:port]/path of an image, without tag or digest (distribution spec's name grammar). */
const IMAGE_PATH = '[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*';
const IMAGE_REPOSITORY = new RegExp(
  `^([a-z0-9]+([._-][a-z0-9]+)*(:\\d+)?/)?${IMAGE_PATH}(/${IMAGE_PATH})*$`,
);
const TAG_FIELD = /\{\{\s*(sha|shortSha|branch)\s*\}\}/g;
const CONTROL = /[\u0000-\u001f\u007f]/; // eslint-disable-line no-control-regex

/** An optional setting: the empty string clears it (back to its default). */
function optional<T>(value: string | undefined, check: (value: string) => T): T | null | undefined {
  if (value === undefined) return undefined;
  return value === '' ? null : check(value);
}

function chartSource(value: string): ChartSourceKind {
  if (!(CHART_SOURCES as readonly string[]).includes(value)) {
    throw new UserError("chart source must be 'app-repo', 'helm', 'oci' or 'git'");
  }
  return value as ChartSourceKind;
}

/** A folder of the app (or chart) repository: relative, no "." or ".." segments, no spaces. */
function repoFolder(what: string, example: string, value: string): string {
  const folder = value.replace(/\/+$/, '');
  const bad =
    folder === '' ||
    folder.startsWith('/') ||
    /[\s\\]/.test(folder) ||
    CONTROL.test(folder) ||
    folder.split('/').some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad) {
    throw new UserError(
      `invalid ${what}: ${quote(value)} (a folder of the repository: relative, without "..", "." or spaces, e.g. ${example})`,
    );
  }
  return folder;
}

function chartRepoUrl(value: string): string {
  const url = value.trim();
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !/^(https?|oci):\/\/[^\s/]+/.test(url) || /\s/.test(url)) {
    throw new UserError(
      `not a chart repository URL: ${quote(url)} (expected https://charts.example.com or oci://ghcr.io/org/charts/my-app)`,
    );
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new UserError(
      'the chart repository URL must not contain credentials: put them in a Secret and name it with --chart-secret-ref',
    );
  }
  return url;
}

function chartName(value: string): string {
  if (!CHART_NAME.test(value) || value.length > 250) {
    throw new UserError(`invalid chart name: ${quote(value)} (letters, digits, ".", "_" and "-")`);
  }
  return value;
}

function chartVersion(value: string): string {
  const version = value.trim();
  if (version === '' || CONTROL.test(version) || version.length > 250) {
    throw new UserError(
      `invalid chart version: ${quote(value)} (a version, a semver range such as ">=1.2.0 <2", or a git branch or tag)`,
    );
  }
  return version;
}

function secretRef(value: string): string {
  if (!DNS_SUBDOMAIN.test(value) || value.length > 253) {
    throw new UserError(
      `invalid secret name: ${quote(value)} (a DNS-1123 name: lower-case letters, digits, "-" and ".", at most 253)`,
    );
  }
  return value;
}

function imageRepository(value: string): string {
  if (value.length > 255 || !IMAGE_REPOSITORY.test(value)) {
    const hint = /^[a-z]+:\/\//.test(value)
      ? 'without a scheme'
      : /@|:[^/]*$/.test(value)
        ? 'without a tag or digest: DAG sets the tag'
        : 'lower-case, e.g. ghcr.io/org/my-app';
    throw new UserError(`invalid image repository: ${quote(value)} (${hint})`);
  }
  return value;
}

function imageTagFormat(value: string): string {
  const literal = value.replace(TAG_FIELD, '');
  if (/[{}]/.test(literal) || literal === value) {
    throw new UserError(
      `invalid image tag format: ${quote(value)} (it may use {{sha}}, {{shortSha}} and {{branch}}, and needs at least one, e.g. {{branch}}-{{shortSha}})`,
    );
  }
  // The characters around the fields must make a valid tag: try it on a sample commit.
  renderImageTag(value, { sha: '0'.repeat(40), shortSha: '0'.repeat(7), branch: 'main' });
  return value;
}

function appPatch(options: SetOptions): AppPatch {
  const patch: AppPatch = {
    chartSource: options.chartSource === undefined ? undefined : chartSource(options.chartSource),
    chartPath:
      options.chartPath === undefined
        ? undefined
        : repoFolder('chart path', 'chart or deploy/chart', options.chartPath),
    chartRepoUrl: optional(options.chartRepoUrl, chartRepoUrl),
    chartName: optional(options.chartName, chartName),
    chartVersion: optional(options.chartVersion, chartVersion),
    chartSecretRef: optional(options.chartSecretRef, secretRef),
    imageRepository: optional(options.imageRepository, imageRepository),
    imageTagFormat:
      options.imageTagFormat === undefined ? undefined : imageTagFormat(options.imageTagFormat),
    valuesPath:
      options.valuesPath === undefined
        ? undefined
        : repoFolder('values path', 'deploy', options.valuesPath),
    autoDiff: options.autoDiff,
  };
  if (Object.values(patch).every((value) => value === undefined)) {
    throw new UserError('nothing to set: give at least one setting (see: dag apps set --help)');
  }
  return patch;
}

/** `chart-source=helm, chart-version=(default)`: what a patch set, as the options are named. */
function describePatch(patch: AppPatch): string {
  return Object.entries(patch)
    .filter(([, value]) => value !== undefined)
    .map(([field, value]) => {
      const option = field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      return `${option}=${value === null ? '(default)' : quote(String(value))}`;
    })
    .join(', ');
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
    .command('set')
    .description(
      'change how an app is deployed (chart, image and values; an empty value resets) and previewed',
    )
    .argument('<app>', 'id, repository URL or name')
    .option(
      '--chart-source <source>',
      "where the chart comes from: 'app-repo' (default), 'helm', 'oci' or 'git'",
    )
    .option(
      '--chart-path <path>',
      "chart folder in the app or chart git repository (default 'chart')",
    )
    .option(
      '--chart-repo-url <url>',
      'helm: https:// repository URL; oci: oci:// chart URL; git: repository URL',
    )
    .option('--chart-name <name>', 'helm: the chart name in the repository')
    .option('--chart-version <version>', 'helm/oci: version or semver range; git: branch or tag')
    .option(
      '--chart-secret-ref <name>',
      'Secret in the namespace with the chart source credentials',
    )
    .option(
      '--image-repository <repo>',
      'image to deploy, without tag (default: ghcr.io/<owner>/<repo> or registry.gitlab.com/<path>)',
    )
    .option(
      '--image-tag-format <format>',
      "image tag from {{sha}}, {{shortSha}} and {{branch}} (default '{{sha}}')",
    )
    .option(
      '--values-path <path>',
      "folder of values.yaml and values-<env>.yaml (default 'deploy')",
    )
    .option(
      '--auto-diff',
      'post the diff preview when a pull request opens, reopens or is pushed to (default)',
    )
    .option('--no-auto-diff', 'post the diff preview only on /diff')
    .action(async (ref: string, options: SetOptions) => {
      const patch = appPatch(options);
      const app = await withContext(cli, ({ store }) => store.updateApp(ref, patch));
      cli.print(`updated app ${app.id} (${app.name}): ${describePatch(patch)}`);
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
