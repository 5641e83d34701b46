import { UserError } from '../errors.ts';
import type { PlatformFor } from '../platform/factory.ts';
import { appRepoRef } from '../util/repo-url.ts';
import type { ProposalSource } from './fix-proposals.ts';
import type { App } from '../model.ts';

/**
 * An app repository as the fix-proposal pipeline reaches it, for the server and for `dag mcp`
 * alike: its platform with the pull-request capabilities a fix needs, and the environment
 * branch's tip to verify against.
 */
export function appRepoAccess(platformFor: PlatformFor) {
  const writable = async (app: App) => {
    const repo = appRepoRef(app);
    return { repo, platform: await platformFor(repo) };
  };
  const source: ProposalSource = async (app, environment) => {
    const { repo, platform } = await writable(app);
    const sha = await platform.branchHead(repo, environment.branch);
    if (!sha) {
      throw new UserError(
        `branch ${environment.branch} of ${repo.fullName} does not exist: nothing to fix`,
      );
    }
    return {
      reader: {
        readFile: (path) => platform.readFile(repo, sha, path),
        readFolder: (path) => platform.readFolder(repo, sha, path),
      },
      tip: { sha, branch: environment.branch, commitUrl: `${repo.webUrl}/commit/${sha}` },
    };
  };
  return { writable, source };
}
