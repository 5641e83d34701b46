import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { branchPush, githubExample, githubSignature } from '../helpers/github-examples.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
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

/** In every payload this file sends: a log line holding any payload would show it. */
const MARKER = 'PAYLOAD-MARKER-7f3a';
const withMarker = <T extends Record<string, unknown>>(payload: T): T => ({
  ...payload,
  head_commit: { ...(payload.head_commit as object), message: MARKER },
  marker: MARKER,
});
const pushBody = JSON.stringify(withMarker(githubExample('push', branchPush)));
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
  repository: { name: 'my-app', url: 'git@gitlab.com:org/my-app.git', description: MARKER },
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
    expect(res.status).toBe(401);
    expect((await jobs()).length).toBe(before);
  });

  it('rejects a wrongly signed webhook and enqueues nothing', async () => {
    const before = (await jobs()).length;
    const res = await postGithub(pushBody, {
      'x-github-event': 'push',
      'x-github-delivery': nextDelivery(),
      'x-hub-signature-256': githubSignature(pushBody, 'not-the-secret'),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'X-Hub-Signature-256 does not match the payload' });
    // A body changed after signing fails too.
    const tampered = await postGithub(pushBody.replace('"master"', '"main"'), {
      'x-github-event': 'push',
      'x-github-delivery': nextDelivery(),
      'x-hub-signature-256': githubSignature(pushBody, dag.secrets.github),
    });
    expect(tampered.status).toBe(401);
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

describe('GitHub webhook intake', () => {
  const signed = (body: string, event: string) => ({
    'x-github-event': event,
    'x-github-delivery': nextDelivery(),
    'x-hub-signature-256': githubSignature(body, dag.secrets.github),
  });
  const push = () => withMarker(githubExample('push', branchPush));
  const comment = () =>
    withMarker(
      githubExample('issue_comment', (p) => p.action === 'created' && p.installation !== undefined),
    ) as Record<string, unknown> & { comment: Record<string, unknown> };
  const pull = () =>
    withMarker(
      githubExample('pull_request', (p) => p.action === 'opened' && p.installation !== undefined),
    ) as Record<string, unknown> & { pull_request: { head: Record<string, unknown> } };
  const without = <T extends Record<string, unknown>>(payload: T, key: string) => {
    const copy: Record<string, unknown> = { ...payload };
    delete copy[key];
    return copy;
  };

  it.each([
    ['a push without repository', 'push', () => without(push(), 'repository'), 'repository'],
    ['a push whose ref is not a string', 'push', () => ({ ...push(), ref: 42 }), 'ref'],
    ['a push whose after is not 40 hex', 'push', () => ({ ...push(), after: 'da15608' }), 'after'],
    [
      'a push whose before is not hex',
      'push',
      () => ({ ...push(), before: 'z'.repeat(40) }),
      'before',
    ],
    ['a push without installation', 'push', () => without(push(), 'installation'), 'installation'],
    [
      'a pull request whose head sha is not 40 hex',
      'pull_request',
      () => {
        const p = pull();
        p.pull_request.head = { ...p.pull_request.head, sha: 'HEAD' };
        return p;
      },
      'pull_request.head.sha',
    ],
    ['a pull request without number', 'pull_request', () => without(pull(), 'number'), 'number'],
    [
      'a comment without installation',
      'issue_comment',
      () => without(comment(), 'installation'),
      'installation',
    ],
    [
      'a comment longer than GitHub stores',
      'issue_comment',
      () => {
        const c = comment();
        return { ...c, comment: { ...c.comment, body: `/deploy\n${'x'.repeat(65_536)}` } };
      },
      'comment.body',
    ],
  ])(
    'answers %s with 400 naming the field, and queues nothing',
    async (_what, event, payload, field) => {
      const before = (await jobs()).length;
      const body = JSON.stringify(payload());
      const res = await postGithub(body, signed(body, event));
      expect(res.status).toBe(400);
      const answer = await res.json();
      expect(answer).toEqual({ error: expect.stringContaining(` invalid at ${field}: `), field });
      expect(JSON.stringify(answer)).not.toContain(MARKER);
      expect((await jobs()).length).toBe(before);
    },
  );

  it('acknowledges a delivery DAG would ignore (a tag push) with a 2xx and no job', async () => {
    const before = (await jobs()).length;
    const body = JSON.stringify({ ...push(), ref: 'refs/tags/v1.0.0' });
    const res = await postGithub(body, signed(body, 'push'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ignored', event: 'push' });
    expect((await jobs()).length).toBe(before);
  });

  it('verifies the signature before parsing: a signed body that is not JSON is a 400', async () => {
    const body = '{"ref": ';
    const res = await postGithub(body, signed(body, 'push'));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'payload is not JSON' });
    const unsigned = await postGithub(body, {
      ...signed(body, 'push'),
      'x-hub-signature-256': 'sha256=00',
    });
    expect(unsigned.status).toBe(401);
  });

  it('refuses a form-encoded delivery with 415', async () => {
    const res = await fetch(`${dag.url}/api/github/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...signed('a=1', 'push') },
      body: 'a=1',
    });
    expect(res.status).toBe(415);
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

describe('GitLab webhook intake', () => {
  const headers = (event: string) => ({
    'x-gitlab-event': event,
    'x-gitlab-token': dag.secrets.gitlab,
  });
  const push = () => ({ ...gitlabExample('push-hook'), marker: MARKER });
  const mergeRequest = (): Record<string, unknown> => ({
    ...gitlabExample('merge-request-hook'),
    marker: MARKER,
  });

  it.each([
    ['a push without project', 'Push Hook', () => ({ ...push(), project: undefined }), 'project'],
    ['a push whose ref is not a string', 'Push Hook', () => ({ ...push(), ref: ['main'] }), 'ref'],
    ['a push whose after is not 40 hex', 'Push Hook', () => ({ ...push(), after: 'abc' }), 'after'],
    [
      'a push whose checkout_sha is not hex',
      'Push Hook',
      () => ({ ...push(), checkout_sha: 'main' }),
      'checkout_sha',
    ],
    [
      'a merge request without iid',
      'Merge Request Hook',
      () => {
        const p = mergeRequest();
        return { ...p, object_attributes: { ...(p.object_attributes as object), iid: undefined } };
      },
      'object_attributes.iid',
    ],
    [
      'a merge request whose project has no web URL',
      'Merge Request Hook',
      () => {
        const p = mergeRequest();
        return { ...p, project: { ...(p.project as object), web_url: 'not a url' } };
      },
      'project.web_url',
    ],
  ])(
    'answers %s with 400 naming the field, and queues nothing',
    async (_what, event, payload, field) => {
      const before = (await jobs()).length;
      const res = await postGitlab(JSON.stringify(payload()), headers(event));
      expect(res.status).toBe(400);
      const answer = await res.json();
      expect(answer).toEqual({ error: expect.stringContaining(` invalid at ${field}: `), field });
      expect(JSON.stringify(answer)).not.toContain(MARKER);
      expect((await jobs()).length).toBe(before);
    },
  );

  it('acknowledges a tag push and a merge request approval with a 2xx and no job', async () => {
    const before = (await jobs()).length;
    const tag = { ...push(), object_kind: 'tag_push', ref: 'refs/tags/v1.0.0' };
    const tagRes = await postGitlab(JSON.stringify(tag), headers('Push Hook'));
    expect(tagRes.status).toBe(200);
    const p = mergeRequest();
    const approval = {
      ...p,
      object_attributes: { ...(p.object_attributes as object), action: 'approved' },
    };
    const approved = await postGitlab(JSON.stringify(approval), headers('Merge Request Hook'));
    expect(await approved.json()).toEqual({ status: 'ignored', event: 'Merge Request Hook' });
    expect((await jobs()).length).toBe(before);
  });
});

describe('logs', () => {
  it('never contain a secret', () => {
    const all = dag.logs.join('');
    expect(all).toContain('github webhook accepted');
    // Malformed deliveries are logged by the field they lack, never with their payload.
    expect(all).toContain('"field":"installation"');
    expect(all).not.toContain(MARKER);
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
