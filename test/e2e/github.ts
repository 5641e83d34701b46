import nock from 'nock';
import { expect } from 'vitest';
import { branchPush, githubExample, githubSignature } from '../helpers/github-examples.ts';
import type { Harness } from './harness.ts';

export const GITHUB_API = 'https://api.github.com';
export const INSTALLATION = 4711;

/** The branch push example of @octokit/webhooks-examples, adapted: another repo, a real sha. */
export function githubPushPayload(fullName: string, sha: string) {
  const payload = githubExample('push', branchPush) as Record<string, unknown> & {
    repository: Record<string, unknown>;
  };
  const [owner, name] = fullName.split('/') as [string, string];
  payload.after = sha;
  payload.installation = {
    id: INSTALLATION,
    node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDcxMQ==',
  };
  payload.repository = {
    ...payload.repository,
    name,
    full_name: fullName,
    html_url: `https://github.com/${fullName}`,
    clone_url: `https://github.com/${fullName}.git`,
    ssh_url: `git@github.com:${fullName}.git`,
    owner: { ...(payload.repository.owner as object), login: owner },
  };
  payload.head_commit = {
    ...(payload.head_commit as object),
    id: sha,
    url: `https://github.com/${fullName}/commit/${sha}`,
  };
  return payload;
}

/**
 * The issue_comment example of @octokit/webhooks-examples, adapted: a new comment on issue or
 * pull request `number` of `fullName`, from the installation DAG's App mock knows.
 */
export function githubCommentPayload(
  fullName: string,
  input: { number: number; commentId: number; body: string; pullRequest: boolean; user?: string },
) {
  const payload = githubExample('issue_comment', (p) => p.action === 'created') as Record<
    string,
    unknown
  > & {
    issue: Record<string, unknown>;
    comment: Record<string, unknown>;
    repository: Record<string, unknown>;
  };
  const issue = { ...payload.issue };
  delete issue.pull_request;
  payload.issue = {
    ...issue,
    number: input.number,
    ...(input.pullRequest
      ? { pull_request: { url: `${GITHUB_API}/repos/${fullName}/pulls/${input.number}` } }
      : {}),
  };
  payload.comment = {
    ...payload.comment,
    id: input.commentId,
    body: input.body,
    ...(input.user
      ? { user: { ...(payload.comment.user as object), login: input.user, type: 'User' } }
      : {}),
  };
  payload.repository = {
    ...payload.repository,
    full_name: fullName,
    html_url: `https://github.com/${fullName}`,
    clone_url: `https://github.com/${fullName}.git`,
  };
  payload.installation = { id: INSTALLATION, node_id: 'x' };
  return payload;
}

let deliveries = 0;

/** Sends a correctly signed GitHub webhook to DAG and expects it to be acknowledged. */
export async function deliverGithub(
  h: Harness,
  event: string,
  payload: object,
  deliveryId = `e2e-${++deliveries}`,
): Promise<void> {
  const body = JSON.stringify(payload);
  const res = await fetch(`${h.dag.url}/api/github/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': githubSignature(body, h.dag.secrets.github),
    },
    body,
  });
  expect(res.status).toBeLessThan(300);
}

/** No network but loopback, and the App's installation token (its caching is Probot's). */
export function mockGithubApp(installation = INSTALLATION): void {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  nock(GITHUB_API)
    .persist()
    .post(`/app/installations/${installation}/access_tokens`)
    .reply(201, {
      token: 'ghs_installationtoken',
      expires_at: new Date(Date.now() + 3600_000).toISOString(),
    });
}

/** Every GitHub call a test expected was made (the token call aside). */
export function expectNoPendingGithubCalls(): void {
  expect(nock.pendingMocks().filter((m) => !m.includes('access_tokens'))).toEqual([]);
}

export function restoreNetwork(): void {
  nock.cleanAll();
  nock.enableNetConnect();
}

/** The GitHub calls one deploy makes, exactly: values files, deployment, two statuses. */
export function expectDeployCalls(
  fullName: string,
  sha: string,
  environment: string,
  deploymentId: number,
  values = 'replicaCount: 1\nmessage: "x\\nevil: true"\n',
) {
  const scope = nock(GITHUB_API)
    .get(`/repos/${fullName}/contents/deploy%2Fvalues.yaml`)
    .query({ ref: sha })
    .reply(200, values, {
      'content-type': 'application/vnd.github.raw',
    })
    .get(`/repos/${fullName}/contents/deploy%2Fvalues-${environment}.yaml`)
    .query({ ref: sha })
    .reply(404, { message: 'Not Found' })
    // Body matchers are predicates: nock tries each interceptor, so they must not throw.
    .post(
      `/repos/${fullName}/deployments`,
      (body) =>
        body.ref === sha &&
        body.environment === environment &&
        body.auto_merge === false &&
        Array.isArray(body.required_contexts) &&
        body.required_contexts.length === 0,
    )
    .reply(201, { id: deploymentId })
    // Reports coalesce: a deploy that moved on before its report ran skips the states it passed.
    .post(
      `/repos/${fullName}/deployments/${deploymentId}/statuses`,
      (body) => body.state === 'queued',
    )
    .optionally()
    .reply(201, {})
    .post(
      `/repos/${fullName}/deployments/${deploymentId}/statuses`,
      (body) => body.state === 'in_progress',
    )
    .optionally()
    .reply(201, {})
    .post(
      `/repos/${fullName}/deployments/${deploymentId}/statuses`,
      (body) =>
        body.state === 'success' &&
        /^http:\/\/127\.0\.0\.1:\d+\/[\w./-]+\/commit\/[0-9a-f]{40}$/.test(String(body.log_url)),
    )
    .reply(201, {});
  return scope;
}
