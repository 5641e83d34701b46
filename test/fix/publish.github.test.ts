// publishFixPullRequest against GitHub through the real GitHubPlatform (Probot's Octokit), with
// nock at GitHub's HTTP boundary: every request expected, none left over, and every body checked
// against GitHub's documented fields.

import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { parseFixMetadata, renderFixMetadata } from '../../src/fix/pr-body.ts';
import { publishFixPullRequest } from '../../src/fix/publish.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { documented, GITHUB_BODIES, githubViolations } from '../helpers/github-contract.ts';
import { masker, REGISTERED, request, TIP, TOKEN } from './publish-fixture.ts';

const TIP_TREE = '2222222222222222222222222222222222222222';
const TREE = '3333333333333333333333333333333333333333';
const COMMIT = '4444444444444444444444444444444444444444';
const DAG_HEAD = '5555555555555555555555555555555555555555';
const PERSON_HEAD = '6666666666666666666666666666666666666666';
const BRANCH = 'dag/fix/my-app/staging';
const REF = '/repos/octo-org/my-app/git/ref/heads%2Fdag%2Ffix%2Fmy-app%2Fstaging';

const repo: RepoRef = {
  provider: 'github',
  fullName: 'octo-org/my-app',
  urls: ['https://github.com/octo-org/my-app'],
  webUrl: 'https://github.com/octo-org/my-app',
};
const github = () =>
  nock('https://api.github.com', { reqheaders: { authorization: 'token ghs_test' } });
const deps = () => ({
  platform: new GitHubPlatform(
    new ProbotOctokit({
      auth: { token: 'ghs_test' },
      throttle: { enabled: false },
      retry: { enabled: false },
    }),
  ),
  repo,
  mask: masker(),
  log: quiet,
});

function pull(body: string, headSha: string) {
  return {
    number: 12,
    html_url: 'https://github.com/octo-org/my-app/pull/12',
    state: 'open',
    merged_at: null,
    merge_commit_sha: null,
    title: "Raise my-app's memory limit in staging to 512Mi",
    body,
    head: { ref: BRANCH, sha: headSha },
    base: { ref: 'develop' },
  };
}

/** The body of DAG's open pull request for the 512Mi proposal, pushed at DAG_HEAD. */
const openBody = (extra: Record<string, string> = {}) =>
  `${renderFixMetadata({ v: 1, proposal: 7, fingerprint: request().fingerprint, pushedHead: DAG_HEAD, ...extra })}\n## Raise my-app's memory limit in staging to 512Mi\n`;

function findOpen(pulls: unknown[]) {
  github()
    .get('/repos/octo-org/my-app/pulls')
    .query({ state: 'open', head: `octo-org:${BRANCH}`, base: 'develop', per_page: '1' })
    .reply(200, pulls);
}

/** The one commit: the tip's tree, the changed file inline, the tip as its only parent. */
function commit(memory: string) {
  github()
    .get(`/repos/octo-org/my-app/git/commits/${TIP}`)
    .reply(200, { sha: TIP, tree: { sha: TIP_TREE } });
  github()
    .post(
      '/repos/octo-org/my-app/git/trees',
      documented(GITHUB_BODIES.createTree, (b) => {
        expect(b).toEqual({
          base_tree: TIP_TREE,
          tree: [
            {
              path: 'deploy/values-staging.yaml',
              mode: '100644',
              type: 'blob',
              content: `resources:\n  limits:\n    memory: ${memory}\nreplicaCount: 1\n`,
            },
          ],
        });
        return true;
      }),
    )
    .reply(201, { sha: TREE });
  github()
    .post(
      '/repos/octo-org/my-app/git/commits',
      documented(GITHUB_BODIES.createCommit, (b) => {
        expect(b.parents).toEqual([TIP]);
        expect(b.tree).toBe(TREE);
        expect(b.message).toBe(
          `Raise my-app's memory limit in staging to ${memory}\n\nDag-Proposal: 7\nDag-Fingerprint: ${request(memory).fingerprint}\nDag-Agent: sre-agent (claude-sonnet-4)\n`,
        );
        return true;
      }),
    )
    .reply(201, { sha: COMMIT });
}

/** A body DAG sends: its metadata names the commit just pushed, and no secret is in it. */
function dagBody(body: string | undefined, memory: string): boolean {
  expect(parseFixMetadata(body ?? '')).toEqual({
    v: 1,
    proposal: 7,
    fingerprint: request(memory).fingerprint,
    pushedHead: COMMIT,
  });
  expect(body).not.toContain(REGISTERED);
  expect(body).not.toContain(TOKEN);
  expect(body).toContain(`+    memory: ${memory}`);
  return true;
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  // Cleaned before asserting: one test's leftovers must not fail the next.
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect({ pending, violations: githubViolations.splice(0) }).toEqual({
    pending: [],
    violations: [],
  });
});
afterAll(() => nock.enableNetConnect());

describe('publishFixPullRequest on GitHub', () => {
  it('opens a pull request from a new branch with one commit, labelled dag and ai-proposal', async () => {
    findOpen([]);
    // Read when looking for a branch left behind, and again by commitFiles' guard.
    github().get(REF).times(2).reply(404, { message: 'Not Found' });
    commit('512Mi');
    github()
      .post(
        '/repos/octo-org/my-app/git/refs',
        documented(
          GITHUB_BODIES.createRef,
          (b) => b.ref === `refs/heads/${BRANCH}` && b.sha === COMMIT,
        ),
      )
      .reply(201, { ref: `refs/heads/${BRANCH}`, object: { sha: COMMIT } });
    github()
      .post(
        '/repos/octo-org/my-app/pulls',
        documented(
          GITHUB_BODIES.createPull,
          (b) =>
            b.head === BRANCH &&
            b.base === 'develop' &&
            b.title === "Raise my-app's memory limit in staging to 512Mi" &&
            dagBody(b.body, '512Mi'),
        ),
      )
      .reply(201, pull('', COMMIT));
    github()
      .post(
        '/repos/octo-org/my-app/issues/12/labels',
        documented(GITHUB_BODIES.addLabels, (b) => b.labels.join() === 'dag,ai-proposal'),
      )
      .reply(200, []);
    expect(await publishFixPullRequest(request(), deps())).toEqual({
      state: 'open',
      number: 12,
      url: 'https://github.com/octo-org/my-app/pull/12',
      branch: BRANCH,
      pushedHead: COMMIT,
    });
  });

  it('the same proposal again is the same pull request: unchanged, nothing written', async () => {
    findOpen([pull(openBody(), DAG_HEAD)]);
    expect(await publishFixPullRequest(request('512Mi', 8), deps())).toEqual({
      state: 'unchanged',
      number: 12,
      url: 'https://github.com/octo-org/my-app/pull/12',
      branch: BRANCH,
      pushedHead: DAG_HEAD,
    });
  });

  it('a revised proposal: one new commit on the tip replaces DAG’s, and the body is rewritten', async () => {
    findOpen([pull(openBody(), DAG_HEAD)]);
    github()
      .get(REF)
      .reply(200, { object: { sha: DAG_HEAD } });
    commit('1Gi');
    github()
      .patch(
        '/repos/octo-org/my-app/git/refs/heads%2Fdag%2Ffix%2Fmy-app%2Fstaging',
        documented(GITHUB_BODIES.updateRef, (b) => b.sha === COMMIT && b.force === true),
      )
      .reply(200, { object: { sha: COMMIT } });
    github()
      .patch(
        '/repos/octo-org/my-app/pulls/12',
        documented(
          GITHUB_BODIES.updatePull,
          (b) =>
            b.title === "Raise my-app's memory limit in staging to 1Gi" && dagBody(b.body, '1Gi'),
        ),
      )
      .reply(200, pull('', COMMIT));
    expect(await publishFixPullRequest(request('1Gi'), deps())).toMatchObject({
      state: 'updated',
      number: 12,
      pushedHead: COMMIT,
    });
  });

  it('a person pushed: one comment, the branch untouched; the next revision says nothing more', async () => {
    findOpen([pull(openBody(), PERSON_HEAD)]);
    github()
      .post(
        '/repos/octo-org/my-app/issues/12/comments',
        documented(GITHUB_BODIES.createComment, (b) =>
          b.body.includes('found commits on `dag/fix/my-app/staging` that it did not push'),
        ),
      )
      .reply(201, { id: 1 });
    github()
      .patch(
        '/repos/octo-org/my-app/pulls/12',
        documented(
          GITHUB_BODIES.updatePull,
          (b) =>
            parseFixMetadata(b.body ?? '')?.stoppedAt === PERSON_HEAD &&
            b.body === openBody({ stoppedAt: PERSON_HEAD }),
        ),
      )
      .reply(200, pull(openBody({ stoppedAt: PERSON_HEAD }), PERSON_HEAD));
    const first = await publishFixPullRequest(request('1Gi'), deps());
    expect(first).toMatchObject({ state: 'person-pushed', number: 12, branch: BRANCH });

    findOpen([pull(openBody({ stoppedAt: PERSON_HEAD }), PERSON_HEAD)]);
    expect(await publishFixPullRequest(request('2Gi'), deps())).toMatchObject({
      state: 'person-pushed',
    });
  });

  it('a person pushed between the read and the commit: one comment, nothing written', async () => {
    findOpen([pull(openBody(), DAG_HEAD)]);
    github()
      .get(REF)
      .reply(200, { object: { sha: PERSON_HEAD } });
    github()
      .post('/repos/octo-org/my-app/issues/12/comments', documented(GITHUB_BODIES.createComment))
      .reply(201, { id: 1 });
    github()
      .patch('/repos/octo-org/my-app/pulls/12', documented(GITHUB_BODIES.updatePull))
      .reply(200, pull(openBody({ stoppedAt: PERSON_HEAD }), PERSON_HEAD));
    expect(await publishFixPullRequest(request('1Gi'), deps())).toMatchObject({
      state: 'person-pushed',
    });
  });

  it('an open pull request from the branch without DAG metadata is left alone', async () => {
    findOpen([pull('<!-- dag:fix {"v":1,"proposal":7,} -->\nmine', DAG_HEAD)]);
    expect(await publishFixPullRequest(request(), deps())).toMatchObject({
      state: 'person-pushed',
      reason: expect.stringContaining('no DAG metadata') as unknown,
    });
  });

  it('reuses a branch left behind by a merged pull request: it holds nothing new', async () => {
    findOpen([]);
    github()
      .get(REF)
      .times(2)
      .reply(200, { object: { sha: DAG_HEAD } });
    github()
      .get(`/repos/octo-org/my-app/compare/develop...${DAG_HEAD}`)
      .query({ per_page: '2' })
      .reply(200, {
        html_url: 'https://github.com/octo-org/my-app/compare/develop...x',
        total_commits: 0,
        commits: [],
        files: [],
      });
    commit('512Mi');
    github()
      .patch(
        '/repos/octo-org/my-app/git/refs/heads%2Fdag%2Ffix%2Fmy-app%2Fstaging',
        documented(GITHUB_BODIES.updateRef, (b) => b.sha === COMMIT && b.force === true),
      )
      .reply(200, { object: { sha: COMMIT } });
    github()
      .post('/repos/octo-org/my-app/pulls', documented(GITHUB_BODIES.createPull))
      .reply(201, pull('', COMMIT));
    github()
      .post('/repos/octo-org/my-app/issues/12/labels', documented(GITHUB_BODIES.addLabels))
      .reply(200, []);
    expect(await publishFixPullRequest(request(), deps())).toMatchObject({ state: 'open' });
  });

  it('reuses a branch left at a commit DAG pushed for an earlier proposal (its pull request closed)', async () => {
    findOpen([]);
    // No compare: the head is one DAG recorded pushing.
    github()
      .get(REF)
      .times(2)
      .reply(200, { object: { sha: DAG_HEAD } });
    commit('512Mi');
    github()
      .patch(
        '/repos/octo-org/my-app/git/refs/heads%2Fdag%2Ffix%2Fmy-app%2Fstaging',
        documented(GITHUB_BODIES.updateRef, (b) => b.sha === COMMIT && b.force === true),
      )
      .reply(200, { object: { sha: COMMIT } });
    github()
      .post('/repos/octo-org/my-app/pulls', documented(GITHUB_BODIES.createPull))
      .reply(201, pull('', COMMIT));
    github()
      .post('/repos/octo-org/my-app/issues/12/labels', documented(GITHUB_BODIES.addLabels))
      .reply(200, []);
    const input = { ...request(), ownHeads: [PERSON_HEAD, DAG_HEAD] };
    expect(await publishFixPullRequest(input, deps())).toMatchObject({ state: 'open' });
  });

  it('refuses a branch left with commits DAG did not push, writing nothing', async () => {
    findOpen([]);
    github()
      .get(REF)
      .reply(200, { object: { sha: PERSON_HEAD } });
    github()
      .get(`/repos/octo-org/my-app/compare/develop...${PERSON_HEAD}`)
      .query({ per_page: '2' })
      .reply(200, {
        html_url: 'https://github.com/octo-org/my-app/compare/develop...x',
        total_commits: 1,
        commits: [
          {
            sha: PERSON_HEAD,
            html_url: 'https://github.com/c',
            commit: { message: 'my own work', author: { name: 'mira' } },
            author: { login: 'mira' },
          },
        ],
        files: [],
      });
    await expect(publishFixPullRequest(request(), deps())).rejects.toThrow(
      /exists without an open pull request and has commits DAG did not push/,
    );
  });
});
