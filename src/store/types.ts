import { z } from 'zod';
import {
  GIT_PROVIDERS,
  HELM_TYPES,
  CHART_SOURCES,
  PERMISSIONS,
  type GitProvider,
  type HelmType,
  type ChartSourceKind,
  type App,
  type Iac,
  type Cluster,
  type Environment,
  type DeployRules,
  type Permission,
} from '../model.ts';

export const DEPLOY_STATES = ['queued', 'in_progress', 'success', 'failure'] as const;
export type DeployState = (typeof DEPLOY_STATES)[number];

/**
 * How a committed deploy's rollout went (monitored environments only): `pending` until the
 * cluster runs the commit healthy, fails to, or a newer commit was committed first.
 */
export const ROLLOUT_OUTCOMES = ['pending', 'healthy', 'failed', 'superseded'] as const;
export type RolloutOutcome = (typeof ROLLOUT_OUTCOMES)[number];

/**
 * One attempt to make an environment run one source commit. A push is attempt 1 (however often
 * delivered); a `/deploy` or `dag deploy` of a commit that ran there before is a new attempt.
 */
export type DeployRecord = {
  id: number;
  environmentId: number;
  sha: string;
  ref: string;
  pusher: string | null;
  /** 1 for the first deploy of this commit to this environment, then 2, 3... */
  attempt: number;
  /** The request that asked for this attempt (`comment:<id>`, `cli:<uuid>`); null for a push. */
  requestKey: string | null;
  state: DeployState;
  providerDeploymentId: string | null;
  /** The last deployment state DAG posted for this attempt. */
  reportedState: DeployState | null;
  /** The IAC commit that holds the release: DAG's own, or the tip that already held it. */
  iacCommit: string | null;
  /** Whether iacCommit is DAG's commit for this deploy (false: the folder held it already). */
  iacChanged: boolean | null;
  /** The IAC branch it went to (the repository's default, resolved). */
  iacBranch: string | null;
  error: string | null;
  /** Null: the deploy ended at its IAC commit (the environment is not monitored). */
  rollout: RolloutOutcome | null;
  /** Why the rollout failed, or what superseded it. */
  rolloutReason: string | null;
  /** The outcome last posted to the provider. */
  rolloutReported: RolloutOutcome | null;
  /** When the rollout reached its outcome. */
  rolloutAt: Date | null;
  updatedAt: Date;
};

/** How a request to deploy a commit was taken (see DeployStore.requestDeploy). */
export type DeployAsk =
  /** A new attempt (or the one this same request made before): its job deploys it. */
  | { status: 'new'; record: DeployRecord }
  /** An attempt of this commit is queued or running already: this request joins it. */
  | { status: 'joined'; record: DeployRecord }
  /** The environment runs this commit already (its latest successful deploy), nothing pending. */
  | { status: 'current'; record: DeployRecord };

export type DeployPatch = Partial<
  Pick<
    DeployRecord,
    | 'state'
    | 'providerDeploymentId'
    | 'iacCommit'
    | 'iacChanged'
    | 'iacBranch'
    | 'error'
    | 'reportedState'
  >
> & {
  /** The deploy's rollout will be followed (its request kept for the report). */
  awaitRollout?: DeployRolloutRequest | undefined;
};

/** What a rollout report needs of the deploy's request (kept with the deploy, rollout_request). */
export const deployRolloutRequest = z.object({
  environmentId: z.number().int(),
  sha: z.string().regex(/^[0-9a-f]{7,64}$/),
  branch: z.string().max(1000),
  pusher: z.string().max(1000),
  commitUrl: z.string().max(2000),
  pullRequest: z.number().int().positive().optional(),
  target: z.object({ iacId: z.number().int(), iacBranch: z.string().max(1000).nullable() }),
  repo: z.object({
    provider: z.enum(['github', 'gitlab']),
    fullName: z.string().min(1).max(1000),
    urls: z.array(z.string().max(2000)).max(10),
    projectId: z.number().int().optional(),
    installationId: z.number().int().optional(),
    webUrl: z.string().max(2000),
  }),
});
export type DeployRolloutRequest = z.infer<typeof deployRolloutRequest>;

/** The deploy records: what makes a deploy idempotent and what it reported. */
export interface DeployStore {
  /**
   * The record of this environment, commit and attempt, created (queued) if it is new. Without
   * an attempt (a push): the commit's latest attempt, or attempt 1 when there is none.
   */
  beginDeploy(input: {
    environmentId: number;
    sha: string;
    ref: string;
    pusher: string | null;
    attempt?: number | undefined;
  }): Promise<DeployRecord>;
  /**
   * A request (`/deploy`, `dag deploy`) to make the environment run a commit: the attempt this
   * request made before, else the commit's pending attempt, else `current` when the environment
   * runs it already, else a new attempt. Atomic against concurrent requests.
   */
  requestDeploy(input: {
    environmentId: number;
    sha: string;
    ref: string;
    pusher: string | null;
    requestKey: string;
  }): Promise<DeployAsk>;
  /**
   * Claims the right to create the attempt's provider deployment: true for exactly one caller
   * while the claim is fresh; a claim older than `staleAfterSeconds` (its holder died between
   * claim and storing the id) can be taken over, and `takenOver` says so.
   */
  claimDeployment(
    id: number,
    staleAfterSeconds: number,
    /** Who claims (a job id): a claim of the same owner is taken over at once (its rerun). */
    owner?: string,
  ): Promise<{ claimed: false } | { claimed: true; takenOver: boolean }>;
  /** Gives up a claim whose holder could not create the deployment (others may claim at once). */
  releaseDeploymentClaim(id: number): Promise<void>;
  /**
   * Records that `state` was posted, when it is further along than the last state posted
   * (queued, in_progress, then success or failure): false when it is not.
   */
  markReported(id: number, state: DeployState): Promise<boolean>;
  getDeploy(id: number): Promise<DeployRecord | undefined>;
  updateDeploy(id: number, patch: DeployPatch): Promise<DeployRecord>;
  listDeploys(options?: { environmentId?: number; limit?: number }): Promise<DeployRecord[]>;
}

export type NewApp = { gitProvider: GitProvider; repoUrl: string; name?: string | undefined };
/**
 * A change to how an app's release is built: an absent (undefined) field is kept, null clears a
 * nullable one (back to its default).
 */
export type AppPatch = {
  chartSource?: ChartSourceKind | undefined;
  chartPath?: string | undefined;
  chartRepoUrl?: string | null | undefined;
  chartName?: string | null | undefined;
  chartVersion?: string | null | undefined;
  chartSecretRef?: string | null | undefined;
  imageRepository?: string | null | undefined;
  imageTagFormat?: string | undefined;
  valuesPath?: string | undefined;
  /** Post the diff preview by itself when a pull request opens or moves. */
  autoDiff?: boolean | undefined;
};
/**
 * A change to an environment's /deploy rules: an absent (undefined) rule is kept, null puts it
 * back to DAG's default (on for production and prod, off otherwise).
 */
export type DeployRulesPatch = { [K in keyof DeployRules]?: boolean | null | undefined };
/** A change to an environment: absent fields are kept; a null reconciledBranch clears it. */
export type EnvironmentPatch = {
  rules?: DeployRulesPatch | undefined;
  reconciledBranch?: string | null | undefined;
};
export type NewIac = {
  name: string;
  repoUrl: string;
  accessToken?: string | undefined;
  gitProvider?: GitProvider | undefined;
};
export type NewCluster = {
  name: string;
  apiUrl: string;
  serviceAccountToken?: string | undefined;
  caCert?: string | undefined;
};
export type NewEnvironment = {
  app: string;
  branch: string;
  iac: string;
  iacPath: string;
  cluster: string;
  helmType: HelmType;
  helmNamespace?: string | undefined;
  helmName?: string | undefined;
  iacBranch?: string | undefined;
  /** The branch the cluster reconciles, when not iacBranch. */
  reconciledBranch?: string | undefined;
  name?: string | undefined;
  /** Absent rules keep DAG's default. */
  rules?: DeployRulesPatch | undefined;
};

export type SecretsReport = {
  sealed: number;
  plaintext: number;
  /** Sealed with a key that is configured but not the current one. */
  oldKey: number;
  /** Sealed with a key DAG does not have: cannot be opened. */
  unknownKey: number;
  /** Where the `unknownKey` values are, and the key each names (never the value). */
  unreadable: { table: string; column: string; id: number; keyId: string | undefined }[];
};

/** Configuration DAG reads and operators edit (CLI or plain SQL). */
export interface ConfigStore {
  listApps(): Promise<App[]>;
  /** By id, repo URL, or short name. */
  findApp(ref: string): Promise<App | undefined>;
  addApp(input: NewApp): Promise<App>;
  /**
   * Changes an app's chart, image and values settings; refuses a combination a deploy could not
   * use (e.g. chart source 'helm' without a chart name) before writing anything.
   */
  updateApp(ref: string, patch: AppPatch): Promise<App>;
  removeApp(ref: string): Promise<App>;

  listIacs(): Promise<Iac[]>;
  findIac(ref: string): Promise<Iac | undefined>;
  addIac(input: NewIac): Promise<Iac>;
  removeIac(ref: string): Promise<Iac>;
  /** The decrypted token; a plaintext one found in the row is sealed first. */
  iacToken(id: number): Promise<string | null>;

  listClusters(): Promise<Cluster[]>;
  findCluster(ref: string): Promise<Cluster | undefined>;
  addCluster(input: NewCluster): Promise<Cluster>;
  removeCluster(ref: string): Promise<Cluster>;
  clusterToken(id: number): Promise<string | null>;

  listEnvironments(appRef?: string): Promise<Environment[]>;
  /** The app whose repository is any of these URLs (normalized), if one is configured. */
  findAppByRepoUrls(urls: string[]): Promise<App | undefined>;
  getEnvironment(id: number): Promise<Environment | undefined>;
  getApp(id: number): Promise<App | undefined>;
  getIac(id: number): Promise<Iac | undefined>;
  getCluster(id: number): Promise<Cluster | undefined>;
  addEnvironment(input: NewEnvironment): Promise<Environment>;
  removeEnvironment(appRef: string, name: string): Promise<Environment>;
  /** Changes who may /deploy a pull request to the environment, or its reconciled branch. */
  setEnvironment(appRef: string, name: string, patch: EnvironmentPatch): Promise<Environment>;

  /** Seals plaintext secrets and reseals those under an old key; names unnamed environments. */
  normalize(): Promise<{ sealed: number; resealed: number; named: number }>;
  secretsReport(): Promise<SecretsReport>;
}

// Rows as they come from the database: validated, since operators write them with plain SQL.
const timestamp = z.coerce.date();
export const appRow = z.object({
  id: z.number().int(),
  git_provider: z.enum(GIT_PROVIDERS),
  repo_url: z.string().min(1),
  name: z.string().nullable(),
  chart_source: z.enum(CHART_SOURCES),
  chart_path: z.string().min(1),
  chart_repo_url: z.string().nullable(),
  chart_name: z.string().nullable(),
  chart_version: z.string().nullable(),
  chart_secret_ref: z.string().nullable(),
  image_repository: z.string().nullable(),
  image_tag_format: z.string().min(1),
  values_path: z.string().min(1),
  auto_diff: z.boolean(),
  created_at: timestamp,
});
export const deployRow = z.object({
  id: z.coerce.number().int(),
  environment_id: z.number().int(),
  sha: z.string(),
  ref: z.string(),
  pusher: z.string().nullable(),
  attempt: z.number().int(),
  request_key: z.string().nullable(),
  state: z.enum(DEPLOY_STATES),
  provider_deployment_id: z.string().nullable(),
  reported_state: z.enum(DEPLOY_STATES).nullable(),
  iac_commit: z.string().nullable(),
  iac_changed: z.boolean().nullable(),
  iac_branch: z.string().nullable(),
  error: z.string().nullable(),
  rollout: z.enum(ROLLOUT_OUTCOMES).nullable(),
  rollout_reason: z.string().nullable(),
  rollout_reported: z.enum(ROLLOUT_OUTCOMES).nullable(),
  rollout_at: timestamp.nullable(),
  updated_at: timestamp,
});
export const iacRow = z.object({
  id: z.number().int(),
  name: z.string().min(1),
  repo_url: z.string().min(1),
  git_provider: z.enum(GIT_PROVIDERS).nullable(),
  access_token: z.string().nullable(),
  created_at: timestamp,
});
export const clusterRow = z.object({
  id: z.number().int(),
  name: z.string().min(1),
  api_url: z.string().min(1),
  service_account_token: z.string().nullable(),
  ca_cert: z.string().nullable(),
  created_at: timestamp,
});
export const environmentRow = z.object({
  id: z.number().int(),
  app_id: z.number().int(),
  name: z.string().nullable(),
  branch: z.string().min(1),
  iac_id: z.number().int(),
  iac_path: z.string().min(1),
  cluster_id: z.number().int(),
  helm_type: z.enum(HELM_TYPES),
  helm_namespace: z.string().nullable(),
  helm_name: z.string().nullable(),
  iac_branch: z.string().nullable(),
  reconciled_branch: z.string().nullable().default(null),
  deploy_requires_approval: z.boolean().nullable(),
  deploy_requires_green_checks: z.boolean().nullable(),
  deploy_only_from_branch: z.boolean().nullable(),
  created_at: timestamp,
});

/**
 * How a promotion moves a release from one environment to the next:
 * - `folder`: DAG renders the source environment's deployed commit with the target's values on
 *   its own branch of the target's IAC repository, and opens a PR into the target's IAC branch;
 * - `iac-branch`: a PR from the source's IAC branch into the target's (same IAC repository);
 * - `app-branch`: a PR from the source's app branch into the target's, in the app repository
 *   (the merge is a push, which deploys as usual).
 */
export const PROMOTION_STRATEGIES = ['folder', 'iac-branch', 'app-branch'] as const;
export type PromotionStrategy = (typeof PROMOTION_STRATEGIES)[number];

/** Which environment promotes to which. */
export type PromotionRoute = {
  id: number;
  appId: number;
  fromEnvironmentId: number;
  toEnvironmentId: number;
  /**
   * The stored strategy, or when the row leaves it NULL: `iac-branch` when both environments
   * live in one IAC repository on different branches, else `folder`.
   */
  strategy: PromotionStrategy;
  /** The row leaves the strategy NULL: `strategy` is the inferred one. */
  strategyInferred: boolean;
  /** Open or update the promotion after every successful deploy to the source environment. */
  automatic: boolean;
  /**
   * The least permission on the app repository a /promote needs (default resolved: `maintain`
   * into production or prod, `write` otherwise).
   */
  requiredPermission: Permission;
  createdAt: Date;
};

export const PROMOTION_STATES = ['open', 'closed', 'merged'] as const;
export type PromotionState = (typeof PROMOTION_STATES)[number];

/**
 * DAG's promotion pull request of a route (at most one open per route). An open record without
 * a number is a `folder` promotion whose branch DAG pushed (pushedHead) before the pull request
 * was opened or recorded: the next run opens or finds it (see PromotionPullRequest).
 */
export type PromotionRecord = {
  id: number;
  routeId: number;
  /** The repository the pull request lives in (IAC or app repository). */
  repoUrl: string;
  /** The pull request's number and page; null while it is not recorded yet. */
  number: number | null;
  url: string | null;
  /** Head and base branch of the pull request. */
  branch: string;
  baseBranch: string;
  /** The commit DAG last pushed to its branch (`folder`); null for the branch strategies. */
  pushedHead: string | null;
  /** The app commit being promoted. */
  sourceSha: string | null;
  state: PromotionState;
  /** A person pushed to DAG's branch: DAG no longer rewrites it. */
  handsOff: boolean;
  /** The target environment's deploy was reported after the merge. */
  reported: boolean;
  updatedAt: Date;
};

/** A promotion record whose pull request is known. */
export type PromotionPullRequest = PromotionRecord & { number: number; url: string };

export function hasPullRequest(record: PromotionRecord): record is PromotionPullRequest {
  return record.number !== null && record.url !== null;
}

export type NewPromotionRoute = {
  app: string;
  from: string;
  to: string;
  strategy?: PromotionStrategy | undefined;
  automatic?: boolean | undefined;
  requiredPermission?: Permission | undefined;
};

/** Promotion routes (operators edit them with the CLI or SQL) and DAG's promotion PRs. */
export interface PromotionStore {
  /** Refuses routes that cannot work (same environment, other app, wrong layout for the strategy). */
  addRoute(input: NewPromotionRoute): Promise<PromotionRoute>;
  listRoutes(appRef?: string): Promise<PromotionRoute[]>;
  getRoute(id: number): Promise<PromotionRoute | undefined>;
  removeRoute(appRef: string, from: string, to: string): Promise<PromotionRoute>;
  /** The route's open promotion, else its latest one. */
  currentPromotion(routeId: number): Promise<PromotionRecord | undefined>;
  /** Inserts (no id) or updates (id) a promotion record. */
  savePromotion(
    record: Omit<PromotionRecord, 'id' | 'updatedAt'> & { id?: number | undefined },
  ): Promise<PromotionRecord>;
  findPromotionByPullRequest(repoUrl: string, number: number): Promise<PromotionRecord | undefined>;
}

/** A route row with what its environments tell (joined from apps_environments). */
export const promotionRouteRow = z.object({
  id: z.number().int(),
  app_id: z.number().int(),
  from_environment_id: z.number().int(),
  to_environment_id: z.number().int(),
  strategy: z.enum(PROMOTION_STRATEGIES).nullable(),
  automatic: z.boolean(),
  required_permission: z.enum(PERMISSIONS).nullable(),
  created_at: timestamp,
  to_name: z.string(),
  from_app_id: z.number().int(),
  from_iac_id: z.number().int(),
  from_iac_branch: z.string().nullable(),
  from_iac_path: z.string(),
  from_reconciled_branch: z.string().nullable(),
  to_app_id: z.number().int(),
  to_iac_id: z.number().int(),
  to_iac_branch: z.string().nullable(),
  to_iac_path: z.string(),
  to_reconciled_branch: z.string().nullable(),
});
export const promotionRow = z.object({
  id: z.coerce.number().int(),
  route_id: z.number().int(),
  repo_url: z.string().min(1),
  number: z.number().int().positive().nullable(),
  url: z.string().min(1).nullable(),
  branch: z.string().min(1),
  base_branch: z.string().min(1),
  pushed_head: z.string().nullable(),
  source_sha: z.string().nullable(),
  state: z.enum(PROMOTION_STATES),
  hands_off: z.boolean(),
  reported: z.boolean(),
  updated_at: timestamp,
});
