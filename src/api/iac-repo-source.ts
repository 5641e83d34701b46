import { ConfigError, UserError } from '../errors.ts';
import { repoFolder } from '../fix/paths.ts';
import type { RenderedFolder, VerifyInput, VerifyReader } from '../fix/verify.ts';
import type { IacPlatformFor } from '../platform/iac-platform.ts';
import type { ConfigStore } from '../store/types.ts';
import { repoKey } from '../util/repo-url.ts';
import type { App, Environment, Iac } from '../model.ts';

/**
 * An environment's IAC repository as the fix-proposal pipeline reaches it, for a change outside
 * the folders DAG renders (`repository: 'iac'`): its platform with the pull-request capabilities
 * a fix needs (the GitHub App or the IAC's token, as promotions use it), the IAC branch's tip to
 * verify against, and every folder DAG renders into that repository (any app's environments).
 */

/** The IAC repository at the environment's IAC branch tip, as verification reads it. */
export type IacProposalSource = (
  app: App,
  environment: Environment,
) => Promise<{
  reader: VerifyReader;
  tip: VerifyInput['tip'];
  repo: string;
  rendered: RenderedFolder[];
}>;

export type IacRepoStore = Pick<
  ConfigStore,
  'getIac' | 'iacToken' | 'listIacs' | 'listApps' | 'listEnvironments'
>;

export function iacRepoAccess(
  iacPlatformFor: IacPlatformFor,
  store: IacRepoStore,
  /** The name of the repository's default branch (an environment's IAC branch left unset). */
  defaultBranch: (target: { url: string; token: string | null }) => Promise<string>,
) {
  const writable = async (environment: Environment) => {
    const iac = await store.getIac(environment.iacId);
    if (!iac) throw new ConfigError(`environment ${environment.name} has no IAC repository`);
    const token = await store.iacToken(iac.id);
    const { platform, repo } = await iacPlatformFor(iac, token);
    const branch = environment.iacBranch ?? (await defaultBranch({ url: iac.repoUrl, token }));
    return {
      iac,
      repo,
      branch,
      platform,
    };
  };
  const source: IacProposalSource = async (_app, environment) => {
    const { iac, repo, branch, platform } = await writable(environment);
    const sha = await platform.branchHead(repo, branch);
    if (!sha) {
      throw new UserError(`branch ${branch} of ${repo.fullName} does not exist: nothing to fix`);
    }
    return {
      reader: {
        readFile: (path) => platform.readFile(repo, sha, path),
        readFolder: (path) => platform.readFolder(repo, sha, path),
      },
      tip: { sha, branch, commitUrl: `${repo.webUrl}/commit/${sha}` },
      repo: repo.fullName,
      rendered: await renderedFolders(store, iac),
    };
  };
  return { writable, source };
}

/** Every folder DAG renders into `iac`'s repository: environments of any IAC with its URL. */
async function renderedFolders(store: IacRepoStore, iac: Iac): Promise<RenderedFolder[]> {
  const key = repoKey(iac.repoUrl);
  const [iacs, apps, environments] = await Promise.all([
    store.listIacs(),
    store.listApps(),
    store.listEnvironments(),
  ]);
  const same = new Set(
    iacs.filter((i) => i.id === iac.id || (key && repoKey(i.repoUrl) === key)).map((i) => i.id),
  );
  return environments
    .filter((env) => same.has(env.iacId))
    .map((env) => ({
      app: apps.find((a) => a.id === env.appId)?.name ?? `app ${env.appId}`,
      environment: env.name,
      folder: repoFolder(env.iacPath),
    }))
    .sort((a, b) => (a.folder < b.folder ? -1 : a.folder > b.folder ? 1 : 0));
}
