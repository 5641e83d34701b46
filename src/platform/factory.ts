import type { Probot } from 'probot';
import type { RepoRef } from '../events/types.ts';
import { ConfigError } from '../errors.ts';
import { GitHubPlatform } from './github/github-platform.ts';
import { httpStatus, providerError } from './http-errors.ts';
import { GitLabPlatform } from './gitlab/gitlab-platform.ts';
import type { ProviderRequestObserver } from './request-metrics.ts';
import type { ForgePlatform } from './types.ts';

export type PlatformFor = (repo: RepoRef) => Promise<ForgePlatform>;

/** The GitHub App's installation on a repository, asked with the App's own credentials. */
async function installationOf(probot: Probot, fullName: string): Promise<number> {
  const [owner = '', repo = ''] = fullName.split('/');
  try {
    const app = await probot.auth();
    const { data } = await app.request('GET /repos/{owner}/{repo}/installation', { owner, repo });
    return data.id;
  } catch (error) {
    if (httpStatus(error) === 404) {
      throw new ConfigError(`the GitHub App is not installed on ${fullName}`);
    }
    throw providerError('GitHub', `looking up the App's installation on ${fullName}`, error);
  }
}

/**
 * Builds the Platform for one event's repository: GitHub through the installation that sent
 * the event (a fresh installation token per call, cached by Probot), GitLab with the bot token.
 */
export function platformFactory(options: {
  probot?: Probot | undefined;
  gitlab?: { url: string; token: string | undefined } | undefined;
  /** Hears each GitLab API request (GitHub's are heard by the Probot's Octokit class). */
  onRequest?: ProviderRequestObserver | undefined;
}): PlatformFor {
  let gitlab: GitLabPlatform | undefined;
  return async (repo) => {
    if (repo.provider === 'github') {
      if (!options.probot) throw new ConfigError('GitHub is not configured (APP_ID, PRIVATE_KEY)');
      // Work a webhook started knows its installation; work queued by `dag deploy` asks GitHub.
      const installationId =
        repo.installationId ?? (await installationOf(options.probot, repo.fullName));
      const octokit = await options.probot.auth(installationId);
      return new GitHubPlatform(octokit);
    }
    if (!options.gitlab?.token) {
      throw new ConfigError(
        'GITLAB_TOKEN is not set: DAG cannot read GitLab projects or report deployments',
      );
    }
    gitlab ??= new GitLabPlatform({
      url: options.gitlab.url,
      token: options.gitlab.token,
      onRequest: options.onRequest,
    });
    return gitlab;
  };
}
