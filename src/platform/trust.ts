// A self-managed GitLab signed by a private CA: DAG trusts that CA for its API calls (Node's TLS
// clients, fetch included, through the process's default CA list) and for git (an sslCAInfo
// scoped to that GitLab's URL, so other forges keep the system's CAs).
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { readCaFile } from '../util/ca-file.ts';
import type { GitRunner } from '../iac/git.ts';

/**
 * Adds the certificates of a PEM bundle to the CAs Node's TLS clients trust by default (the
 * bundled ones, and NODE_EXTRA_CA_CERTS). Returns how many it added. The file is read and checked
 * at once: a missing, malformed or key-holding file stops DAG at startup.
 */
export function trustCaFile(file: string): number {
  const { pem, count } = readCaFile(file);
  const added = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  setDefaultCACertificates([...getCACertificates('default'), ...added]);
  return count;
}

/** git's `http.<url>.sslCAInfo` for a forge's base URL (git matches it as a URL prefix). */
export function gitCaConfig(baseUrl: string, caFile: string): [string, string] {
  const url = new URL(baseUrl);
  const prefix = `${url.origin}${url.pathname.replace(/\/*$/, '/')}`;
  return [`http.${prefix}.sslCAInfo`, caFile];
}

/** A git runner that adds configuration entries to every command. */
export function gitWithConfig(runner: GitRunner, config: readonly [string, string][]): GitRunner {
  return (args, options) =>
    runner(args, { ...options, config: [...(options.config ?? []), ...config] });
}

/**
 * DAG's trust for a configured GitLab (GITLAB_CA_FILE): the CA added to the process's, and the
 * git runner that trusts it for that GitLab's URL; without a CA file, `runner` as it is.
 */
export function trustGitlab(
  gitlab: { url: string; caFile: string | undefined } | undefined,
  runner: GitRunner,
): { runner: GitRunner; certificates: number } {
  if (!gitlab?.caFile) return { runner, certificates: 0 };
  const certificates = trustCaFile(gitlab.caFile);
  return { runner: gitWithConfig(runner, [gitCaConfig(gitlab.url, gitlab.caFile)]), certificates };
}
