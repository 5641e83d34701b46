// publishFixPullRequest against GitLab through the real GitLabPlatform (gitbeaker with DAG's
// requester), with nock at GitLab's HTTP boundary: every request expected, none left over, and
// every request checked against GitLab's documented contract (GitLabContract).

import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { parseFixMetadata, renderFixMetadata } from '../../src/fix/pr-body.ts';
import { publishFixPullRequest } from '../../src/fix/publish.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { masker, REGISTERED, request, TIP, TOKEN } from './publish-fixture.ts';

const COMMIT = '4444444444444444444444444444444444444444';
const DAG_HEAD = '5555555555555555555555555555555555555555';
const PERSON_HEAD = '6666666666666666666666666666666666666666';
const BRANCH = 'dag/fix/my-app/staging';
const GITLAB = 'https://gitlab.example.com';
const PROJECT = '/api/v4/projects/platform%2Fmy-app';
const BRANCH_PATH = `${PROJECT}/repository/branches/dag%2Ffix%2Fmy-app%2Fstaging`;

const repo: RepoRef = {
  provider: 'gitlab',
  fullName: 'platform/my-app',
  urls: ['https://gitlab.example.com/platform/my-app.git'],
  webUrl: 'https://gitlab.example.com/platform/my-app',
};
const contract = new GitLabContract();
const gitlab = () => contract.nock(GITLAB, { reqheaders: { 'private-token': 'glpat-x' } });
const deps = () => ({
  platform: new GitLabPlatform({
    url: GITLAB,
    token: 'glpat-x',
    backoff: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
  }),
  repo,
  mask: masker(),
  log: quiet,
});

function mergeRequest(description: string, sha: string, title = 't') {
  return {
    id: 84,
    iid: 5,
    project_id: 3,
    title,
    description,
    state: 'opened',
    target_branch: 'develop',
    source_branch: BRANCH,
    source_project_id: 3,
    target_project_id: 3,
    sha,
    merge_commit_sha: null,
    squash_commit_sha: null,
    web_url: 'https://gitlab.example.com/platform/my-app/-/merge_requests/5',
  };
}

const openBody = (extra: Record<string, string> = {}) =>
  `${renderFixMetadata({ v: 1, proposal: 7, fingerprint: request().fingerprint, pushedHead: DAG_HEAD, ...extra })}\n## Raise my-app's memory limit in staging to 512Mi\n`;

function findOpen(requests: unknown[]) {
  gitlab()
    .get(`${PROJECT}/merge_requests`)
    .query({ state: 'opened', source_branch: BRANCH, target_branch: 'develop', per_page: '20' })
    .reply(200, requests);
}

function commit(memory: string, force: boolean) {
  gitlab()
    .post(`${PROJECT}/repository/commits`, {
      branch: BRANCH,
      commit_message: `Raise my-app's memory limit in staging to ${memory}\n\nDag-Proposal: 7\nDag-Fingerprint: ${request(memory).fingerprint}\nDag-Agent: sre-agent (claude-sonnet-4)\n`,
      actions: [
        {
          action: 'update',
          file_path: 'deploy/values-staging.yaml',
          content: `resources:\n  limits:\n    memory: ${memory}\nreplicaCount: 1\n`,
          encoding: 'text',
        },
      ],
      start_sha: TIP,
      ...(force ? { force: true } : {}),
    })
    .reply(201, { id: COMMIT });
}

function dagBody(body: unknown, memory: string): boolean {
  expect(parseFixMetadata(String(body))).toEqual({
    v: 1,
    proposal: 7,
    fingerprint: request(memory).fingerprint,
    pushedHead: COMMIT,
  });
  expect(body).not.toContain(REGISTERED);
  expect(body).not.toContain(TOKEN);
  return true;
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  // Cleaned before asserting: one test's leftovers must not fail the next.
  const pending = nock.pendingMocks();
  nock.cleanAll();
  const broken = (() => {
    try {
      contract.assertKept();
      return null;
    } catch (error) {
      return String(error);
    }
  })();
  expect({ pending, broken }).toEqual({ pending: [], broken: null });
});
afterAll(() => nock.enableNetConnect());

describe('publishFixPullRequest on GitLab', () => {
  it('opens a merge request from a new branch with one commit, labelled dag and ai-proposal', async () => {
    findOpen([]);
    gitlab().get(BRANCH_PATH).times(2).reply(404, { message: '404 Branch Not Found' });
    commit('512Mi', false);
    gitlab()
      .post(
        `${PROJECT}/merge_requests`,
        (b: Record<string, unknown>) =>
          b.source_branch === BRANCH &&
          b.target_branch === 'develop' &&
          b.labels === 'dag,ai-proposal' &&
          dagBody(b.description, '512Mi'),
      )
      .reply(201, mergeRequest('', COMMIT));
    expect(await publishFixPullRequest(request(), deps())).toEqual({
      state: 'open',
      number: 5,
      url: 'https://gitlab.example.com/platform/my-app/-/merge_requests/5',
      branch: BRANCH,
      pushedHead: COMMIT,
    });
  });

  it('the same proposal again: unchanged, nothing written', async () => {
    findOpen([mergeRequest(openBody(), DAG_HEAD)]);
    expect(await publishFixPullRequest(request('512Mi', 9), deps())).toMatchObject({
      state: 'unchanged',
      number: 5,
      pushedHead: DAG_HEAD,
    });
  });

  it('a revised proposal: one new commit replaces DAG’s, the description is rewritten', async () => {
    findOpen([mergeRequest(openBody(), DAG_HEAD)]);
    gitlab()
      .get(BRANCH_PATH)
      .reply(200, { name: BRANCH, commit: { id: DAG_HEAD } });
    commit('1Gi', true);
    gitlab()
      .put(
        `${PROJECT}/merge_requests/5`,
        (b: Record<string, unknown>) =>
          b.title === "Raise my-app's memory limit in staging to 1Gi" &&
          dagBody(b.description, '1Gi'),
      )
      .reply(200, mergeRequest('', COMMIT));
    expect(await publishFixPullRequest(request('1Gi'), deps())).toMatchObject({
      state: 'updated',
      number: 5,
      pushedHead: COMMIT,
    });
  });

  it('a person pushed: one note, nothing committed; the metadata remembers it', async () => {
    findOpen([mergeRequest(openBody(), PERSON_HEAD)]);
    gitlab()
      .post(`${PROJECT}/merge_requests/5/notes`, (b: Record<string, unknown>) =>
        String(b.body).includes('that it did not push'),
      )
      .reply(201, { id: 1 });
    gitlab()
      .put(
        `${PROJECT}/merge_requests/5`,
        (b: Record<string, unknown>) => b.description === openBody({ stoppedAt: PERSON_HEAD }),
      )
      .reply(200, mergeRequest(openBody({ stoppedAt: PERSON_HEAD }), PERSON_HEAD));
    expect(await publishFixPullRequest(request('1Gi'), deps())).toMatchObject({
      state: 'person-pushed',
      number: 5,
      branch: BRANCH,
    });
  });
});
