import { UserError } from '../errors.ts';
import { JOB_STATES, type JobState } from '../jobs/queue.ts';
import { repoKey } from '../util/repo-url.ts';
import { GIT_PROVIDERS, type GitProvider, HELM_TYPES, type HelmType } from '../model.ts';

/**
 * Checks of what an operator typed, run before the CLI touches the database. They mirror the
 * database's constraints (migrations/*_config-store.sql), which stay the last word.
 * Messages quote the input only where it cannot hold a secret, and redact URL credentials.
 */

/** A value as it may be quoted in a message: no credentials, no control characters, short. */
export function quote(value: string): string {
  const clean = value.replace(/\/\/[^/@\s]*@/g, '//***@').replace(/[\u0000-\u001f\u007f]/g, '?'); // eslint-disable-line no-control-regex
  return clean.length > 120 ? `${clean.slice(0, 117)}...` : clean;
}

const APP_NAME = /^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$/;
const RESOURCE_NAME = /^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function gitProvider(value: string): GitProvider {
  if (!(GIT_PROVIDERS as readonly string[]).includes(value)) {
    throw new UserError("git provider must be 'github' or 'gitlab'");
  }
  return value as GitProvider;
}

export function helmType(value: string): HelmType {
  if (!(HELM_TYPES as readonly string[]).includes(value)) {
    throw new UserError("helm type must be 'flux' or 'plain'");
  }
  return value as HelmType;
}

function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.password !== '' || (parsed.username !== '' && parsed.protocol.startsWith('http'));
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]*@/i.test(url);
  }
}

function refuseCredentials(url: string, what: string): void {
  if (hasCredentials(url)) {
    throw new UserError(
      `the ${what} URL must not contain credentials: give the token with --token-stdin or the environment instead`,
    );
  }
}

/** An application repository: https, ssh or scp-like (`git@host:org/app.git`). */
export function appRepoUrl(value: string): string {
  const url = value.trim();
  refuseCredentials(url, 'repository');
  if (!/^(https?:\/\/|ssh:\/\/|git@)\S+$/.test(url) || repoKey(url) === undefined) {
    throw new UserError(
      `not a repository URL: ${quote(url)} (expected e.g. https://gitlab.com/org/my-app)`,
    );
  }
  return url;
}

/** An IAC repository: as an app repository, or a local `file://` one. */
export function iacRepoUrl(value: string): string {
  const url = value.trim();
  refuseCredentials(url, 'IAC repository');
  const local = /^file:\/\/\/\S+$/.test(url);
  if (!local && (!/^(https?:\/\/|ssh:\/\/|git@)\S+$/.test(url) || repoKey(url) === undefined)) {
    throw new UserError(
      `not a repository URL: ${quote(url)} (expected e.g. https://gitlab.com/org/iac-repo.git)`,
    );
  }
  return url;
}

/** A Kubernetes API server: an http(s) URL with a host (a path is allowed, for proxies). */
export function apiUrl(value: string): string {
  const url = value.trim();
  refuseCredentials(url, 'cluster API');
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || !parsed.hostname) {
    throw new UserError(
      `not a cluster API URL: ${quote(url)} (expected e.g. https://k8s.example.com:6443)`,
    );
  }
  if (parsed.search || parsed.hash) {
    throw new UserError('the cluster API URL must not have a query or fragment');
  }
  return url.replace(/\/+$/, '');
}

export function appName(value: string): string {
  if (!APP_NAME.test(value)) {
    throw new UserError(
      `invalid app name: ${quote(value)} (lower-case letters, digits, ".", "_" and "-")`,
    );
  }
  return value;
}

/** Names of IAC repositories and clusters. */
export function resourceName(kind: 'IAC' | 'cluster', value: string): string {
  if (!RESOURCE_NAME.test(value)) {
    throw new UserError(
      `invalid ${kind} name: ${quote(value)} (letters, digits, ".", "_" and "-", starting and ending with a letter or digit)`,
    );
  }
  return value;
}

export function environmentName(value: string): string {
  if (!APP_NAME.test(value) || value.length > 63) {
    throw new UserError(
      `invalid environment name: ${quote(value)} (lower-case letters, digits, ".", "_" and "-", at most 63)`,
    );
  }
  return value;
}

export function namespace(value: string): string {
  if (!DNS_LABEL.test(value) || value.length > 63) {
    throw new UserError(
      `invalid namespace: ${quote(value)} (a DNS-1123 label: lower-case letters, digits and "-", at most 63)`,
    );
  }
  return value;
}

export function releaseName(value: string): string {
  if (!DNS_LABEL.test(value) || value.length > 53) {
    throw new UserError(
      `invalid release name: ${quote(value)} (a DNS-1123 label: lower-case letters, digits and "-", at most 53)`,
    );
  }
  return value;
}

export function branch(option: string, value: string): string {
  if (value === '' || /\s/.test(value)) {
    throw new UserError(`${option} must not be empty or contain spaces`);
  }
  return value;
}

export function iacPath(value: string): string {
  const path = value.replace(/\/+$/, '');
  if (!/^[^/\s]/.test(path) || /(^|\/)\.\.?(\/|$)/.test(path) || /\s/.test(path)) {
    throw new UserError(
      `invalid IAC path: ${quote(value)} (relative, without "..", "." or spaces, e.g. clusters/staging/my-app)`,
    );
  }
  return path;
}

export function jobState(value: string): JobState {
  if (!(JOB_STATES as readonly string[]).includes(value)) {
    throw new UserError(`job state must be one of ${JOB_STATES.join(', ')}`);
  }
  return value as JobState;
}

export function jobId(value: string): string {
  if (!UUID.test(value)) throw new UserError(`not a job id: ${quote(value)} (see: dag jobs list)`);
  return value.toLowerCase();
}

export function positiveInteger(option: string, value: string, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UserError(`${option} must be a whole number from 1 to ${max}`);
  }
  return Number(value);
}
