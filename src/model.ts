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
