import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import {
  BranchMovedError,
  ForeignBranchError,
  type CommitFilesInput,
} from '../../src/platform/types.ts';
import { documented, GITHUB_BODIES, githubViolations } from '../helpers/github-contract.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';

const BASE = '1111111111111111111111111111111111111111';
const BASE_TREE = '2222222222222222222222222222222222222222';
const TREE = '3333333333333333333333333333333333333333';
const COMMIT = '4444444444444444444444444444444444444444';
const DAG_HEAD = '5555555555555555555555555555555555555555';
const PERSON_HEAD = '6666666666666666666666666666666666666666';

const input = (fields: Partial<CommitFilesInput> = {}): CommitFilesInput => ({
  branch: 'dag/fix/shop/staging',
  base: BASE,
  expectedHead: null,
  message: 'Raise the memory limit\n\nDag-Proposal: 7',
  files: {
    'deploy/values-staging.yaml': {
      content: 'resources:\n  limits:\n    memory: 512Mi\n',
      existsAtBase: true,
    },
    'deploy/new.yaml': { content: 'a: 1\n', existsAtBase: false },
    'deploy/old.yaml': { content: null, existsAtBase: true },
  },
  ...fields,
});

// ---- GitHub: the Git Data API, each request body checked against GitHub's REST documentation.

const {
  createTree: TreeBody,
  createCommit: CommitBody,
  createRef: CreateRefBody,
  updateRef: UpdateRefBody,
} = GITHUB_BODIES;

const ghRepo: RepoRef = {
  provider: 'github',
  fullName: 'octo-org/shop',
  urls: ['https://github.com/octo-org/shop'],
  webUrl: 'https://github.com/octo-org/shop',
};
const github = () =>
  nock('https://api.github.com', { reqheaders: { authorization: 'token ghs_test' } });
const ghPlatform = () =>
  new GitHubPlatform(
    new ProbotOctokit({
      auth: { token: 'ghs_test' },
      throttle: { enabled: false },
      retry: { enabled: false },
    }),
  );
const REF = '/repos/octo-org/shop/git/ref/heads%2Fdag%2Ffix%2Fshop%2Fstaging';

function ghTreeAndCommit() {
  github()
    .get(`/repos/octo-org/shop/git/commits/${BASE}`)
    .reply(200, { sha: BASE, tree: { sha: BASE_TREE }, parents: [], message: 'm' });
  github()
    .post(
      '/repos/octo-org/shop/git/trees',
      documented(TreeBody, (body) => {
        expect(body).toEqual({
          base_tree: BASE_TREE,
          tree: [
            {
              path: 'deploy/values-staging.yaml',
              mode: '100644',
              type: 'blob',
              content: 'resources:\n  limits:\n    memory: 512Mi\n',
            },
            { path: 'deploy/new.yaml', mode: '100644', type: 'blob', content: 'a: 1\n' },
            { path: 'deploy/old.yaml', mode: '100644', type: 'blob', sha: null },
          ],
        });
        return true;
      }),
    )
    .reply(201, { sha: TREE, tree: [] });
  github()
    .post(
      '/repos/octo-org/shop/git/commits',
      documented(CommitBody, (body) => {
        expect(body).toEqual({ message: input().message, tree: TREE, parents: [BASE] });
        return true;
      }),
    )
    .reply(201, { sha: COMMIT });
}

describe('GitHubPlatform.commitFiles', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
    const pending = nock.pendingMocks();
    nock.cleanAll();
    expect({ pending, violations: githubViolations.splice(0) }).toEqual({
      pending: [],
      violations: [],
    });
  });
  afterAll(() => nock.enableNetConnect());

  it('creates the branch at one new commit on the base, with every file in one tree', async () => {
    github().get(REF).reply(404, { message: 'Not Found' });
    ghTreeAndCommit();
    github()
      .post(
        '/repos/octo-org/shop/git/refs',
        documented(
          CreateRefBody,
          (b) => b.ref === 'refs/heads/dag/fix/shop/staging' && b.sha === COMMIT,
        ),
      )
      .reply(201, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: COMMIT } });
    expect(await ghPlatform().commitFiles(ghRepo, input())).toEqual({ sha: COMMIT });
  });

  it("force-moves DAG's branch when it is where DAG left it", async () => {
    github()
      .get(REF)
      .reply(200, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: DAG_HEAD } });
    ghTreeAndCommit();
    github()
      .patch(
        '/repos/octo-org/shop/git/refs/heads%2Fdag%2Ffix%2Fshop%2Fstaging',
        documented(UpdateRefBody, (b) => b.sha === COMMIT && b.force === true),
      )
      .reply(200, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: COMMIT } });
    expect(await ghPlatform().commitFiles(ghRepo, input({ expectedHead: DAG_HEAD }))).toEqual({
      sha: COMMIT,
    });
  });

  it('writes nothing when a person pushed to the branch', async () => {
    github()
      .get(REF)
      .reply(200, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: PERSON_HEAD } });
    const error = await ghPlatform()
      .commitFiles(ghRepo, input({ expectedHead: DAG_HEAD }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BranchMovedError);
    expect(error).toMatchObject({ actualHead: PERSON_HEAD, status: 409 });
  });

  it('writes nothing when the branch exists and DAG expected none', async () => {
    github()
      .get(REF)
      .reply(200, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: PERSON_HEAD } });
    await expect(ghPlatform().commitFiles(ghRepo, input())).rejects.toBeInstanceOf(
      BranchMovedError,
    );
  });

  it('says the branch moved when someone created it between the read and the write', async () => {
    github().get(REF).reply(404, { message: 'Not Found' });
    ghTreeAndCommit();
    github()
      .post('/repos/octo-org/shop/git/refs', documented(CreateRefBody))
      .reply(422, { message: 'Reference already exists' });
    github()
      .get(REF)
      .reply(200, { ref: 'refs/heads/dag/fix/shop/staging', object: { sha: PERSON_HEAD } });
    await expect(ghPlatform().commitFiles(ghRepo, input())).rejects.toMatchObject({
      actualHead: PERSON_HEAD,
    });
  });
});

// ---- GitLab: the commits API, checked against GitLab's documented contract.

const contract = new GitLabContract();
const GITLAB = 'https://gitlab.example.com';
const PROJECT = '/api/v4/projects/platform%2Fshop';
const BRANCH_PATH = `${PROJECT}/repository/branches/dag%2Ffix%2Fshop%2Fstaging`;
const glRepo: RepoRef = {
  provider: 'gitlab',
  fullName: 'platform/shop',
  urls: ['https://gitlab.example.com/platform/shop.git'],
  webUrl: 'https://gitlab.example.com/platform/shop',
};
const gitlab = () => contract.nock(GITLAB, { reqheaders: { 'private-token': 'glpat-x' } });
const glPlatform = () =>
  new GitLabPlatform({
    url: GITLAB,
    token: 'glpat-x',
    backoff: { attempts: 1, baseDelayMs: 5, maxDelayMs: 50 },
  });
const branch = (sha: string) => ({ name: 'dag/fix/shop/staging', commit: { id: sha } });
const actions = [
  {
    action: 'update',
    file_path: 'deploy/values-staging.yaml',
    content: 'resources:\n  limits:\n    memory: 512Mi\n',
    encoding: 'text',
  },
  { action: 'create', file_path: 'deploy/new.yaml', content: 'a: 1\n', encoding: 'text' },
  { action: 'delete', file_path: 'deploy/old.yaml' },
];

describe('GitLabPlatform.commitFiles', () => {
  beforeAll(() => nock.disableNetConnect());
  afterEach(() => {
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

  it('creates the branch with one commit of every action on the base', async () => {
    gitlab().get(BRANCH_PATH).reply(404, { message: '404 Branch Not Found' });
    gitlab()
      .post(`${PROJECT}/repository/commits`, {
        branch: 'dag/fix/shop/staging',
        commit_message: input().message,
        actions,
        start_sha: BASE,
      })
      .reply(201, { id: COMMIT });
    expect(await glPlatform().commitFiles(glRepo, input())).toEqual({ sha: COMMIT });
  });

  it("force-moves DAG's branch when it is where DAG left it", async () => {
    gitlab().get(BRANCH_PATH).reply(200, branch(DAG_HEAD));
    gitlab()
      .post(`${PROJECT}/repository/commits`, {
        branch: 'dag/fix/shop/staging',
        commit_message: input().message,
        actions,
        start_sha: BASE,
        force: true,
      })
      .reply(201, { id: COMMIT });
    expect(await glPlatform().commitFiles(glRepo, input({ expectedHead: DAG_HEAD }))).toEqual({
      sha: COMMIT,
    });
  });

  it('writes nothing when a person pushed to the branch', async () => {
    gitlab().get(BRANCH_PATH).reply(200, branch(PERSON_HEAD));
    await expect(
      glPlatform().commitFiles(glRepo, input({ expectedHead: DAG_HEAD })),
    ).rejects.toMatchObject({ name: 'BranchMovedError', actualHead: PERSON_HEAD });
  });

  it('says the branch moved when someone created it between the read and the write', async () => {
    gitlab().get(BRANCH_PATH).reply(404, { message: '404 Branch Not Found' });
    gitlab()
      .post(`${PROJECT}/repository/commits`)
      .reply(400, { message: 'A branch called dag/fix/shop/staging already exists.' });
    gitlab().get(BRANCH_PATH).reply(200, branch(PERSON_HEAD));
    await expect(glPlatform().commitFiles(glRepo, input())).rejects.toMatchObject({
      actualHead: PERSON_HEAD,
    });
  });
});

// ---- Both: DAG writes only its own branches. No interceptor is set: a request would fail
// with nock's NetConnectNotAllowedError instead of the refusal.

describe.each([
  { name: 'GitHubPlatform', platform: ghPlatform, repo: ghRepo },
  { name: 'GitLabPlatform', platform: glPlatform, repo: glRepo },
])('$name.commitFiles outside dag/', ({ platform, repo }) => {
  beforeAll(() => nock.disableNetConnect());
  afterAll(() => nock.enableNetConnect());

  it.each(['main', 'master', 'feature/dag/x', 'dag', 'dag/', 'Dag/fix/x', 'refs/heads/dag/x'])(
    'refuses %s before any request',
    async (branch) => {
      const error = await platform()
        .commitFiles(repo, input({ branch, expectedHead: DAG_HEAD }))
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ForeignBranchError);
      expect(error).toMatchObject({ status: 403 });
      expect(String(error)).toContain(`not ${branch}`);
      expect(nock.pendingMocks()).toEqual([]);
    },
  );
});
