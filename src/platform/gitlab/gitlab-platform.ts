import { Gitlab } from '@gitbeaker/core';
import type { RepoRef } from '../../events/types.ts';
import { readListedFolder } from '../folder.ts';
import { httpStatus, providerError } from '../http-errors.ts';
import type { DeploymentState, Platform } from '../types.ts';
import { backoffRequester, type BackoffOptions } from './requester.ts';

// A new GitLab deployment is `created`, which is DAG's `queued`.
const GITLAB_STATUS: Record<DeploymentState, 'created' | 'running' | 'success' | 'failed'> = {
  queued: 'created',
  in_progress: 'running',
  success: 'success',
  failure: 'failed',
};

const COMMIT_STATUS: Record<DeploymentState, 'pending' | 'running' | 'success' | 'failed'> = {
  queued: 'pending',
  in_progress: 'running',
  success: 'success',
  failure: 'failed',
};

function project(repo: RepoRef): number | string {
  return repo.projectId ?? repo.fullName;
}

/** GitLab through its REST API (gitbeaker) with DAG's bot token. */
export class GitLabPlatform implements Platform {
  readonly provider = 'gitlab' as const;
  readonly #api: InstanceType<typeof Gitlab>;

  constructor(options: { url: string; token: string; backoff?: BackoffOptions }) {
    this.#api = new Gitlab({
      host: options.url,
      token: options.token,
      requesterFn: backoffRequester(options.backoff),
      queryTimeout: 30_000,
    });
  }

  async readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined> {
    try {
      const raw: unknown = await this.#api.RepositoryFiles.showRaw(project(repo), path, ref);
      if (typeof raw === 'string') return raw;
      if (raw instanceof Blob) return raw.text();
      return JSON.stringify(raw);
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitLab', `reading ${path} at ${ref.slice(0, 7)}`, error);
    }
  }

  async readFolder(
    repo: RepoRef,
    ref: string,
    path: string,
  ): Promise<Record<string, string> | undefined> {
    let entries: { path: string; type: string }[];
    try {
      entries = (await this.#api.Repositories.allRepositoryTrees(project(repo), {
        path,
        ref,
        recursive: true,
        perPage: 100,
      })) as { path: string; type: string }[];
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitLab', `listing ${path} at ${ref.slice(0, 7)}`, error);
    }
    const blobs = entries.filter((e) => e.type === 'blob');
    return readListedFolder(path, blobs, (file) => this.readFile(repo, ref, file));
  }

  async createDeployment(
    repo: RepoRef,
    input: { sha: string; ref: string; environment: string; description: string },
  ): Promise<string> {
    try {
      const deployment = await this.#api.Deployments.create(
        project(repo),
        input.environment,
        input.sha,
        input.ref,
        false,
      );
      return String((deployment as { id: number }).id);
    } catch (error) {
      throw providerError('GitLab', `creating the ${input.environment} deployment`, error);
    }
  }

  async setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: { state: DeploymentState; description: string; logUrl?: string | undefined },
  ): Promise<void> {
    const status = GITLAB_STATUS[update.state];
    try {
      // GitLab deployments carry no message: a commit status named after the environment
      // carries the description (and the failure reason) and links to the IAC commit.
      await this.#api.Commits.editStatus(
        project(repo),
        deployment.sha,
        COMMIT_STATUS[update.state],
        {
          name: `dag/deploy/${deployment.environment}`,
          ref: deployment.ref,
          description: update.description.slice(0, 255),
          ...(update.logUrl ? { targetUrl: update.logUrl } : {}),
        },
      );
      if (status === 'created') return;
      await this.#api.Deployments.edit(project(repo), Number(deployment.id), status);
    } catch (error) {
      throw providerError('GitLab', `reporting the ${deployment.environment} deployment`, error);
    }
  }
}
