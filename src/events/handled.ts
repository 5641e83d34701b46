/**
 * The webhook events DAG acts on: each has a workflow in src/workflows/dispatch.ts (the
 * compiler holds the two lists together), and `app.yml` subscribes the GitHub App to exactly
 * the GitHub ones (test/events/handled.test.ts). Every other event is acknowledged (2xx, so
 * providers keep the hook enabled) and dropped without a job.
 */
export const GITHUB_EVENT_NAMES = ['push', 'pull_request', 'issue_comment'] as const;
export type GithubEvent = (typeof GITHUB_EVENT_NAMES)[number];
export const GITHUB_EVENTS: ReadonlySet<string> = new Set(GITHUB_EVENT_NAMES);

/** GitLab's X-Gitlab-Event header values. */
export const GITLAB_EVENT_NAMES = ['Push Hook', 'Merge Request Hook', 'Note Hook'] as const;
export type GitlabEvent = (typeof GITLAB_EVENT_NAMES)[number];
export const GITLAB_EVENTS: ReadonlySet<string> = new Set(GITLAB_EVENT_NAMES);
