// Redeploy and rollback through the real server and a real IAC git repository: `/deploy` of a
// commit that ran in the environment before deploys it again, and `dag deploy` does the same
// from the CLI through the same deploy job.

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { dagWith, tempDir, type Dag } from '../cli/run-dag.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  GITHUB_API,
  INSTALLATION,
  deliverGithub,
  expectNoPendingGithubCalls,
  githubCommentPayload,
  mockGithubApp,
  restoreNetwork,
} from './github.ts';
import { startHarness, type Harness } from './harness.ts';

const REPO = 'org/redeploy';
const FOLDER = 'clusters/staging/redeploy';
const PR1 = { number: 1, sha: '11'.repeat(20), ref: 'feature-1' };
const PR2 = { number: 2, sha: '22'.repeat(20), ref: 'feature-2' };
type Pr = typeof PR1;

let h: Harness;
let dag: Dag;
let comments = 600;

const pull = (pr: Pr) => ({
  number: pr.number,
  state: 'open',
  head: { sha: pr.sha, ref: pr.ref, repo: { full_name: REPO } },
  base: { ref: 'master', repo: { full_name: REPO } },
});

/** The command's calls: 👀, the pull request, the author's permission, DAG's reply, 👍. */
function commandCalls(
  scope: nock.Scope,
  pr: Pr,
  commentId: number,
  reply: (body: string) => boolean,
) {
  return scope
    .post(`/repos/${REPO}/issues/comments/${commentId}/reactions`, { content: 'eyes' })
    .reply(201, {})
    .get(`/repos/${REPO}/pulls/${pr.number}`)
    .reply(200, pull(pr))
    .get(`/repos/${REPO}/collaborators/Codertocat/permission`)
    .reply(200, { permission: 'write', role_name: 'write' })
    .get(`/repos/${REPO}/issues/${pr.number}/comments`)
    .query(true)
    .reply(200, [])
    .post(`/repos/${REPO}/issues/${pr.number}/comments`, (b) => {
      const body = String(b.body);
      return body.startsWith('<!-- dag:command:0 -->') && reply(body);
    })
    .reply(201, { id: commentId + 10_000 })
    .post(`/repos/${REPO}/issues/comments/${commentId}/reactions`, { content: '+1' })
    .reply(201, {});
}

/** One deploy's calls: its own Deployment (attempt > 1 marked), statuses, values read. */
function deployCalls(
  scope: nock.Scope,
  input: { sha: string; ref: string; deploymentId: number; attempt: number; queued: boolean },
) {
  const { sha, deploymentId } = input;
  scope
    .post(`/repos/${REPO}/deployments`, {
      ref: sha,
      environment: 'staging',
      description: `DAG deploys ${sha.slice(0, 7)} to staging`,
      auto_merge: false,
      required_contexts: [],
      production_environment: false,
      payload: {
        dag: { ref: input.ref, ...(input.attempt > 1 ? { attempt: input.attempt } : {}) },
      },
    })
    .reply(201, { id: deploymentId });
  if (input.queued) {
    // Reports coalesce: a deploy that moved on before its report ran skips what it passed.
    scope
      .post(`/repos/${REPO}/deployments/${deploymentId}/statuses`, (b) => b.state === 'queued')
      .optionally()
      .reply(201, {});
  }
  return scope
    .get(`/repos/${REPO}/contents/deploy%2Fvalues.yaml`)
    .query({ ref: sha })
    .reply(200, 'replicaCount: 1\n', { 'content-type': 'application/vnd.github.raw' })
    .get(`/repos/${REPO}/contents/deploy%2Fvalues-staging.yaml`)
    .query({ ref: sha })
    .reply(404, { message: 'Not Found' })
    .post(`/repos/${REPO}/deployments/${deploymentId}/statuses`, (b) => b.state === 'in_progress')
    .optionally()
    .reply(201, {})
    .post(`/repos/${REPO}/deployments/${deploymentId}/statuses`, (b) => b.state === 'success')
    .reply(201, {});
}

/** `/deploy staging` on a pull request, all the way to its report in the pull request. */
async function deployFromPullRequest(pr: Pr, deploymentId: number, attempt: number) {
  const commentId = ++comments;
  const scope = commandCalls(nock(GITHUB_API), pr, commentId, (body) =>
    body.includes(`deploying \`${pr.sha.slice(0, 7)}\` of #${pr.number}`),
  );
  deployCalls(scope, { sha: pr.sha, ref: pr.ref, deploymentId, attempt, queued: true })
    .get(`/repos/${REPO}/issues/${pr.number}/comments`)
    .query(true)
    .reply(200, [])
    .post(`/repos/${REPO}/issues/${pr.number}/comments`, (b) =>
      String(b.body).startsWith('<!-- dag:deploy-staging:0 -->'),
    )
    .reply(201, { id: commentId + 20_000 });
  await deliverGithub(
    h,
    'issue_comment',
    githubCommentPayload(REPO, {
      number: pr.number,
      commentId,
      body: '/deploy staging',
      pullRequest: true,
    }),
  );
  await waitFor(() => scope.isDone(), { timeoutMs: 20_000, what: `the deploy of #${pr.number}` });
}

/** The commit staging's folder in the IAC repository says it runs (its provenance). */
async function stagingRuns(): Promise<string | undefined> {
  const files = await h.git.files('iac', 'main');
  const release = parseAllDocuments(files[`${FOLDER}/helmrelease.yaml`] ?? '')
    .map((d) => d.toJS() as { metadata?: { annotations?: Record<string, string> } })
    .find((o) => o.metadata?.annotations?.['dag.dev/source-commit']);
  return release?.metadata?.annotations?.['dag.dev/source-commit'];
}

async function deployCommits(): Promise<string[]> {
  return (await h.git.log('iac', 'main')).filter((s) => s.startsWith('deploy(redeploy)'));
}

beforeAll(async () => {
  mockGithubApp();
  // On disk, so that `dag` reaches the running DAG's embedded database through its socket.
  const dataDir = path.join(tempDir('dag-e2e-redeploy-'), 'data');
  h = await startHarness({ DAG_DATA_DIR: dataDir });
  dag = dagWith({ DAG_DATA_DIR: dataDir, DAG_ENCRYPTION_KEY: h.dag.secrets.encryptionKey });
  await h.dag.db.query('INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3)', [
    'iac',
    h.git.url('iac'),
    h.iacToken,
  ]);
  await h.dag.db.query(`
    INSERT INTO clusters (name, api_url) VALUES ('staging', 'https://k8s.example.com');
    INSERT INTO apps (git_provider, repo_url, auto_diff) VALUES ('github', 'https://github.com/${REPO}', false);
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
      VALUES (1, 'master', 1, '${FOLDER}', 1, 'flux', 'apps', 'staging');
  `);
}, 120_000);

afterEach(expectNoPendingGithubCalls);

afterAll(async () => {
  if (process.env.DAG_E2E_TRACE) writeFileSync(process.env.DAG_E2E_TRACE, h.dag.logs.join(''));
  await h?.stop();
  restoreNetwork();
});

describe('redeploy and rollback, end to end', () => {
  it('/deploy staging from PR 1, then PR 2, then PR 1 again leaves staging on PR 1', async () => {
    await deployFromPullRequest(PR1, 501, 1);
    expect(await stagingRuns()).toBe(PR1.sha);
    await deployFromPullRequest(PR2, 502, 1);
    expect(await stagingRuns()).toBe(PR2.sha);
    // PR 1's commit ran here before: a new attempt, with a Deployment of its own.
    await deployFromPullRequest(PR1, 503, 2);
    expect(await stagingRuns()).toBe(PR1.sha);
    expect(await deployCommits()).toEqual([
      `deploy(redeploy): staging ${PR1.sha.slice(0, 7)}`,
      `deploy(redeploy): staging ${PR2.sha.slice(0, 7)}`,
      `deploy(redeploy): staging ${PR1.sha.slice(0, 7)}`,
    ]);
    expect(h.git.forcePushes).toBe(0);
  });

  it('answers truthfully when staging already runs the commit, and deploys nothing', async () => {
    const commentId = ++comments;
    let reply = '';
    const scope = commandCalls(nock(GITHUB_API), PR1, commentId, (body) => {
      reply = body;
      return true;
    });
    await deliverGithub(
      h,
      'issue_comment',
      githubCommentPayload(REPO, {
        number: PR1.number,
        commentId,
        body: '/deploy staging',
        pullRequest: true,
      }),
    );
    await waitFor(() => scope.isDone(), { what: 'the reply' });
    expect(reply).toContain(`staging already runs \`${PR1.sha.slice(0, 7)}\` of #1`);
    expect(reply).not.toContain('deploying');
    expect(await deployCommits()).toHaveLength(3);
    expect((await h.dag.queue.list({ state: 'created' })).length).toBe(0);
  });

  it('`dag deploy` rolls staging back to a commit through the deploy job', async () => {
    const scope = nock(GITHUB_API)
      // Queued by the CLI, the job finds the App's installation on the repository itself, and so
      // does each of its report jobs (one to three: reports coalesce).
      .get(`/repos/${REPO}/installation`)
      .reply(200, { id: INSTALLATION })
      .get(`/repos/${REPO}/installation`)
      .times(3)
      .optionally()
      .reply(200, { id: INSTALLATION });
    deployCalls(scope, {
      sha: PR2.sha,
      ref: 'master',
      deploymentId: 504,
      attempt: 2,
      queued: false,
    });
    const result = await dag(['deploy', 'redeploy', 'staging', '--sha', PR2.sha, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      app: 'redeploy',
      environment: 'staging',
      sha: PR2.sha,
      status: 'queued',
      attempt: 2,
      jobId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    await waitFor(() => scope.isDone(), { timeoutMs: 20_000, what: 'the CLI-queued deploy' });
    await waitFor(async () => (await stagingRuns()) === PR2.sha, { what: 'staging on PR 2' });
    expect(await deployCommits()).toHaveLength(4);

    // Asked again, it says staging runs that commit already, and queues nothing.
    const again = await dag(['deploy', 'redeploy', 'staging', '--sha', PR2.sha]);
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(`staging already runs ${PR2.sha}: nothing to deploy\n`);
  });

  it('`dag deploy` refuses an unknown app or environment and a malformed commit id (exit 2)', async () => {
    const sha = PR1.sha;
    const cases: [string[], string][] = [
      [['deploy', 'nope', 'staging', '--sha', sha], 'unknown app: nope'],
      [
        ['deploy', 'redeploy', 'qa', '--sha', sha],
        'app redeploy has no environment qa (it has: staging)',
      ],
      [['deploy', 'redeploy', 'staging', '--sha', 'abc123'], '--sha must be a full commit id'],
      [
        ['deploy', 'redeploy', 'staging', '--sha', 'AB'.repeat(20)],
        '--sha must be a full commit id',
      ],
      [['deploy', 'redeploy', 'staging'], "required option '--sha <sha>' not specified"],
    ];
    for (const [args, message] of cases) {
      const result = await dag(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stdout).toBe('');
    }
    expect(await deployCommits()).toHaveLength(4);
  });
});
