// publishFixPullRequest for a change verified in the IAC repository, against GitHub through the
// real GitHubPlatform, with nock at GitHub's HTTP boundary: the pull request is opened on the
// IAC repository, from DAG's IAC fix branch into the environment's IAC branch.

import nock from 'nock';
import { ProbotOctokit } from 'probot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { parseFixMetadata } from '../../src/fix/pr-body.ts';
import { proposalFingerprint, type Proposal } from '../../src/fix/proposal.ts';
import { publishFixPullRequest, type PublishFixRequest } from '../../src/fix/publish.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { documented, GITHUB_BODIES, githubViolations } from '../helpers/github-contract.ts';
import { app, masker, REGISTERED, staging, TIP } from './publish-fixture.ts';

const TIP_TREE = '2222222222222222222222222222222222222222';
const TREE = '3333333333333333333333333333333333333333';
const COMMIT = '4444444444444444444444444444444444444444';
const BRANCH = 'dag/fix-iac/my-app/staging';
const REF = '/repos/octo-org/fleet/git/ref/heads%2Fdag%2Ffix-iac%2Fmy-app%2Fstaging';
const POLICY_PATH = 'clusters/staging/policies/allow-db-egress.yaml';
const POLICY = [
  'apiVersion: networking.k8s.io/v1',
  'kind: NetworkPolicy',
  'metadata:',
  '  name: allow-db-egress',
  '  namespace: apps',
  'spec:',
  '  podSelector: {}',
  '  egress:',
  '    - ports:',
  '        - port: 5432',
  '',
].join('\n');

const repo: RepoRef = {
  provider: 'github',
  fullName: 'octo-org/fleet',
  urls: ['https://github.com/octo-org/fleet'],
  webUrl: 'https://github.com/octo-org/fleet',
};

const proposal: Proposal = {
  target: { app: 'my-app', environment: 'staging' },
  change: { kind: 'files', repository: 'iac', files: [{ path: POLICY_PATH, content: POLICY }] },
  title: "Allow my-app's egress to the database in staging",
  rationale: `Connections to db:5432 time out: the namespace denies all egress.\nThe agent read postgres://app:${REGISTERED}@db:5432/app from the pod's environment.`,
  evidence: [{ kind: 'log', text: 'dial tcp 10.0.3.7:5432: i/o timeout' }],
  agent: { name: 'sre-agent', model: 'claude-sonnet-4' },
};

function request(): PublishFixRequest {
  return {
    proposalId: 9,
    fingerprint: proposalFingerprint(proposal),
    proposal,
    app,
    environment: staging,
    verified: {
      ok: true,
      where: 'iac-repo',
      iac: { repo: 'octo-org/fleet', branch: 'main', sha: TIP },
      changedFiles: { [POLICY_PATH]: { before: null, after: POLICY } },
      sourceDiff: `--- /dev/null\n+++ ${POLICY_PATH}\n@@ -0,0 +1,10 @@\n${POLICY.trimEnd()
        .split('\n')
        .map((line) => `+${line}`)
        .join('\n')}\n`,
      bundles: {},
      unchangedEnvironments: [],
      checks: [
        `paths: ${POLICY_PATH} (in octo-org/fleet on main, outside every folder DAG renders there: clusters/staging/my-app/); every changed YAML file parses`,
        "scope: staging's IAC repository octo-org/fleet only; DAG renders nothing from these files",
        'dry run: not run (DAG does not know which reconciler applies these files)',
      ],
    },
    sender: { tokenId: 3, tokenName: 'sre-agent-prod' },
    tip: { sha: TIP },
  };
}

const github = () =>
  nock('https://api.github.com', { reqheaders: { authorization: 'token ghs_test' } });

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

describe('publishFixPullRequest for the IAC repository on GitHub', () => {
  it('opens the pull request on the IAC repository into its branch, saying why it is there', async () => {
    github()
      .get('/repos/octo-org/fleet/pulls')
      .query({ state: 'open', head: `octo-org:${BRANCH}`, base: 'main', per_page: '1' })
      .reply(200, []);
    github().get(REF).times(2).reply(404, { message: 'Not Found' });
    github()
      .get(`/repos/octo-org/fleet/git/commits/${TIP}`)
      .reply(200, { sha: TIP, tree: { sha: TIP_TREE } });
    github()
      .post(
        '/repos/octo-org/fleet/git/trees',
        documented(GITHUB_BODIES.createTree, (b) => {
          expect(b).toEqual({
            base_tree: TIP_TREE,
            tree: [{ path: POLICY_PATH, mode: '100644', type: 'blob', content: POLICY }],
          });
          return true;
        }),
      )
      .reply(201, { sha: TREE });
    github()
      .post(
        '/repos/octo-org/fleet/git/commits',
        documented(GITHUB_BODIES.createCommit, (b) => b.tree === TREE && b.parents?.join() === TIP),
      )
      .reply(201, { sha: COMMIT });
    github()
      .post(
        '/repos/octo-org/fleet/git/refs',
        documented(
          GITHUB_BODIES.createRef,
          (b) => b.ref === `refs/heads/${BRANCH}` && b.sha === COMMIT,
        ),
      )
      .reply(201, { ref: `refs/heads/${BRANCH}`, object: { sha: COMMIT } });
    let body = '';
    github()
      .post(
        '/repos/octo-org/fleet/pulls',
        documented(GITHUB_BODIES.createPull, (b) => {
          body = b.body ?? '';
          return b.head === BRANCH && b.base === 'main' && b.title === proposal.title;
        }),
      )
      .reply(201, {
        number: 31,
        html_url: 'https://github.com/octo-org/fleet/pull/31',
        state: 'open',
        merged_at: null,
        merge_commit_sha: null,
        title: proposal.title,
        body: '',
        head: { ref: BRANCH, sha: COMMIT },
        base: { ref: 'main' },
      });
    github()
      .post(
        '/repos/octo-org/fleet/issues/31/labels',
        documented(GITHUB_BODIES.addLabels, (b) => b.labels.join() === 'dag,ai-proposal'),
      )
      .reply(200, []);

    const platform = new GitHubPlatform(
      new ProbotOctokit({
        auth: { token: 'ghs_test' },
        throttle: { enabled: false },
        retry: { enabled: false },
      }),
    );
    expect(
      await publishFixPullRequest(request(), { platform, repo, mask: masker(), log: quiet }),
    ).toEqual({
      state: 'open',
      number: 31,
      url: 'https://github.com/octo-org/fleet/pull/31',
      branch: BRANCH,
      pushedHead: COMMIT,
    });
    expect(parseFixMetadata(body)).toMatchObject({ proposal: 9, pushedHead: COMMIT });
    expect(body).not.toContain(REGISTERED);
    await expect(body).toMatchFileSnapshot('../golden/pr-bodies/fix-iac.md');
  });
});
