// The model both providers share: what DAG manages (apps, IAC repositories, clusters,
// environments), who may do what (permissions, deploy rules) and which environments are
// production. It imports nothing: the store, the platforms, the commands and the workflows all
// build on it.

export const GIT_PROVIDERS = ['github', 'gitlab'] as const;
export type GitProvider = (typeof GIT_PROVIDERS)[number];
export const HELM_TYPES = ['flux', 'plain'] as const;
export type HelmType = (typeof HELM_TYPES)[number];

export const CHART_SOURCES = ['app-repo', 'helm', 'oci', 'git'] as const;
export type ChartSourceKind = (typeof CHART_SOURCES)[number];

export type App = {
  id: number;
  gitProvider: GitProvider;
  repoUrl: string;
  /** The name people type: the row's name, or the repo's last path segment. */
  name: string;
  /** How the Helm release is built (columns with defaults; see the deploy migration). */
  chart: {
    source: ChartSourceKind;
    path: string;
    repoUrl: string | null;
    name: string | null;
    version: string | null;
    secretRef: string | null;
  };
  imageRepository: string | null;
  imageTagFormat: string;
  valuesPath: string;
  /** Post the diff preview when a pull request opens or moves. */
  autoDiff: boolean;
  createdAt: Date;
};

export type Iac = {
  id: number;
  name: string;
  repoUrl: string;
  /** The IAC repository's provider when configured (NULL: told by its URL). */
  gitProvider: GitProvider | null;
  hasToken: boolean;
  createdAt: Date;
};

export type Cluster = {
  id: number;
  name: string;
  apiUrl: string;
  caCert: string | null;
  hasToken: boolean;
  createdAt: Date;
};

export type Environment = {
  id: number;
  appId: number;
  /** Stored name, derived by DAG when the row was inserted without one. */
  name: string;
  branch: string;
  iacId: number;
  iacPath: string;
  clusterId: number;
  helmType: HelmType;
  helmNamespace: string | null;
  helmName: string | null;
  /** The IAC branch DAG writes; null: the IAC repo's default branch. */
  iacBranch: string | null;
  /**
   * The IAC branch the environment's cluster reconciles, when it is not the one DAG writes
   * (d1 layout: DAG writes apps/production on `main`, the cluster reconciles `production`);
   * null: the one DAG writes.
   */
  reconciledBranch: string | null;
  /** Who may /deploy a pull request here, beyond write access (defaults resolved). */
  rules: DeployRules;
  createdAt: Date;
};

/**
 * The IAC branch whose commits run in the environment's cluster: its reconciled branch, else
 * the branch DAG writes, else `fallback` (the IAC repository's default branch, when known).
 */
export function releasedBranch(
  env: Pick<Environment, 'iacBranch' | 'reconciledBranch'>,
  fallback: string | null = null,
): string | null {
  return env.reconciledBranch ?? env.iacBranch ?? fallback;
}

/** What a branch promotion in the IAC repository reads of an environment. */
export type BranchLayout = Pick<
  Environment,
  'name' | 'iacId' | 'iacPath' | 'iacBranch' | 'reconciledBranch'
>;

/**
 * The branches of an `iac-branch` promotion: from the branch DAG writes for the source (head)
 * into the branch the target's cluster reconciles (base). In the d1 layout both environments
 * write `main` and production's cluster reconciles `production`: a PR from main into production.
 */
export function branchPromotion(
  from: BranchLayout,
  to: BranchLayout,
): { head: string | null; base: string | null } {
  return { head: from.iacBranch, base: releasedBranch(to) };
}

/**
 * Why merging the source's IAC branch into the target's cannot promote, if it cannot.
 * `iacName` names an IAC repository by id in the message.
 */
export function branchPromotionProblem(
  from: BranchLayout,
  to: BranchLayout,
  iacName: (id: number) => string,
): string | undefined {
  const pair = `${from.name} and ${to.name}`;
  if (from.iacId !== to.iacId) {
    return `strategy 'iac-branch' needs both environments in one IAC repository, but ${from.name} writes ${iacName(from.iacId)} and ${to.name} ${iacName(to.iacId)} (use 'folder')`;
  }
  const iac = iacName(from.iacId);
  const { head, base } = branchPromotion(from, to);
  if (head === null && base === null) {
    return `strategy 'iac-branch' needs two IAC branches, but ${pair} both write the default branch of ${iac} (use 'folder')`;
  }
  if (head === null || base === null) {
    const [unnamed, named] = head === null ? [from, to] : [to, from];
    const namedBranch = (head ?? base) as string;
    return `strategy 'iac-branch' needs both IAC branches named: ${unnamed.name} writes the default branch of ${iac}, which DAG cannot compare with ${named.name}'s branch ${namedBranch}`;
  }
  if (head === base) {
    return `strategy 'iac-branch' needs two IAC branches, but ${pair} both write branch ${head} of ${iac}${to.reconciledBranch === null ? ` (use 'folder', or set the branch ${to.name}'s cluster reconciles: dag envs set APP ${to.name} --reconciled-branch BRANCH)` : ''}`;
  }
  if (trimSlashes(from.iacPath) === trimSlashes(to.iacPath)) {
    return `strategy 'iac-branch' cannot promote ${from.name} to ${to.name}: both write ${trimSlashes(to.iacPath)} of ${iac} (on branches ${from.iacBranch ?? 'default'} and ${to.iacBranch ?? 'default'}), so merging ${head} into ${base} would conflict where DAG wrote both and carry ${from.name}'s values into ${to.name}. Layouts that work: a folder per environment on one branch (strategy 'folder'), or the d1 layout: a folder per environment on one branch (e.g. apps/${from.name} and apps/${to.name} on main) with ${to.name}'s cluster reconciling its own branch (dag envs set APP ${to.name} --reconciled-branch production)`;
  }
  return undefined;
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, '');
}

/** An environment DAG guards by default: production or prod (also `production-eu`, `prod.1`). */
export function isProductionName(name: string): boolean {
  return /^prod(uction)?([-._].*)?$/.test(name);
}

export type DeployRules = {
  requiresApproval: boolean;
  requiresGreenChecks: boolean;
  onlyFromOwnBranch: boolean;
};

/** The stored rules, with NULL meaning DAG's default: strict for production, open otherwise. */
export function deployRules(
  name: string,
  stored: { [K in keyof DeployRules]: boolean | null },
): DeployRules {
  const strict = isProductionName(name);
  return {
    requiresApproval: stored.requiresApproval ?? strict,
    requiresGreenChecks: stored.requiresGreenChecks ?? strict,
    onlyFromOwnBranch: stored.onlyFromOwnBranch ?? strict,
  };
}

/** Repository permission levels, weakest first (GitHub's names; GitLab's map onto them). */
export const PERMISSIONS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];
