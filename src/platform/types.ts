import type { RepoRef } from '../events/types.ts';

export type DeploymentState = 'queued' | 'in_progress' | 'success' | 'failure';

/**
 * What workflows need from a git hosting provider, the same for GitHub and GitLab.
 * Instances are built per event (they carry that event's credentials), never shared globally.
 */
export interface Platform {
  readonly provider: 'github' | 'gitlab';
  /** A file's text at a commit, or undefined when it does not exist. */
  readFile(repo: RepoRef, ref: string, path: string): Promise<string | undefined>;
  /** Every file under a folder at a commit (paths relative to it), or undefined if no folder. */
  readFolder(repo: RepoRef, ref: string, path: string): Promise<Record<string, string> | undefined>;
  /** Creates the provider's deployment record for an environment; returns its id. */
  createDeployment(
    repo: RepoRef,
    input: { sha: string; ref: string; environment: string; description: string },
  ): Promise<string>;
  setDeploymentState(
    repo: RepoRef,
    deployment: { id: string; sha: string; ref: string; environment: string },
    update: { state: DeploymentState; description: string; logUrl?: string | undefined },
  ): Promise<void>;
}

/** Limits for reading a chart folder through a provider API. */
export const FOLDER_LIMITS = { files: 200, bytes: 2 * 1024 * 1024 } as const;
