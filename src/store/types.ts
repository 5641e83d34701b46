import { z } from 'zod';

export const GIT_PROVIDERS = ['github', 'gitlab'] as const;
export type GitProvider = (typeof GIT_PROVIDERS)[number];
export const HELM_TYPES = ['flux', 'plain'] as const;
export type HelmType = (typeof HELM_TYPES)[number];

export type App = {
  id: number;
  gitProvider: GitProvider;
  repoUrl: string;
  /** The name people type: the row's name, or the repo's last path segment. */
  name: string;
  createdAt: Date;
};

export type Iac = {
  id: number;
  name: string;
  repoUrl: string;
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
  /** null: the IAC repo's default branch. */
  iacBranch: string | null;
  createdAt: Date;
};

export type NewApp = { gitProvider: GitProvider; repoUrl: string; name?: string | undefined };
export type NewIac = { name: string; repoUrl: string; accessToken?: string | undefined };
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
  name?: string | undefined;
};

export type SecretsReport = {
  sealed: number;
  plaintext: number;
  /** Sealed with a key that is configured but not the current one. */
  oldKey: number;
  /** Sealed with a key DAG does not have: cannot be opened. */
  unknownKey: number;
};

/** Configuration DAG reads and operators edit (CLI or plain SQL). */
export interface ConfigStore {
  listApps(): Promise<App[]>;
  /** By id, repo URL, or short name. */
  findApp(ref: string): Promise<App | undefined>;
  addApp(input: NewApp): Promise<App>;
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
  addEnvironment(input: NewEnvironment): Promise<Environment>;
  removeEnvironment(appRef: string, name: string): Promise<Environment>;

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
  created_at: timestamp,
});
export const iacRow = z.object({
  id: z.number().int(),
  name: z.string().min(1),
  repo_url: z.string().min(1),
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
  created_at: timestamp,
});
