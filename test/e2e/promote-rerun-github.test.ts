// A promotion job that stops between DAG's push and GitHub's answer (a secondary rate limit on
// POST /pulls, on the labels, on the update) and is rerun: exactly one PR, on the branch DAG
// pushed, which it knows as its own. Signed webhooks in, the real job queue, a real IAC
// repository over git's smart HTTP, and nock at the GitHub API boundary: any request the rerun
// was not expected to make (a second POST /pulls, a hands-off comment) fails the test.

import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../src/jobs/queue.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  GITHUB_API,
  deliverGithub,
  expectDeployCalls,
  expectNoPendingGithubCalls,
  githubPushPayload,
  mockGithubApp,
  restoreNetwork,
} from './github.ts';
import {
  FLUX_LAYOUT,
  fixtureFiles,
  startHarness,
  waitForQueueSettled,
  type Harness,
} from './harness.ts';
import { nextComment, promotionCommands, pullResponse } from './promotion.ts';

const APP = 'org/shop';
const IAC = 'org/iac';
const BRANCH = 'dag/promote/shop/staging-to-production';
const ISSUE = 5;
const RAW = { 'content-type': 'application/vnd.github.raw' };
const sha = (n: number) => `c${n}`.repeat(20);

let h: Harness;
let kube: FakeKubeApiserver;
const SA_TOKEN = `sa-token-${Math.random().toString(36).slice(2)}`;
let iacApi: string;

const { promote, commandCalls, replyCalls } = promotionCommands(() => h, APP, ISSUE);

/** GitHub's answer to a content-creating request sent too fast (a secondary rate limit). */
const RATE_LIMITED = [
  403,
  {
    message:
      'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
    documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api',
  },
  { 'retry-after': '60' },
] as const;

function valuesReads(source: string) {
  return nock(GITHUB_API)
    .get(`/repos/${APP}/contents/deploy%2Fvalues.yaml`)
    .query({ ref: source })
    .reply(200, 'replicaCount: 1\n', RAW)
    .get(`/repos/${APP}/contents/deploy%2Fvalues-production.yaml`)
    .query({ ref: source })
    .reply(200, 'replicaCount: 3\n', RAW);
}

function compareCalls(base: string, head: string) {
  return nock(GITHUB_API)
    .get(`/repos/${APP}/compare/${base}...${head}`)
    .query({ per_page: 20 })
    .reply(200, {
      html_url: `https://github.com/${APP}/compare/${base}...${head}`,
      total_commits: 1,
      commits: [
        {
          sha: head,
          html_url: `https://github.com/${APP}/commit/${head}`,
          commit: { message: 'Faster checkout', author: { name: 'Dev' } },
          author: { login: 'dev' },
        },
      ],
      files: [{ filename: 'src/checkout.ts' }],
    });
}

/** The IAC repository's API, authenticated with the IAC's own token. */
const iac = () =>
  nock(new URL(iacApi).origin, { reqheaders: { authorization: `token ${h.iacToken}` } });

const lookup = { state: 'open', head: `org:${BRANCH}`, base: 'main', per_page: 1 };

const pull = (number: number, head: string, state: 'open' | 'closed' = 'open') =>
  pullResponse(
    { number, webBase: `${new URL(iacApi).origin}/${IAC}`, head, headRef: BRANCH, baseRef: 'main' },
    state,
  );

async function deploy(source: string, branch: string, environment: string, id: number) {
  const calls = expectDeployCalls(APP, source, environment, id, 'replicaCount: 1\n');
  await deliverGithub(h, 'push', {
    ...githubPushPayload(APP, source),
    ref: `refs/heads/${branch}`,
  });
  await waitFor(() => calls.isDone(), { what: `the ${environment} deploy of ${source}` });
}

async function promotionRecords() {
  const { rows } = await h.dag.db.query<{
    number: number | null;
    state: string;
    pushed_head: string | null;
    hands_off: boolean;
    source_sha: string | null;
  }>('SELECT number, state, pushed_head, hands_off, source_sha FROM promotions ORDER BY id');
  return rows;
}

/**
 * The promotion job failed and waits for its retry: it runs now instead of after its backoff
 * (10 s and more), as the queue would run it then.
 */
async function rerunFailedPromotion(): Promise<void> {
  const waiting = async () => {
    const { rows } = await h.dag.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'retry'",
      [QUEUES.promote],
    );
    return rows[0]?.n ?? 0;
  };
  await waitFor(async () => (await waiting()) === 1, { what: 'the promotion job to fail once' });
  await h.dag.db.query(
    "UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND state = 'retry'",
    [QUEUES.promote],
  );
}

/** What the test expected happened, and nothing else: no request nock did not know. */
async function settled(): Promise<void> {
  await waitForQueueSettled(h);
  expect(h.dag.logs.join('')).not.toMatch(/Nock: No match|Disallowed net connect/);
}

beforeAll(async () => {
  mockGithubApp();
  h = await startHarness();
  await h.git.createRepo(IAC, { files: await fixtureFiles(FLUX_LAYOUT), dagBranches: true });
  iacApi = `${new URL(h.git.url(IAC)).origin}/api/v3`;
  const db = h.dag.db;
  await db.query(
    `INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ('iac', $1, $2, 'github')`,
    [h.git.url(IAC), h.iacToken],
  );
  kube = await startFakeKubeApiserver({ token: SA_TOKEN, crds: FLUX_CRDS });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
  await db.query(
    'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4)',
    ['k8s', kube.url, SA_TOKEN, kube.caCert],
  );
  await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
    `https://github.com/${APP}`,
  ]);
  await db.query(`
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
    VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'apps', 'staging'),
           (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'apps', 'production');
    INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (1, 1, 2);
  `);
  await deploy(sha(0), 'main', 'production', 100);
  await deploy(sha(1), 'develop', 'staging', 101);
});

afterEach(expectNoPendingGithubCalls);

afterAll(async () => {
  await h?.stop();
  await kube?.stop();
  restoreNetwork();
});

describe('a promotion job rerun after GitHub refused a request, on GitHub', () => {
  it('opens exactly one PR when POST /pulls was rate limited, on the branch it pushed before', async () => {
    const commentId = nextComment();
    const first = [
      commandCalls(commentId),
      valuesReads(sha(1)),
      compareCalls(sha(0), sha(1)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(lookup)
        .reply(200, [])
        .post(`/api/v3/repos/${IAC}/pulls`, (b) => b.head === BRANCH && b.base === 'main')
        .reply(...RATE_LIMITED),
    ];
    await promote('/promote staging production');
    await waitFor(() => first.every((s) => s.isDone()), { what: 'the rate-limited POST /pulls' });
    const pushed = await h.git.head(IAC, BRANCH);
    // What DAG pushed is on record before GitHub was asked for the PR.
    expect(await promotionRecords()).toEqual([
      { number: null, state: 'open', pushed_head: pushed, hands_off: false, source_sha: sha(1) },
    ]);

    const pushes = h.git.pushes;
    const rerun = [
      valuesReads(sha(1)),
      compareCalls(sha(0), sha(1)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(lookup)
        .reply(200, [])
        .post(
          `/api/v3/repos/${IAC}/pulls`,
          (b) =>
            b.head === BRANCH &&
            b.base === 'main' &&
            String(b.title).startsWith(`Promote shop ${sha(1).slice(0, 7)} from staging`) &&
            String(b.body).startsWith('<!-- dag:promotion {'),
        )
        .reply(201, pull(12, pushed))
        .post(`/api/v3/repos/${IAC}/issues/12/labels`, { labels: ['dag', 'promotion'] })
        .reply(200, []),
      replyCalls(commentId, '+1', /opened the promotion .*\/org\/iac\/pull\/12/),
    ];
    await rerunFailedPromotion();
    await waitFor(() => rerun.every((s) => s.isDone()), { what: 'the PR opened by the rerun' });
    await settled();

    // The branch DAG pushed is the PR's, as it was: not pushed again, not taken for a person's.
    expect(await h.git.head(IAC, BRANCH)).toBe(pushed);
    expect(h.git.pushes).toBe(pushes);
    expect(await promotionRecords()).toEqual([
      { number: 12, state: 'open', pushed_head: pushed, hands_off: false, source_sha: sha(1) },
    ]);
  });

  it('promotes the next release: an update rate limited after the push is rerun, not handed off', async () => {
    await deploy(sha(2), 'develop', 'staging', 102);
    const before = await h.git.head(IAC, BRANCH);
    const commentId = nextComment();
    const first = [
      commandCalls(commentId),
      valuesReads(sha(2)),
      compareCalls(sha(0), sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, before))
        .patch(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(...RATE_LIMITED),
    ];
    await promote();
    await waitFor(() => first.every((s) => s.isDone()), { what: 'the rate-limited update' });
    const pushed = await h.git.head(IAC, BRANCH);
    expect(pushed).not.toBe(before);

    const pushes = h.git.pushes;
    const rerun = [
      valuesReads(sha(2)),
      compareCalls(sha(0), sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, pushed))
        .patch(
          `/api/v3/repos/${IAC}/pulls/12`,
          (b) => String(b.title).includes(sha(2).slice(0, 7)) && String(b.body).includes(sha(2)),
        )
        .reply(200, pull(12, pushed)),
      replyCalls(commentId, '+1', /updated the promotion .*\/pull\/12/),
    ];
    await rerunFailedPromotion();
    await waitFor(() => rerun.every((s) => s.isDone()), { what: 'the PR updated by the rerun' });
    await settled();

    expect(await h.git.head(IAC, BRANCH)).toBe(pushed);
    expect(h.git.pushes).toBe(pushes);
    expect(await h.git.git(IAC, ['rev-list', '--count', `main..${BRANCH}`])).toBe('1');
    expect(await promotionRecords()).toEqual([
      { number: 12, state: 'open', pushed_head: pushed, hands_off: false, source_sha: sha(2) },
    ]);
  });

  it('keeps the PR it opened when labelling it was rate limited: the rerun finds it, opens none', async () => {
    // A person closes PR 12: the next promotion cleans up and opens a new one.
    const closing = await h.git.head(IAC, BRANCH);
    const commentId = nextComment();
    let body = '';
    const first = [
      commandCalls(commentId),
      valuesReads(sha(2)),
      compareCalls(sha(0), sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls/12`)
        .reply(200, pull(12, closing, 'closed'))
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(lookup)
        .reply(200, [])
        .post(`/api/v3/repos/${IAC}/pulls`, (b) => Boolean((body = String(b.body))))
        .reply(201, () => ({ ...pull(13, 'f'.repeat(40)), body }))
        .post(`/api/v3/repos/${IAC}/issues/13/labels`, { labels: ['dag', 'promotion'] })
        .reply(...RATE_LIMITED),
    ];
    await promote();
    await waitFor(() => first.every((s) => s.isDone()), { what: 'the rate-limited labels' });
    const pushed = await h.git.head(IAC, BRANCH);
    expect(body).toContain(sha(2));

    // GitHub has the PR: the rerun's lookup finds it, with DAG's metadata in its body.
    const pushes = h.git.pushes;
    const rerun = [
      valuesReads(sha(2)),
      compareCalls(sha(0), sha(2)),
      iac()
        .get(`/api/v3/repos/${IAC}/pulls`)
        .query(lookup)
        .reply(200, () => [{ ...pull(13, pushed), body }])
        .patch(`/api/v3/repos/${IAC}/pulls/13`, (b) => String(b.body).includes(sha(2)))
        .reply(200, () => ({ ...pull(13, pushed), body })),
      replyCalls(commentId, '+1', /opened the promotion .*\/pull\/13/),
    ];
    await rerunFailedPromotion();
    await waitFor(() => rerun.every((s) => s.isDone()), { what: 'the PR found by the rerun' });
    await settled();

    expect(await h.git.head(IAC, BRANCH)).toBe(pushed);
    expect(h.git.pushes).toBe(pushes);
    expect(await promotionRecords()).toEqual([
      { number: 12, state: 'closed', pushed_head: closing, hands_off: false, source_sha: sha(2) },
      { number: 13, state: 'open', pushed_head: pushed, hands_off: false, source_sha: sha(2) },
    ]);
  });
});
