import { writeFileSync } from 'node:fs';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabContract } from '../helpers/gitlab-contract.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  BOT_TOKEN,
  deliverGitlab,
  GITLAB,
  GITLAB_PUSH_SHA as SHA,
  gitlabPush as payload,
  startGitlabHarness,
  stopGitlabHarness,
} from './gitlab.ts';
import { waitForQueueSettled, type Harness } from './harness.ts';

let h: Harness;
/** Every request DAG sends GitLab is checked against GitLab's documented contract. */
const contract = new GitLabContract();

const deliver = (body: object, uuid: string) => deliverGitlab(h, body, uuid);

beforeAll(async () => {
  // The IAC repository's host is neither GITLAB_URL nor a known forge: its provider says GitLab.
  h = await startGitlabHarness({ helmType: 'plain', iacProvider: 'gitlab' });
});

afterAll(async () => {
  if (process.env.DAG_E2E_TRACE) writeFileSync(process.env.DAG_E2E_TRACE, h.dag.logs.join(''));
  await stopGitlabHarness(h, contract);
});

describe('push to deploy on GitLab, end to end', () => {
  it('commits a plain chart, and reports through the Deployments API and a commit status, as GitLab documents them', async () => {
    const auth = { reqheaders: { 'private-token': BOT_TOKEN } };
    const api = contract
      .nock(GITLAB, auth)
      .get(`/api/v4/projects/15/repository/files/deploy%2Fvalues.yaml/raw`)
      .query({ ref: SHA })
      // A self-managed GitLab's registry is the operator's to name: DAG does not guess it.
      .reply(200, 'replicaCount: 2\nimage:\n  repository: registry.example.com/mike/diaspora\n', {
        'content-type': 'text/plain',
      })
      .get(`/api/v4/projects/15/repository/files/deploy%2Fvalues-production.yaml/raw`)
      .query({ ref: SHA })
      .reply(404, { message: '404 File Not Found' })
      // No chart in the app repo: DAG's default chart is used.
      .get('/api/v4/projects/15/repository/tree')
      .query((q) => q.path === 'chart' && q.ref === SHA && q.recursive === 'true')
      .reply(404, { message: '404 Tree Not Found' })
      .post('/api/v4/projects/15/deployments', {
        environment: 'production',
        sha: SHA,
        ref: 'master',
        tag: false,
        status: 'running',
      })
      .reply(201, { id: 77, status: 'running' })
      // Reports coalesce: a deploy that moved on before its report ran skips what it passed.
      .post(`/api/v4/projects/15/statuses/${SHA}`, (b) => b.state === 'pending')
      .optionally()
      .reply(201, {})
      .post(`/api/v4/projects/15/statuses/${SHA}`, (b) => b.state === 'running')
      .optionally()
      .reply(201, {})
      .post(
        `/api/v4/projects/15/statuses/${SHA}`,
        (b) =>
          b.state === 'success' &&
          b.name === 'dag/deploy/production' &&
          /\/iac\/-\/commit\/[0-9a-f]{40}$/.test(String(b.target_url)),
      )
      .reply(201, {})
      .put('/api/v4/projects/15/deployments/77', { status: 'success' })
      .reply(200, { id: 77 });

    const res = await deliver(payload, '6a4ca7f2-6a6e-4b4c-a0e3-4e0a6e3c0f01');
    expect(res.status).toBe(202);
    await waitFor(() => api.isDone(), { what: 'the GitLab deploy to finish' });

    const files = await h.git.files('iac', 'main');
    const chart = Object.keys(files)
      .filter((f) => f.startsWith('clusters/production/my-app/'))
      .sort();
    expect(chart).toEqual(
      expect.arrayContaining([
        'clusters/production/my-app/Chart.yaml',
        'clusters/production/my-app/values.yaml',
        'clusters/production/my-app/templates/deployment.yaml',
      ]),
    );
    expect(files['clusters/production/my-app/values.yaml']).toContain(`tag: ${SHA}`);
    expect(files['clusters/production/my-app/values.yaml']).toContain(
      'repository: registry.example.com/mike/diaspora',
    );
    expect(files['clusters/production/my-app/values.yaml']).toContain('replicaCount: 2');
    expect((await h.git.log('iac', 'main'))[0]).toBe(
      `deploy(diaspora): production ${SHA.slice(0, 7)}`,
    );
  });

  it('treats a retried delivery as already received', async () => {
    const again = await deliver(payload, '6a4ca7f2-6a6e-4b4c-a0e3-4e0a6e3c0f01');
    expect(await again.json()).toEqual({ status: 'duplicate' });
    // A new delivery of the same push finds the deploy done: no GitLab call, no commit.
    const head = await h.git.head('iac', 'main');
    const other = await deliver(payload, '0d1f0f4e-0000-4000-8000-000000000002');
    expect(await other.json()).toEqual({ status: 'queued' });
    // Its event job found the deploy already there (announcing it called nobody).
    await waitFor(
      () =>
        h.dag.logs.some(
          (line) =>
            line.includes('"deliveryId":"0d1f0f4e-0000-4000-8000-000000000002"') &&
            line.includes('"msg":"deploy queued"'),
        ),
      { what: 'the second delivery to be handled' },
    );
    await waitForQueueSettled(h);
    expect(await h.git.head('iac', 'main')).toBe(head);
    expect(nock.pendingMocks()).toEqual([]);
  });
});
