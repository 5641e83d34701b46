import type { ProbotOctokit } from 'probot';
import type { RepoRef } from '../../events/types.ts';
import { UserError } from '../../errors.ts';
import { httpStatus, providerError } from '../http-errors.ts';
import { FOLDER_LIMITS, type DeploymentState, type Platform } from '../types.ts';

type Rest = Pick<InstanceType<typeof ProbotOctokit>, 'request'>;

function split(repo: RepoRef): { owner: string; repo: string } {
  const [owner, name] = repo.fullName.split('/');
  if (!owner || !name) throw new UserError(`not a GitHub repository name: ${repo.fullName}`);
  return { owner, repo: name };
}

const GITHUB_STATE: Record<DeploymentState, string> = {
  queued: 'queued',
  in_progress: 'in_progress',
  success: 'success',
  failure: 'failure',
};

/** GitHub through an installation's Octokit (Probot's: retries and throttling built in). */
export class GitHubPlatform implements Platform {
  readonly provider = 'github' as const;
  readonly #octokit: Rest;

  constructor(octokit: Rest) {
    this.#octokit = octokit;
  }

  async readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined> {
    try {
      const response = await this.#octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
        ...split(repo),
        path,
        ref,
        headers: { accept: 'application/vnd.github.raw+json' },
      });
      const data: unknown = response.data;
      if (typeof data === 'string') return data;
      if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
      throw new UserError(`${path} in ${repo.fullName} is a folder, not a file`);
    } catch (error) {
      if (httpStatus(error) === 404) return undefined;
      throw providerError('GitHub', `reading ${path} at ${ref.slice(0, 7)}`, error);
    }
  }

  async readFolder(
    repo: RepoRef,
    ref: string,
    path: string,
  ): Promise<Record<string, string> | undefined> {
    let tree: { path?: string; type?: string; size?: number }[];
    try {
      const response = await this.#octokit.request(
        'GET /repos/{owner}/{repo}/git/trees/{tree_sha}',
        { ...split(repo), tree_sha: ref, recursive: '1' },
      );
      tree = (response.data as { tree: typeof tree }).tree;
    } catch (error) {
      throw providerError('GitHub', `listing files at ${ref.slice(0, 7)}`, error);
    }
    const prefix = `${path.replace(/\/+$/, '')}/`;
    const blobs = tree.filter((e) => e.type === 'blob' && e.path?.startsWith(prefix));
    if (blobs.length === 0) return undefined;
    if (blobs.length > FOLDER_LIMITS.files) {
      throw new UserError(`${path} has more than ${FOLDER_LIMITS.files} files`);
    }
    const total = blobs.reduce((n, b) => n + (b.size ?? 0), 0);
    if (total > FOLDER_LIMITS.bytes) throw new UserError(`${path} is larger than 2 MiB`);
    const files: Record<string, string> = {};
    for (const blob of blobs) {
      const file = blob.path as string;
      files[file.slice(prefix.length)] = (await this.readFile(repo, ref, file)) ?? '';
    }
    return files;
  }

  async createDeployment(
    repo: RepoRef,
    input: { sha: string; ref: string; environment: string; description: string },
  ): Promise<string> {
    try {
      const response = await this.#octokit.request('POST /repos/{owner}/{repo}/deployments', {
        ...split(repo),
        ref: input.sha,
        environment: input.environment,
        description: input.description.slice(0, 140),
        // Without these GitHub merges the default branch in or waits for every status check.
        auto_merge: false,
        required_contexts: [],
        production_environment: /^prod(uction)?$/.test(input.environment),
        payload: { dag: { ref: input.ref } },
      });
      const id = (response.data as { id?: number }).id;
      if (typeof id !== 'number') throw new Error('GitHub did not return a deployment id');
      return String(id);
    } catch (error) {
      throw providerError('GitHub', `creating the ${input.environment} deployment`, error);
    }
  }

  async setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: { state: DeploymentState; description: string; logUrl?: string | undefined },
  ): Promise<void> {
    try {
      await this.#octokit.request(
        'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
        {
          ...split(repo),
          deployment_id: Number(deployment.id),
          state: GITHUB_STATE[update.state] as 'queued',
          description: update.description.slice(0, 140),
          ...(update.logUrl ? { log_url: update.logUrl } : {}),
          auto_inactive: update.state === 'success',
        },
      );
    } catch (error) {
      throw providerError('GitHub', `reporting the ${deployment.environment} deployment`, error);
    }
  }
}
