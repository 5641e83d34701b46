import { ProbotOctokit, type Probot } from 'probot';
import { ConfigError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import { repoKey } from '../util/repo-url.ts';
import { GitHubPlatform } from './github/github-platform.ts';
import { observedOctokit } from './github/observed-octokit.ts';
import { GitLabPlatform } from './gitlab/gitlab-platform.ts';
import { httpStatus, providerError } from './http-errors.ts';
import type { ProviderRequestObserver } from './request-metrics.ts';
import type { ForgePlatform } from './types.ts';

/** Pull requests in an IAC repository, and who opens them: the GitHub App or the IAC's token. */
export type IacPlatform = { platform: ForgePlatform; repo: RepoRef; via: 'app' | 'token' };

export type IacPlatformFor = (
  iac: { name: string; repoUrl: string; gitProvider: 'github' | 'gitlab' | null },
  token: string | null,
) => Promise<IacPlatform>;

/** The host of a settings URL, in repoKey's form (lower case, no `www.`). */
function hostOf(url: string | undefined): string | undefined {
  return url ? new URL(url).hostname.toLowerCase().replace(/^www\./, '') : undefined;
}

/** The repository's path with its case as written (repoKey lower-cases it). */
function pathAsWritten(url: string, key: string): string {
  const path = key.slice(key.indexOf('/') + 1);
  const at = url.toLowerCase().lastIndexOf(path);
  return at < 0 ? path : url.slice(at, at + path.length);
}

/** The URL without user and password (`git@host:path` keeps its `git@`, no credential). */
function withoutCredentials(url: string): string {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  const parsed = new URL(url);
  parsed.username = '';
  parsed.password = '';
  return parsed.toString();
}

/**
 * Builds the ChangeRequests of an IAC repository. GitHub: through the GitHub App when it is
 * installed on the repository, else with the IAC's token. GitLab: with the IAC's token, else
 * the bot token (only on the GitLab DAG is configured for: the bot token goes nowhere else).
 * Tokens never appear in errors.
 */
export function iacPlatformFactory(options: {
  probot?: Probot | undefined;
  /** GitHub Enterprise's API (`https://<GHE_HOST>/api/v3`); unset for github.com. */
  githubApiUrl?: string | undefined;
  gitlab?: { url: string; token: string | undefined } | undefined;
  /** `false` turns off the token Octokit's throttling (tests against mocks). */
  throttle?: boolean | undefined;
  /** Hears each API request made with an IAC's token (the App's: see createProbot). */
  onRequest?: ProviderRequestObserver | undefined;
}): IacPlatformFor {
  const TokenOctokit = observedOctokit(ProbotOctokit, options.onRequest);
  const githubHost = hostOf(options.githubApiUrl) ?? 'github.com';
  const gitlabHost = hostOf(options.gitlab?.url);

  return async (iac, token) => {
    const key = repoKey(iac.repoUrl);
    if (!key) throw new ConfigError(`IAC ${iac.name}: its repository URL is not one DAG can read`);
    const host = key.slice(0, key.indexOf('/'));
    const path = pathAsWritten(iac.repoUrl, key);
    // An ssh clone URL names no web address: the provider's is https on the same host.
    const origin = /^https?:\/\//i.test(iac.repoUrl)
      ? new URL(iac.repoUrl).origin
      : `https://${host}`;
    const provider =
      iac.gitProvider ??
      (host === 'github.com' || host === githubHost
        ? 'github'
        : host === 'gitlab.com' || host === gitlabHost
          ? 'gitlab'
          : undefined);
    if (!provider) {
      throw new ConfigError(
        `IAC ${iac.name}: DAG cannot tell whether ${host} is GitHub or GitLab; set the IAC's provider (dag iacs add --provider github|gitlab, or the column iacs.git_provider)`,
      );
    }
    const repo: RepoRef = {
      provider,
      fullName: path,
      urls: [withoutCredentials(iac.repoUrl)],
      webUrl: `${origin}/${path}`,
    };

    if (provider === 'github') {
      // The App lives on one GitHub: github.com, or the configured GitHub Enterprise.
      if (options.probot && host === githubHost) {
        const [owner = '', name = ''] = path.split('/');
        let installationId: number | undefined;
        try {
          const app = await options.probot.auth();
          const { data } = await app.request('GET /repos/{owner}/{repo}/installation', {
            owner,
            repo: name,
          });
          installationId = data.id;
        } catch (error) {
          if (httpStatus(error) !== 404) {
            throw providerError('GitHub', `looking up the App's installation on ${path}`, error);
          }
        }
        if (installationId !== undefined) {
          const octokit = await options.probot.auth(installationId);
          return {
            platform: new GitHubPlatform(octokit),
            repo: { ...repo, installationId },
            via: 'app',
          };
        }
      }
      if (!token) {
        throw new ConfigError(
          `IAC ${iac.name}: DAG cannot open pull requests in ${path}: install the GitHub App on it, or give the IAC an access token allowed to write pull requests`,
        );
      }
      // github.com's API is Octokit's default; a GitHub Enterprise server's is under /api/v3.
      const baseUrl =
        host === githubHost
          ? options.githubApiUrl
          : host === 'github.com'
            ? undefined
            : `${origin}/api/v3`;
      const octokit = new TokenOctokit({
        auth: { token },
        ...(baseUrl ? { baseUrl } : {}),
        ...(options.throttle === false ? { throttle: { enabled: false } } : {}),
      });
      return { platform: new GitHubPlatform(octokit), repo, via: 'token' };
    }

    const gitlab = host === gitlabHost ? options.gitlab : undefined;
    const gitlabToken = token || gitlab?.token;
    if (!gitlabToken) {
      throw new ConfigError(
        `IAC ${iac.name}: DAG cannot open merge requests in ${path}: give the IAC an access token with the api scope${gitlab ? ', or set GITLAB_TOKEN' : ''}`,
      );
    }
    return {
      platform: new GitLabPlatform({
        url: gitlab?.url ?? origin,
        token: gitlabToken,
        onRequest: options.onRequest,
      }),
      repo,
      via: 'token',
    };
  };
}
