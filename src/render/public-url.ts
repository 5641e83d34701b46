/**
 * A URL fit to write into a repository or an annotation: user name and password removed from
 * http(s) URLs (`https://oauth2:token@gitlab.com/org/app` -> `https://gitlab.com/org/app`).
 * Other forms (`ssh://git@host/...`, `git@host:org/app`) are returned unchanged.
 */
export function withoutCredentials(url: string): string {
  const text = url.trim();
  if (!/^https?:\/\//i.test(text)) return text;
  try {
    const parsed = new URL(text);
    if (parsed.username === '' && parsed.password === '') return text;
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return text;
  }
}

/**
 * A Git URL in a form Flux's GitRepository accepts (`http`, `https` or `ssh` scheme):
 * the scp-like `git@github.com:org/app.git` becomes `ssh://git@github.com/org/app.git`.
 */
export function fluxGitUrl(url: string): string {
  const text = withoutCredentials(url);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) return text;
  const scp = /^([^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
  if (!scp) return text;
  return `ssh://${scp[1] ?? ''}${scp[2] ?? ''}/${(scp[3] ?? '').replace(/^\/+/, '')}`;
}

/** An OCI URL with its `oci://` scheme, adding it to a bare `ghcr.io/org/charts/app`. */
export function ociUrl(url: string): string {
  const text = withoutCredentials(url);
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `oci://${text}`;
}
