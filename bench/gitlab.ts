// What the GitLab-flavoured benchmarks share: push hooks as GitLab sends them, and small waits.

import { randomBytes } from 'node:crypto';

/** A GitLab Push Hook body for project `project` (`bench/<name>`), `sha` on `branch`. */
export function pushHook(project: number, name: string, commit: string, branch = 'main'): string {
  const web = `https://gitlab.example.com/bench/${name}`;
  return JSON.stringify({
    object_kind: 'push',
    ref: `refs/heads/${branch}`,
    before: '0'.repeat(39) + '1',
    after: commit,
    checkout_sha: commit,
    user_username: 'bench',
    project_id: project,
    project: {
      id: project,
      path_with_namespace: `bench/${name}`,
      web_url: web,
      git_http_url: `${web}.git`,
    },
    commits: [],
  });
}

/** A random commit id. */
export const sha = (): string => randomBytes(20).toString('hex');

/** Polls `check` every 2 ms until it holds. */
export async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 2));
}
