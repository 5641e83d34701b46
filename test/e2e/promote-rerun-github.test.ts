// A promotion job that stops between DAG's push and GitHub's answer (a secondary rate limit on
// POST /pulls, on the labels, on the update) and is rerun: exactly one PR, on the branch DAG
// pushed, which it knows as its own. Signed webhooks in, the real job queue, a real IAC
// repository over git's smart HTTP, and nock at the GitHub API boundary: any request the rerun
// was not expected to make (a second POST /pulls, a hands-off comment) fails the test.

import type nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../src/jobs/queue.ts';
import { waitFor } from '../helpers/wait.ts';
import { expectNoPendingGithubCalls } from './github.ts';
import { waitForQueueSettled, type Harness } from './harness.ts';
import { folderPromotion, nextComment, promotionCommands } from './promotion.ts';

const APP = 'org/shop';
const IAC = 'org/iac';
const BRANCH = 'dag/promote/shop/staging-to-production';
const ISSUE = 5;
const sha = (n: number) => `c${n}`.repeat(20);

let h: Harness;
const world = folderPromotion({ app: APP, iac: IAC, branch: BRANCH });
const { deploy, promotionRecords, valuesReads, compareCalls, iac, pull } = world;
const { openPullQuery: lookup } = world;

const { promote, commandCalls, replyCalls } = promotionCommands(world.harness, APP, ISSUE);

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

/**
 * The promotion job failed and waits for its retry: it runs now instead of after its backoff
 * (10 s and more), as the queue would run it then; once it made the calls of `scopes`, DAG
 * settles.
 */
async function rerunFailedPromotion(scopes: nock.Scope[], what: string): Promise<void> {
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
  await waitFor(() => scopes.every((s) => s.isDone()), { what });
  await settled();
}

/** What the test expected happened, and nothing else: no request nock did not know. */
async function settled(): Promise<void> {
  await waitForQueueSettled(h);
  expect(h.dag.logs.join('')).not.toMatch(/Nock: No match|Disallowed net connect/);
}

beforeAll(async () => {
  h = await world.start({ production: sha(0), staging: sha(1) });
});

afterEach(expectNoPendingGithubCalls);

afterAll(world.stop);

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
    await rerunFailedPromotion(rerun, 'the PR opened by the rerun');

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
    await rerunFailedPromotion(rerun, 'the PR updated by the rerun');

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
    await rerunFailedPromotion(rerun, 'the PR found by the rerun');

    expect(await h.git.head(IAC, BRANCH)).toBe(pushed);
    expect(h.git.pushes).toBe(pushes);
    expect(await promotionRecords()).toEqual([
      { number: 12, state: 'closed', pushed_head: closing, hands_off: false, source_sha: sha(2) },
      { number: 13, state: 'open', pushed_head: pushed, hands_off: false, source_sha: sha(2) },
    ]);
  });
});
