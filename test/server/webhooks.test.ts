import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branchPush, githubExample, githubSignature } from '../helpers/github-examples.ts';
import { startTestService, testPrivateKey, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

let dag: TestService;
let delivery = 0;
const nextDelivery = () => `00000000-0000-4000-8000-${String(++delivery).padStart(12, '0')}`;

function postGithub(body: string, headers: Record<string, string>) {
  return fetch(`${dag.url}/api/github/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

function postGitlab(body: string, headers: Record<string, string>) {
  return fetch(`${dag.url}/api/gitlab/webhooks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
}

const pushBody = JSON.stringify(githubExample('push', branchPush));
// GitLab's documented Push Hook shape (docs: user/project/integrations/webhook_events.md).
const gitlabPush = JSON.stringify({
  object_kind: 'push',
  event_name: 'push',
  before: '95790bf891e76fee5e1747ab589903a6a1f80f22',
  after: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
  ref: 'refs/heads/main',
  checkout_sha: 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
  user_id: 4,
  user_name: 'John Smith',
  user_username: 'jsmith',
  project_id: 15,
  project: {
    id: 15,
    name: 'my-app',
    web_url: 'https://gitlab.com/org/my-app',
    git_ssh_url: 'git@gitlab.com:org/my-app.git',
    git_http_url: 'https://gitlab.com/org/my-app.git',
    path_with_namespace: 'org/my-app',
    default_branch: 'main',
  },
  commits: [],
  total_commits_count: 0,
  repository: { name: 'my-app', url: 'git@gitlab.com:org/my-app.git' },
});

async function jobs() {
  return dag.queue.list({ limit: 100 });
}

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  dag = await startTestService();
});

afterAll(async () => {
  await dag?.close();
  // No GitHub or GitLab API call is made while receiving webhooks.
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('health', () => {
  it('answers /healthz and /readyz', async () => {
    const health = await fetch(`${dag.url}/healthz`);
    expect(health.status).toBe(200);
    const ready = await fetch(`${dag.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: 'ready',
      checks: { database: 'ok', migrations: 'ok', mode: 'github+gitlab' },
    });
  });

  it('answers 404 elsewhere', async () => {
    expect((await fetch(`${dag.url}/nope`)).status).toBe(404);
  });
});

describe('GitHub webhooks', () => {
  it('rejects an unsigned webhook and enqueues nothing', async () => {
    const before = (await jobs()).length;
    const res = await postGithub(pushBody, {
      'x-github-event': 'push',
      'x-github-delivery': nextDelivery(),
    });
    expect(res.status).toBe(400);
    expect((await jobs()).length).toBe(before);
  });

  it('rejects a wrongly signed webhook and enqueues nothing', async () => {
    const before = (await jobs()).length;
    const res = await postGithub(pushBody, {
      'x-github-event': 'push',
      'x-github-delivery': nextDelivery(),
      'x-hub-signature-256': githubSignature(pushBody, 'not-the-secret'),
    });
    expect(res.status).toBe(400);
    // A body changed after signing fails too.
    const tampered = await postGithub(pushBody.replace('"master"', '"main"'), {
      'x-github-event': 'push',
      'x-github-delivery': nextDelivery(),
      'x-hub-signature-256': githubSignature(pushBody, dag.secrets.github),
    });
    expect(tampered.status).toBe(400);
    expect((await jobs()).length).toBe(before);
  });

  it('acknowledges a signed push, runs its job, and ignores redeliveries', async () => {
    const id = nextDelivery();
    const headers = {
      'x-github-event': 'push',
      'x-github-delivery': id,
      'x-hub-signature-256': githubSignature(pushBody, dag.secrets.github),
    };
    for (let i = 0; i < 5; i++) {
      const res = await postGithub(pushBody, headers);
      expect(res.status).toBeLessThan(300);
    }
    const mine = (await jobs()).filter((j) => j.summary.includes(id));
    expect(mine).toHaveLength(1);
    expect(mine[0]?.summary).toBe(`github push delivery ${id}`);
    await waitFor(
      async () => (await jobs()).find((j) => j.summary.includes(id))?.state === 'completed',
    );
  });

  it('acknowledges events DAG does not act on without a job', async () => {
    const body = JSON.stringify(githubExample('star'));
    const before = (await jobs()).length;
    const res = await postGithub(body, {
      'x-github-event': 'star',
      'x-github-delivery': nextDelivery(),
      'x-hub-signature-256': githubSignature(body, dag.secrets.github),
    });
    expect(res.status).toBeLessThan(300);
    expect((await jobs()).length).toBe(before);
  });

  it('accepts webhooks at "/" too, where Probot setup registers the App', async () => {
    const id = nextDelivery();
    const res = await fetch(`${dag.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-github-event': 'push',
        'x-github-delivery': id,
        'x-hub-signature-256': githubSignature(pushBody, dag.secrets.github),
      },
      body: pushBody,
    });
    expect(res.status).toBeLessThan(300);
    expect((await jobs()).some((j) => j.summary.includes(id))).toBe(true);
  });
});

describe('GitLab webhooks', () => {
  it('rejects a missing or wrong X-Gitlab-Token and enqueues nothing', async () => {
    const before = (await jobs()).length;
    for (const token of [undefined, 'wrong', `${dag.secrets.gitlab}x`, '']) {
      const res = await postGitlab(gitlabPush, {
        'x-gitlab-event': 'Push Hook',
        ...(token === undefined ? {} : { 'x-gitlab-token': token }),
      });
      expect(res.status).toBe(401);
    }
    expect((await jobs()).length).toBe(before);
  });

  it('enqueues a push once per Idempotency-Key', async () => {
    const key = 'b0a07ad4-4bd1-4c5a-9c41-7a2b1c7d9e01';
    const headers = {
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': dag.secrets.gitlab,
      'idempotency-key': key,
      'x-gitlab-event-uuid': 'a2f1f4b5-1111-4222-8333-444455556666',
    };
    const first = await postGitlab(gitlabPush, headers);
    expect(first.status).toBe(202);
    expect(await first.json()).toEqual({ status: 'queued' });
    const again = await postGitlab(gitlabPush, headers);
    expect(await again.json()).toEqual({ status: 'duplicate' });
    expect((await jobs()).filter((j) => j.summary.includes(key))).toHaveLength(1);
  });

  it('answers 2xx to events it ignores, so GitLab keeps the hook enabled', async () => {
    const res = await postGitlab(JSON.stringify({ object_kind: 'issue' }), {
      'x-gitlab-event': 'Issue Hook',
      'x-gitlab-token': dag.secrets.gitlab,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ignored', event: 'Issue Hook' });
  });

  it.each([
    ['not JSON', '{"object_kind": ', { 'x-gitlab-event': 'Push Hook' }, 400, 'payload is not JSON'],
    ['not GitLab-shaped', '{"hello":1}', { 'x-gitlab-event': 'Push Hook' }, 400, 'no object_kind'],
    ['without an event header', gitlabPush, {}, 400, 'missing X-Gitlab-Event'],
  ])('rejects a payload %s with a clear error', async (_what, body, headers, status, message) => {
    const res = await postGitlab(body, { 'x-gitlab-token': dag.secrets.gitlab, ...headers });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: string }).error).toContain(message);
  });
});

describe('logs', () => {
  it('never contain a secret', () => {
    const all = dag.logs.join('');
    expect(all).toContain('github webhook accepted');
    for (const secret of [
      dag.secrets.github,
      dag.secrets.gitlab,
      dag.secrets.encryptionKey,
      testPrivateKey.split('\n')[1] as string,
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
