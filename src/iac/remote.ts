import { ConfigError } from '../errors.ts';

/** An IAC repository as git will see it: a URL without credentials, and the token on the side. */
export type IacRemote = {
  /** http(s) URL with any `user:pass@` removed; safe to log and to store in `.git/config`. */
  url: string;
  /** The token git sends (only through an http.extraHeader environment config), if any. */
  token: string | null;
  /** The Basic-auth user name that goes with the token. */
  user: string;
};

/**
 * The Basic-auth user name a host expects with a token: a GitLab (gitlab.com, or one of
 * `gitlabHosts`: the configured GITLAB_URL's) takes `oauth2` (any name works for personal,
 * project and group tokens, but `oauth2` is the one it documents for OAuth tokens); anything
 * else GitHub's `x-access-token` (the name it documents for App installation tokens). Known
 * from settings, never guessed from a host's name.
 */
export function tokenUser(host: string, gitlabHosts: readonly string[] = []): string {
  const name = host.toLowerCase();
  return name === 'gitlab.com' || gitlabHosts.includes(name) ? 'oauth2' : 'x-access-token';
}

/**
 * Splits credentials out of a repository URL. Credentials embedded in the URL
 * (`https://user:token@host/...`, or `https://token@host/...`) are removed from the URL and
 * used as the token when no token is given; an explicit token wins. Only http(s) URLs are
 * accepted: DAG authenticates with tokens, which ssh does not carry.
 */
export function parseRemote(
  url: string,
  token: string | null | undefined,
  gitlabHosts: readonly string[] = [],
): IacRemote {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch {
    throw new ConfigError(`the IAC repository URL is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new ConfigError(
      `the IAC repository URL must use https (got ${parsed.protocol.replace(/:$/, '')})`,
    );
  }
  const urlUser = safeDecode(parsed.username);
  const urlPassword = safeDecode(parsed.password);
  parsed.username = '';
  parsed.password = '';
  parsed.hash = '';
  const explicit = token ? token : null;
  const embedded = urlPassword || urlUser || null;
  const chosen = explicit ?? embedded;
  // A user name that came with a password in the URL is the one to authenticate as.
  const user =
    !explicit && urlPassword && urlUser ? urlUser : tokenUser(parsed.hostname, gitlabHosts);
  return { url: parsed.toString(), token: chosen, user };
}

/** The URL with any credentials replaced, for messages about a URL we could not parse fully. */
export function redactUrlCredentials(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Checks a branch name from configuration: plain `refs/heads/` names only, so a name can never
 * become an option or change the meaning of a refspec (`-x`, `a:b`, `+a`, `a..b`).
 */
export function checkBranchName(branch: string): string {
  const ok =
    /^[A-Za-z0-9_][A-Za-z0-9._/-]*$/.test(branch) &&
    !/\.\.|\/\/|\/\.|\.lock(\/|$)|[./]$|@\{/.test(branch);
  if (!ok) throw new ConfigError(`the IAC branch name ${JSON.stringify(branch)} is not valid`);
  return branch;
}
