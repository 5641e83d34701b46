import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import {
  GITHUB_API,
  deliverGithub,
  expectNoPendingGithubCalls,
  githubCommentPayload,
  mockGithubApp,
} from './github.ts';
import { waitFor } from '../helpers/wait.ts';
import { startHarness, type Harness } from './harness.ts';
import { startFluxCluster, stopAll } from './promotion.ts';

const API = GITHUB_API;
const REPO = 'org/my-app';
const PR = 7;
const HEAD = 'e5'.repeat(20);
const SA_TOKEN = `sa-token-${Math.random().toString(36).slice(2)}`;
let h: Harness;
let kube: FakeKubeApiserver;

/** A comment on PR #7 of the app repository. */
const commentPayload = (body: string, commentId: number) =>
  githubCommentPayload(REPO, { number: PR, commentId, body, pullRequest: true });

const pull = {
  number: PR,
  state: 'open',
  head: { sha: HEAD, ref: 'feature', repo: { full_name: REPO } },
  base: { ref: 'main', repo: { full_name: REPO } },
};

beforeAll(async () => {
  mockGithubApp();
  h = await startHarness();
  kube = await startFluxCluster(h, 'staging', SA_TOKEN);
  // What runs today: an older release of my-app.
  kube.seed(
    {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: 'my-app', namespace: 'apps' },
      spec: {
        releaseName: 'my-app',
        interval: '10m',
        chart: { spec: { chart: 'chart', sourceRef: { kind: 'GitRepository', name: 'my-app' } } },
      },
    },
    { manager: 'dag' },
  );
  await h.dag.db.query('INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3)', [
    'iac',
    h.git.url('iac'),
    h.iacToken,
  ]);
  await h.dag.db.query(`
    INSERT INTO apps (git_provider, repo_url, auto_diff) VALUES ('github', 'https://github.com/${REPO}', false);
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name, name)
      VALUES (1, 'main', 1, 'clusters/staging/my-app', 1, 'flux', 'apps', 'my-app', 'staging');
  `);
});

afterEach(expectNoPendingGithubCalls);

afterAll(() => stopAll(h, kube));

describe('/diff on a GitHub pull request, end to end', () => {
  it('acknowledges, authorizes, and posts the IAC and live dry-run diff as a sticky comment and check run', async () => {
    let diffComment = '';
    let checkConclusion = '';
    const scope = nock(API)
      // The command: reaction, pull request, permission, reply, final reaction.
      .post(`/repos/${REPO}/issues/comments/501/reactions`, { content: 'eyes' })
      .reply(201, {})
      .get(`/repos/${REPO}/pulls/${PR}`)
      .reply(200, pull)
      .get(`/repos/${REPO}/collaborators/Codertocat/permission`)
      .reply(200, { permission: 'write', role_name: 'write' })
      .get(`/repos/${REPO}/issues/${PR}/comments`)
      .query(true)
      .reply(200, [])
      .post(`/repos/${REPO}/issues/${PR}/comments`, (b) =>
        String(b.body).startsWith('<!-- dag:command:0 -->'),
      )
      .reply(201, { id: 1 })
      .post(`/repos/${REPO}/issues/comments/501/reactions`, { content: '+1' })
      .reply(201, {})
      // The diff job: check run started, values read, head re-read, unused parts looked for,
      // comment, check run done.
      .get(`/repos/${REPO}/commits/${HEAD}/check-runs`)
      .query({ check_name: 'dag/diff' })
      .reply(200, { total_count: 0, check_runs: [] })
      .post(`/repos/${REPO}/check-runs`, (b) => b.status === 'in_progress' && b.head_sha === HEAD)
      .reply(201, { id: 900 })
      .get(`/repos/${REPO}/contents/deploy%2Fvalues.yaml`)
      .query({ ref: HEAD })
      .reply(200, 'replicaCount: 2\ndatabase:\n  password: hunter2-very-secret\n', {
        'content-type': 'application/vnd.github.raw',
      })
      .get(`/repos/${REPO}/contents/deploy%2Fvalues-staging.yaml`)
      .query({ ref: HEAD })
      .reply(404, { message: 'Not Found' })
      .get(`/repos/${REPO}/pulls/${PR}`)
      .reply(200, pull)
      // A small preview: dag/diff alone; no part of an earlier, larger one to complete.
      .get(`/repos/${REPO}/commits/${HEAD}/check-runs`)
      .query({ filter: 'latest', per_page: 100, page: 1 })
      .reply(200, {
        total_count: 1,
        check_runs: [{ id: 900, name: 'dag/diff', status: 'in_progress', output: { title: '' } }],
      })
      .get(`/repos/${REPO}/issues/${PR}/comments`)
      .query(true)
      .reply(200, [])
      .post(`/repos/${REPO}/issues/${PR}/comments`, (b) => {
        if (!String(b.body).startsWith('<!-- dag:diff:0 -->')) return false;
        diffComment = String(b.body);
        return true;
      })
      .reply(201, { id: 2 })
      .get(`/repos/${REPO}/commits/${HEAD}/check-runs`)
      .query({ check_name: 'dag/diff' })
      .reply(200, { total_count: 1, check_runs: [{ id: 900 }] })
      .patch(`/repos/${REPO}/check-runs/900`, (b) => {
        checkConclusion = String(b.conclusion);
        return b.status === 'completed';
      })
      .reply(200, {});

    await deliverGithub(h, 'issue_comment', commentPayload('/diff staging', 501));
    await waitFor(() => scope.isDone(), { timeoutMs: 20_000, what: 'the diff preview' });

    expect(diffComment).toContain('staging');
    expect(diffComment).toContain('HelmRelease');
    // The live diff is of what the folder builds to: the values ConfigMap with kustomize's hash.
    expect(diffComment).toMatch(/my-app-values-[a-z0-9]{10}/);
    expect(diffComment).toMatch(/```+diff/);
    expect(diffComment).toContain('clusters/staging/my-app/helmrelease.yaml');
    // Secrets never reach the comment: not the values password, not the cluster token.
    expect(diffComment).not.toContain('hunter2-very-secret');
    expect(diffComment).not.toContain(SA_TOKEN);
    expect(diffComment.length).toBeLessThanOrEqual(60_000);
    expect(checkConclusion).toBe('neutral');
    // The live diff was a server-side dry run by field manager dag: nothing was stored.
    const applies = kube.requests.filter((r) => r.method === 'PATCH');
    expect(applies.length).toBeGreaterThan(0);
    for (const r of applies) {
      expect(r.query).toMatchObject({ dryRun: 'All', fieldManager: 'dag' });
      expect(r.contentType).toContain('application/apply-patch+yaml');
    }
    expect(h.dag.logs.join('')).not.toContain(SA_TOKEN);
  });
});
