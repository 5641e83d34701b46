/**
 * The webhook events DAG acts on. Every other event is acknowledged (2xx, so providers keep
 * the hook enabled) and dropped without a job.
 */
export const GITHUB_EVENTS = new Set([
  'push',
  'pull_request',
  'issue_comment',
  'pull_request_review',
  'check_suite',
]);

/** GitLab's X-Gitlab-Event header values. */
export const GITLAB_EVENTS = new Set([
  'Push Hook',
  'Merge Request Hook',
  'Note Hook',
  'Pipeline Hook',
]);
