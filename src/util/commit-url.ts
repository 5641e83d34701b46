/**
 * Where DAG's links to a commit in an IAC repository point. Each forge has its own URL form
 * (GitLab: `<project>/-/commit/<sha>`; GitHub: `<repo>/commit/<sha>`), so DAG builds the link
 * only where it knows the forge: the GitLab it is configured for (GITLAB_URL, path prefix
 * included) and gitlab.com; github.com and the configured GitHub Enterprise Server; elsewhere
 * the IAC's `git_provider`, when set. A host's name says nothing (`gitlab.corp` may be anything).
 */
export type ForgeUrls = {
  /** GITLAB_URL: the GitLab DAG is configured for (`https://example.com/gitlab`). */
  gitlab?: string | undefined;
  /** The GitHub Enterprise Server's web address (`https://<GHE_HOST>`). */
  github?: string | undefined;
};

type Parsed = { host: string; path: string; origin: string; http: boolean };

/** A clone URL's host, repository path (as written, without `.git`) and web origin. */
function parse(repoUrl: string): Parsed | undefined {
  const text = repoUrl.trim();
  let host: string;
  let path: string;
  let origin: string;
  let http = false;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return undefined;
    }
    http = url.protocol === 'http:' || url.protocol === 'https:';
    host = url.hostname;
    path = decodeURIComponent(url.pathname);
    // An ssh URL names no web address: the forge's is https on the same host.
    origin = http ? `${url.protocol}//${url.host}` : `https://${url.hostname}`;
  } else {
    const scp = /^(?:[^@/\s]+@)?([^:/\s]+):(?!\/\/)(.+)$/.exec(text);
    if (!scp) return undefined;
    host = scp[1] as string;
    path = scp[2] as string;
    origin = `https://${host}`;
  }
  path = path
    .replace(/^\/+/, '')
    .replace(/\/+$/, '')
    .replace(/\.git$/i, '')
    .replace(/\/+$/, '');
  if (!path) return undefined;
  return { host: host.toLowerCase().replace(/^www\./, ''), path, origin, http };
}

function base(url: string | undefined): { host: string; prefix: string; web: string } | undefined {
  if (!url) return undefined;
  const parsed = new URL(url);
  const prefix = parsed.pathname.replace(/^\/+|\/+$/g, '');
  return {
    host: parsed.hostname.toLowerCase().replace(/^www\./, ''),
    prefix,
    web: `${parsed.protocol}//${parsed.host}${prefix ? `/${prefix}` : ''}`,
  };
}

/** The project's path under a GitLab with a path prefix, or undefined if it is not under it. */
function underPrefix(repo: Parsed, prefix: string): string | undefined {
  if (!prefix) return repo.path;
  const lead = `${prefix.toLowerCase()}/`;
  if (repo.path.toLowerCase().startsWith(lead)) return repo.path.slice(lead.length);
  // git over ssh has no path prefix.
  return repo.http ? undefined : repo.path;
}

/** Link to a commit of an IAC repository, or undefined where DAG does not know the forge. */
export function iacCommitUrl(
  iac: { repoUrl: string; gitProvider: 'github' | 'gitlab' | null },
  sha: string,
  forges: ForgeUrls = {},
): string | undefined {
  const repo = parse(iac.repoUrl);
  if (!repo) return undefined;
  const gitlab = base(forges.gitlab);
  if (gitlab && repo.host === gitlab.host) {
    const project = underPrefix(repo, gitlab.prefix);
    if (project) return `${gitlab.web}/${project}/-/commit/${sha}`;
  }
  if (repo.host === 'gitlab.com') return `https://gitlab.com/${repo.path}/-/commit/${sha}`;
  if (repo.host === 'github.com') return `https://github.com/${repo.path}/commit/${sha}`;
  const github = base(forges.github);
  if (github && repo.host === github.host) return `${github.web}/${repo.path}/commit/${sha}`;
  if (iac.gitProvider === 'gitlab') return `${repo.origin}/${repo.path}/-/commit/${sha}`;
  if (iac.gitProvider === 'github') return `${repo.origin}/${repo.path}/commit/${sha}`;
  return undefined;
}
