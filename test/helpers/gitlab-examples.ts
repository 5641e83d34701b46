import { readFileSync } from 'node:fs';

/** GitLab's documented webhook payload (test/fixtures/gitlab), as a fresh object. */
export function gitlabExample(
  name: 'push-hook' | 'merge-request-hook' | 'note-hook-merge-request' | 'note-hook-issue',
): Record<string, unknown> {
  const url = new URL(`../fixtures/gitlab/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')) as Record<string, unknown>;
}
