import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/**
 * Every setting DAG reads, validated once at start. Nothing else reads process.env.
 * The README's "Settings" table documents each of these.
 */
export type Settings = {
  nodeEnv: string;
  development: boolean;
  port: number;
  host: string | undefined;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** `dataDir`: DAG_DATA_DIR, the embedded database's folder and more (or `memory://`). */
  database: { kind: 'postgres'; url: string } | { kind: 'embedded'; dataDir: string };
  encryption: {
    /** Current key (32 bytes), or undefined when none is set (embedded mode then generates one). */
    key: Buffer | undefined;
    /** Where the embedded mode keeps a generated key: in DAG_DATA_DIR, beside the data. */
    keyFile: string;
    /** Older keys still accepted for reading, for rotation. */
    oldKeys: Buffer[];
  };
  github:
    | {
        appId: string;
        privateKey: string;
        webhookSecret: string;
        webhookPath: string;
        baseUrl: string | undefined;
      }
    | undefined;
  gitlab:
    | {
        webhookSecret: string;
        webhookPath: string;
        url: string;
        token: string | undefined;
        /**
         * A self-managed GitLab's private CA (PEM file), trusted by the API client and by git for
         * that GitLab's URL only; undefined: the public CAs.
         */
        caFile: string | undefined;
      }
    | undefined;
  worker: { concurrency: number; pollingIntervalSeconds: number };
  /** Deploy jobs one process runs at once (they mostly wait for git and the provider). */
  deployConcurrency: number;
  /** Worker threads for diff previews' CPU work; undefined: one per CPU, at most 4. */
  diffThreads: number | undefined;
  /**
   * Cluster monitoring (src/monitor/): watch what DAG deployed and keep each environment's
   * rollout state. On by default; `DAG_MONITOR=off` turns it off.
   */
  monitor: boolean;
  /**
   * The least time between two rollout reports of one environment on the provider
   * (`DAG_ROLLOUT_REPORT_SECONDS`, default 15): a flapping rollout costs one update per
   * interval, and the last state is always delivered.
   */
  rolloutReportSeconds: number;
  /**
   * How long a rollout may stay pending after its IAC commit before its deployment is ended as
   * failed (`DAG_ROLLOUT_DEADLINE_MINUTES`, default 30).
   */
  rolloutDeadlineMinutes: number;
  /**
   * How long another commit may run than DAG committed before monitoring calls it drift
   * (`DAG_DRIFT_GRACE_MINUTES`, default 10): Flux and Argo CD reconcile on an interval.
   */
  driftGraceMinutes: number;
  /** Cached clones of IAC repositories. */
  cacheDir: string;
  /** An operator's templates folder; DAG's own templates fill in what it lacks. */
  templatesDir: string | undefined;
  /** Author and committer of DAG's commits in IAC repositories. */
  gitAuthor: { name: string; email: string };
  /** The `helm` binary for `helm template` of plain charts in diff previews. */
  helmPath: string;
  /** The bearer token `/metrics` requires; undefined: the endpoint is open. */
  metricsToken: string | undefined;
  /** How long a stop (SIGTERM, SIGINT) may take, all steps included (src/shutdown.ts). */
  shutdownTimeoutSeconds: number;
};

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** Parses a 32-byte key given as 64 hex characters or as base64. */
export function parseEncryptionKey(value: string, name: string): Buffer {
  const trimmed = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{42,44}={0,2}$/.test(trimmed)) {
    const key = Buffer.from(trimmed.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  throw new ConfigError(
    `${name} must be 32 bytes given as 64 hex characters or as base64 (generate one with: openssl rand -hex 32)`,
  );
}

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const parsed = z.coerce.number().int().min(min).max(max).safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}`);
  return parsed.data;
}

function decimal(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  const parsed = z.coerce.number().min(min).max(max).safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${name} must be a number from ${min} to ${max}`);
  return parsed.data;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = optional(env, name);
  if (raw === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function pathSetting(env: Env, name: string, cwd: string): string | undefined {
  const raw = optional(env, name);
  return raw === undefined ? undefined : path.resolve(cwd, raw);
}

function urlSetting(env: Env, name: string, fallback?: string): string | undefined {
  const raw = optional(env, name) ?? fallback;
  if (raw === undefined) return undefined;
  try {
    const url = new URL(raw);
    if (!['http:', 'https:', 'postgres:', 'postgresql:'].includes(url.protocol)) throw new Error();
  } catch {
    throw new ConfigError(`${name} is not a valid URL`);
  }
  return raw;
}

function readPrivateKey(env: Env, cwd: string): string | undefined {
  const inline = optional(env, 'PRIVATE_KEY');
  if (inline) {
    // Probot accepts the PEM inline, with literal \n, or base64-encoded; so do we.
    const unescaped = inline.replace(/\\n/g, '\n');
    if (unescaped.includes('-----BEGIN')) return unescaped;
    const decoded = Buffer.from(inline, 'base64').toString('utf8');
    if (decoded.includes('-----BEGIN')) return decoded;
    throw new ConfigError('PRIVATE_KEY is neither a PEM key nor a base64-encoded PEM key');
  }
  const file = optional(env, 'PRIVATE_KEY_PATH');
  if (!file) return undefined;
  try {
    return readFileSync(path.resolve(cwd, file), 'utf8');
  } catch {
    throw new ConfigError(`PRIVATE_KEY_PATH points to a file that cannot be read: ${file}`);
  }
}

/**
 * Who DAG's IAC commits are by when DAG_GIT_AUTHOR_EMAIL is unset: a no-reply address of the
 * forge DAG serves, as each forge forms them (`users.noreply.<host>`), so a GitLab-only install
 * does not sign its commits with a GitHub address. GitHub wins when both are configured.
 */
export function defaultAuthorEmail(github: unknown, gitlab: { url: string } | undefined): string {
  if (github || !gitlab) return 'dag-bot@users.noreply.github.com';
  return `dag-bot@users.noreply.${new URL(gitlab.url).hostname.toLowerCase()}`;
}

export function readSettings(env: Env = process.env, cwd = process.cwd()): Settings {
  const nodeEnv = optional(env, 'NODE_ENV') ?? 'production';
  const development = nodeEnv === 'development';

  const databaseUrl = urlSetting(env, 'DATABASE_URL');
  // DAG's own data, one folder (one volume): the embedded database in data/, its socket, and
  // the generated key (src/store/embedded-layout.ts). memory:// keeps the embedded database in
  // memory (tests, throwaway runs).
  const dataDirText = optional(env, 'DAG_DATA_DIR') ?? '.dag';
  const dataDir = dataDirText === 'memory://' ? dataDirText : path.resolve(cwd, dataDirText);

  const keyText = optional(env, 'DAG_ENCRYPTION_KEY');
  const keyFileText = optional(env, 'DAG_ENCRYPTION_KEY_FILE');
  let key = keyText ? parseEncryptionKey(keyText, 'DAG_ENCRYPTION_KEY') : undefined;
  const keyFile = path.resolve(
    cwd,
    keyFileText ??
      (dataDir === 'memory://' ? '.dag/encryption.key' : path.join(dataDir, 'encryption.key')),
  );
  if (!key && keyFileText) {
    let content: string;
    try {
      content = readFileSync(keyFile, 'utf8');
    } catch {
      throw new ConfigError(
        `DAG_ENCRYPTION_KEY_FILE points to a file that cannot be read: ${keyFileText}`,
      );
    }
    key = parseEncryptionKey(content, 'DAG_ENCRYPTION_KEY_FILE');
  }
  const oldKeys = (optional(env, 'DAG_ENCRYPTION_OLD_KEYS') ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k) => parseEncryptionKey(k, 'DAG_ENCRYPTION_OLD_KEYS'));
  if (databaseUrl && !key) {
    throw new ConfigError(
      'DAG_ENCRYPTION_KEY is required with DATABASE_URL (32 bytes as 64 hex characters or base64; generate one with: openssl rand -hex 32)',
    );
  }

  const appId = optional(env, 'APP_ID');
  const privateKey = readPrivateKey(env, cwd);
  let github: Settings['github'];
  if (appId || privateKey) {
    if (!appId) throw new ConfigError('PRIVATE_KEY is set but APP_ID is not: set both, or neither');
    if (!privateKey) {
      throw new ConfigError(
        'APP_ID is set but PRIVATE_KEY (or PRIVATE_KEY_PATH) is not: set both, or neither',
      );
    }
    if (!/^\d+$/.test(appId))
      throw new ConfigError('APP_ID must be the numeric ID of the GitHub App');
    let webhookSecret = optional(env, 'WEBHOOK_SECRET');
    if (!webhookSecret) {
      if (!development) {
        throw new ConfigError(
          'WEBHOOK_SECRET is required: DAG refuses unsigned GitHub webhooks (set NODE_ENV=development to use the insecure secret "development" locally)',
        );
      }
      webhookSecret = 'development';
    }
    const ghe = optional(env, 'GHE_HOST');
    github = {
      appId,
      privateKey,
      webhookSecret,
      webhookPath: optional(env, 'WEBHOOK_PATH') ?? '/api/github/webhooks',
      baseUrl: ghe ? `${optional(env, 'GHE_PROTOCOL') ?? 'https'}://${ghe}/api/v3` : undefined,
    };
  }

  const gitlabSecret = optional(env, 'GITLAB_WEBHOOK_SECRET');
  const gitlab = gitlabSecret
    ? {
        webhookSecret: gitlabSecret,
        webhookPath: optional(env, 'GITLAB_WEBHOOK_PATH') ?? '/api/gitlab/webhooks',
        url: urlSetting(env, 'GITLAB_URL', 'https://gitlab.com') as string,
        token: optional(env, 'GITLAB_TOKEN'),
        caFile: pathSetting(env, 'GITLAB_CA_FILE', cwd),
      }
    : undefined;
  const cacheText = optional(env, 'DAG_CACHE_DIR');
  const templatesText = optional(env, 'DAG_TEMPLATES_DIR');
  const authorEmail = optional(env, 'DAG_GIT_AUTHOR_EMAIL') ?? defaultAuthorEmail(github, gitlab);
  if (!/^[^\s@<>]+@[^\s@<>]+$/.test(authorEmail)) {
    throw new ConfigError('DAG_GIT_AUTHOR_EMAIL must be an email address');
  }

  return {
    nodeEnv,
    development,
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: optional(env, 'HOST'),
    logLevel: oneOf(env, 'LOG_LEVEL', LOG_LEVELS, 'info'),
    database: databaseUrl ? { kind: 'postgres', url: databaseUrl } : { kind: 'embedded', dataDir },
    encryption: { key, keyFile, oldKeys },
    github,
    gitlab,
    worker: {
      concurrency: integer(env, 'DAG_WORKER_CONCURRENCY', 4, 1, 64),
      pollingIntervalSeconds: decimal(env, 'DAG_WORKER_POLL_SECONDS', 2, 0.5, 60),
    },
    deployConcurrency: integer(env, 'DAG_DEPLOY_CONCURRENCY', 16, 1, 256),
    diffThreads:
      optional(env, 'DAG_DIFF_THREADS') === undefined
        ? undefined
        : integer(env, 'DAG_DIFF_THREADS', 1, 1, 64),
    monitor: oneOf(env, 'DAG_MONITOR', ['on', 'off'] as const, 'on') === 'on',
    rolloutReportSeconds: integer(env, 'DAG_ROLLOUT_REPORT_SECONDS', 15, 1, 3600),
    rolloutDeadlineMinutes: integer(env, 'DAG_ROLLOUT_DEADLINE_MINUTES', 30, 1, 24 * 60),
    driftGraceMinutes: integer(env, 'DAG_DRIFT_GRACE_MINUTES', 10, 1, 24 * 60),
    cacheDir: path.resolve(cwd, cacheText ?? '.dag/cache'),
    templatesDir: templatesText ? path.resolve(cwd, templatesText) : undefined,
    gitAuthor: {
      name: optional(env, 'DAG_GIT_AUTHOR_NAME') ?? 'DAG',
      email: authorEmail,
    },
    helmPath: optional(env, 'DAG_HELM_PATH') ?? 'helm',
    metricsToken: optional(env, 'DAG_METRICS_TOKEN'),
    // Below Kubernetes' default terminationGracePeriodSeconds (30), which ends in SIGKILL.
    shutdownTimeoutSeconds: decimal(env, 'DAG_SHUTDOWN_TIMEOUT_SECONDS', 25, 1, 3600),
  };
}
