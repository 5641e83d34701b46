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
