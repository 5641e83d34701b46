import { UserError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { App } from '../model.ts';

/**
 * Repository URLs in the forms people and providers write them, reduced to one key:
 * `host/path` in lower case, without scheme, user, port, `www.`, trailing `.git` or `/`.
 * `git@github.com:Org/App.git`, `ssh://git@github.com/org/app` and
 * `https://www.github.com/org/app/` all become `github.com/org/app`. GitLab subgroups stay.
 */
export function repoKey(url: string): string | undefined {
  const text = url.trim();
  let host: string;
  let path: string;
  const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let parsed: URL;
    try {
      parsed = new URL(text);
    } catch {
      return undefined;
    }
    if (!['http:', 'https:', 'ssh:', 'git:', 'git+ssh:', 'ssh+git:'].includes(parsed.protocol)) {
      return undefined;
    }
    host = parsed.hostname;
    path = decodeURIComponent(parsed.pathname);
  } else if (scp) {
    host = scp[1] as string;
    path = scp[2] as string;
  } else {
    return undefined;
  }
  host = host.toLowerCase().replace(/^www\./, '');
  path = path
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '')
    .toLowerCase();
  const segments = path.split('/');
  // A repository lives under an owner (or group): at least two segments.
  if (!host || segments.length < 2 || segments.some((s) => s === '' || s === '.' || s === '..')) {
    return undefined;
  }
  return `${host}/${path}`;
}

/** The repository's own name: its last path segment (`my-app` for `.../org/my-app.git`). */
export function repoShortName(url: string): string | undefined {
  return repoKey(url)?.split('/').at(-1);
}

/** The app repository as the provider names it (case kept), from its configured URL. */
export function appRepoRef(app: App): RepoRef {
  const key = repoKey(app.repoUrl);
  if (!key) throw new UserError(`app ${app.name} has a repository URL DAG cannot read`);
  const host = key.split('/')[0] as string;
  const fullName = (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(app.repoUrl)
      ? decodeURIComponent(new URL(app.repoUrl).pathname)
      : app.repoUrl.slice(app.repoUrl.indexOf(':') + 1)
  )
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '');
  const scheme = /^http:\/\//i.test(app.repoUrl) ? 'http' : 'https';
  const webUrl = `${scheme}://${host}/${fullName}`;
  return { provider: app.gitProvider, fullName, urls: [app.repoUrl], webUrl };
}
