// Deploys that fail for a reason the user must fix, through the real server: the GitHub
// Deployment says why, the job is not retried, and the IAC repository is left alone.

import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import {
  GITHUB_API,
  deliverGithub,
  expectNoPendingGithubCalls,
  githubPushPayload,
  mockGithubApp,
  restoreNetwork,
} from './github.ts';
import { startHarness, waitForQueueSettled, type Harness } from './harness.ts';

const RAW = { 'content-type': 'application/vnd.github.raw' };
let h: Harness;
let wrongToken: string;

/** An app deploying its `master` branch to `staging` through the named IAC repository. */
async function configure(fullName: string, iac: string): Promise<number> {
  const db = h.dag.db;
  const { rows } = await db.query<{ id: number }>(
    "INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1) RETURNING id",
    [`https://github.com/${fullName}`],
  );
  const env = await db.query<{ id: number }>(
    `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
     VALUES ($1, 'master', (SELECT id FROM iacs WHERE name = $2), $3, 1, 'flux', 'apps', 'staging')
     RETURNING id`,
    [rows[0]?.id, iac, `clusters/staging/${fullName.split('/')[1]}`],
  );
  return env.rows[0]?.id as number;
}

/** The calls of a deploy that fails after it started: deployment, queued, in_progress, failure. */
function deploymentCalls(
  scope: nock.Scope,
  fullName: string,
  sha: string,
  deploymentId: number,
  failure: (description: string) => boolean,
): nock.Scope {
  return (
    scope
      .post(`/repos/${fullName}/deployments`, {
        ref: sha,
        environment: 'staging',
        description: `DAG deploys ${sha.slice(0, 7)} to staging`,
        auto_merge: false,
        required_contexts: [],
        production_environment: false,
        payload: { dag: { ref: 'master' } },
      })
      .reply(201, { id: deploymentId })
      .post(
        `/repos/${fullName}/deployments/${deploymentId}/statuses`,
        (body: Record<string, unknown>) => body.state === 'queued',
      )
      // Reports coalesce: a deploy that moved on before its report ran skips what it passed.
      .optionally()
      .reply(201, {})
      .post(
        `/repos/${fullName}/deployments/${deploymentId}/statuses`,
        (body: Record<string, unknown>) => body.state === 'in_progress',
      )
      .optionally()
      .reply(201, {})
      .post(
        `/repos/${fullName}/deployments/${deploymentId}/statuses`,
        (body: Record<string, unknown>) =>
          body.state === 'failure' &&
          body.auto_inactive === false &&
          !('log_url' in body) &&
          typeof body.description === 'string' &&
          failure(body.description),
      )
      .reply(201, {})
  );
}

/** After the failure: one attempt only, a failure record, no commit and no stray API call. */
async function expectFailedOnce(
  environmentId: number,
  sha: string,
  before: { head: string; pushes: number },
) {
  // Nothing waits, retries or runs any more: a retry or an extra status would have shown itself.
  await waitForQueueSettled(h);
  const jobs = (await h.dag.queue.list({ limit: 500 })).filter(
    (j) => j.summary === `deploy ${sha.slice(0, 7)} to environment ${environmentId}`,
  );
  expect(jobs.map((j) => [j.state, j.retryCount])).toEqual([['completed', 0]]);
  const { rows } = await h.dag.db.query<{ state: string; error: string; iac_commit: unknown }>(
    'SELECT state, error, iac_commit FROM deploys WHERE environment_id = $1 AND sha = $2',
    [environmentId, sha],
  );
  expect(rows).toEqual([{ state: 'failure', error: expect.any(String), iac_commit: null }]);
  expect(await h.git.head('iac', 'main')).toBe(before.head);
  expect(h.git.pushes).toBe(before.pushes);
  expect(h.git.forcePushes).toBe(0);
  const logs = h.dag.logs.join('');
  expect(logs).not.toMatch(/Nock: No match|Disallowed net connect/);
  return rows[0]?.error;
}

beforeAll(async () => {
  mockGithubApp();
  h = await startHarness();
  wrongToken = `wrong-${h.iacToken.split('').reverse().join('')}`;
  // Tokens go in as plain SQL would put them: DAG seals them before use.
  await h.dag.db.query(
    'INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3), ($4, $2, $5)',
    ['iac', h.git.url('iac'), h.iacToken, 'iac-stale-token', wrongToken],
  );
  await h.dag.db.query(
    "INSERT INTO clusters (name, api_url) VALUES ('staging', 'https://k8s.example.com')",
  );
});

afterEach(expectNoPendingGithubCalls);

afterAll(async () => {
  await h?.stop();
  restoreNetwork();
});

describe('deploys that fail for a reason the user must fix, on GitHub', () => {
  it("says the IAC repository rejected DAG's token, once, and pushes nothing", async () => {
    const sha = 'e5'.repeat(20);
    const environmentId = await configure('org/stale-token', 'iac-stale-token');
    const before = { head: await h.git.head('iac', 'main'), pushes: h.git.pushes };
    const refusedBefore = h.git.unauthorized;
    const calls = deploymentCalls(
      nock(GITHUB_API)
        .get('/repos/org/stale-token/contents/deploy%2Fvalues.yaml')
        .query({ ref: sha })
        .reply(200, 'replicaCount: 1\n', RAW)
        .get('/repos/org/stale-token/contents/deploy%2Fvalues-staging.yaml')
        .query({ ref: sha })
        .reply(404, { message: 'Not Found' }),
      'org/stale-token',
      sha,
      301,
      (description) =>
        description === "the IAC repository rejected DAG's token (check the token and its scopes)",
    );
    await deliverGithub(h, 'push', githubPushPayload('org/stale-token', sha));
    await waitFor(() => calls.isDone(), { what: 'the failure status' });

    const error = await expectFailedOnce(environmentId, sha, before);
    expect(error).toBe("the IAC repository rejected DAG's token (check the token and its scopes)");
    // DAG did present the token (and was refused), and the token is nowhere to be read.
    expect(h.git.unauthorized).toBeGreaterThan(refusedBefore);
    const logs = h.dag.logs.join('');
    expect(logs).toContain('deploy failed');
    expect(logs).not.toContain(wrongToken);
    expect(logs).not.toContain(h.iacToken);
    const { rows } = await h.dag.db.query<{ t: string }>(
      "SELECT access_token AS t FROM iacs WHERE name = 'iac-stale-token'",
    );
    expect(rows[0]?.t).toMatch(/^dag:v1:/);
  });

  it('names the values file and the line of its YAML error', async () => {
    const sha = 'f6'.repeat(20);
    const environmentId = await configure('org/broken-values', 'iac');
    const before = { head: await h.git.head('iac', 'main'), pushes: h.git.pushes };
    let reported = '';
    const calls = deploymentCalls(
      nock(GITHUB_API)
        .get('/repos/org/broken-values/contents/deploy%2Fvalues.yaml')
        .query({ ref: sha })
        .reply(200, 'image:\n  tag: latest\n replicaCount: 2\n', RAW),
      'org/broken-values',
      sha,
      302,
      (description) => {
        reported = description;
        return description.startsWith('deploy/values.yaml line 3: ');
      },
    );
    await deliverGithub(h, 'push', githubPushPayload('org/broken-values', sha));
    await waitFor(() => calls.isDone(), { what: 'the failure status' });

    expect(reported).toMatch(/^deploy\/values\.yaml line 3: .*column/);
    expect(await expectFailedOnce(environmentId, sha, before)).toBe(reported);
  });
});
