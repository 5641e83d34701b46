// The shapes the promotion workflow shares between its parts: the job, its dependencies, its
// outcome, and one route with its app and environments.

import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type { ChangeRequests, ForgePlatform, ThreadKind } from '../platform/types.ts';
import type {
  ConfigStore,
  DeployRecord,
  DeployStore,
  PromotionRoute,
  PromotionStore,
} from '../store/types.ts';
import type { ForgeUrls } from '../util/commit-url.ts';
import type { BundleTools } from './deploy.ts';
import type { DeployRequest } from './deploy-plan.ts';
import type { IacReader, PreviewDeps } from './diff.ts';
import type { ChangedFile } from './promotion-body.ts';
import type { App, Environment, Iac } from '../model.ts';

export type IacTarget = { url: string; token: string | null; branch: string | null };

/** DAG's own branches in IAC repositories (src/iac's IacWorkspace fits). */
export interface IacBranches extends IacReader {
  /** Several folders at one tip of the branch. */
  readFolders(
    target: IacTarget,
    paths: string[],
  ): Promise<{ branch: string; head: string; folders: Record<string, string>[] }>;
  publishBranch(
    target: IacTarget,
    head: string,
    changes: { path: string; files: Record<string, string>; message: string }[],
    options: { author: { name: string; email: string }; expectedHead: string | null },
  ): Promise<
    | { status: 'nothing'; base: string }
    | { status: 'pushed' | 'up-to-date'; base: string; head: string; files: ChangedFile[] }
    | { status: 'foreign'; base: string; remoteHead: string }
  >;
  deleteBranch(
    target: IacTarget,
    head: string,
    expectedHead: string | null,
  ): Promise<'deleted' | 'absent' | 'foreign'>;
}

/** Where a promotion pull request lives, and the provider API to reach it. */
export type ChangeRequestHost = { platform: ChangeRequests; repo: RepoRef };

/** The data of a promotion job. */
export type PromotionRequest = {
  routeId: number;
  /** The app repository: compare, replies, and the target's deployment after the merge. */
  appRepo: RepoRef;
  origin:
    | {
        kind: 'command';
        number: number;
        /** Where the /promote was: a pull (merge) request, or an issue (absent: a request). */
        thread?: ThreadKind | undefined;
        commentId: number;
        author: string;
      }
    | { kind: 'deploy'; sha: string }
    | { kind: 'merged'; repoUrl: string; number: number };
  /** The webhook delivery this promotion goes back to: its job's log lines carry the id. */
  deliveryId?: string | undefined;
};

export type PromoteDeps = PreviewDeps & {
  store: ConfigStore & DeployStore & PromotionStore;
  /** The app repository's provider: deployments, requests, and the replies to a /promote. */
  appPlatform: ForgePlatform;
  /** The provider API of an IAC repository: the App's installation, else the IAC's token. */
  iacHost: (iac: Iac, token: string | null) => Promise<ChangeRequestHost>;
  iac: IacBranches;
  tools: BundleTools;
  author: { name: string; email: string };
  log: Logger;
  /** Scrubs secrets from text shown to users. */
  mask: (text: string) => string;
  /** The configured GitLab and GitHub Enterprise, for links to IAC commits. */
  forges?: ForgeUrls | undefined;
  /**
   * Whether monitoring follows the target environment's rollout: then the deploy a merged
   * promotion records stays in progress until the cluster runs it (rollout-report.ts).
   */
  awaitsRollout?: ((env: Environment) => Promise<boolean>) | undefined;
  /** The merge recorded the target's deploy (its rollout is followed, its card updated). */
  onTargetDeployed?:
    ((env: Environment, record: DeployRecord, request: DeployRequest) => Promise<void>) | undefined;
  /** The source environment's rollout as cluster monitoring saw it (the body shows it). */
  health?: ((environmentId: number) => Promise<SourceHealth>) | undefined;
};

/** How the source environment runs, as the promotion body shows it. */
export type SourceHealth = {
  phase: 'unknown' | 'progressing' | 'healthy' | 'failed' | 'not-observed';
  liveCommit: string | null;
  since: string | null;
  reason: string | null;
};

export type PromotionOutcome =
  | { status: 'opened' | 'updated'; number: number; url: string }
  | { status: 'nothing'; reason: string; closed?: { number: number; url: string } | undefined }
  | { status: 'hands-off'; number: number; url: string }
  | { status: 'merged'; number: number; url: string }
  | { status: 'refused'; reason: string };

/** A route with its app and environments, as a promotion works on it. */
export type Route = { route: PromotionRoute; app: App; from: Environment; to: Environment };
