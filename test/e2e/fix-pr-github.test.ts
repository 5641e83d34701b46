// A fix proposal's pull request through its life on GitHub, end to end: DAG's HTTP server, job
// queue and Probot's Octokit against the GitHub stand-in (a GitHub Enterprise host with real git
// repositories), the IAC repository on a real git server. An agent's proposal opens a bot pull
// request on DAG's branch, a revision updates it (the earlier proposal superseded), a person's
// push stops DAG (one comment), and the merge, announced as GitHub announces it, marks the
// proposals merged and deploys the fixed values through the push.

import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { SqlFixProposalStore, type FixProposalRecord } from '../../src/store/fix-proposals.ts';
import { startGitHubStandIn, type GitHubStandIn } from '../helpers/github-stand-in.ts';
import { testPrivateKey } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';
import { startHarness, waitForQueueSettled, type Harness } from './harness.ts';

const APP = 'org/shop';
const BRANCH = 'dag/fix/shop/staging';
const INSTALLATION = 4711;

let gh: GitHubStandIn;
let h: Harness;
let proposals: SqlFixProposalStore;
let secret: string;

beforeAll(async () => {
  gh = await startGitHubStandIn({ appId: 4242, privateKey: testPrivateKey });
  await gh.createRepo(APP, {
    defaultBranch: 'main',
    files: { 'deploy/values.yaml': 'replicaCount: 1\nresources:\n  limits:\n    memory: 128Mi\n' },
  });
  gh.install(INSTALLATION, 'org');
  h = await startHarness({ GHE_HOST: gh.host, GHE_PROTOCOL: 'http' });
  const db = h.dag.db;
  await db.query(
    "INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ('iac', $1, $2, 'github')",
    [h.git.url('iac'), h.iacToken],
  );
  await db.query(
    "INSERT INTO clusters (name, api_url) VALUES ('staging', 'https://k8s.example.com')",
  );
  await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
    gh.repoUrl(APP),
  ]);
  await db.query(
    `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
     VALUES (1, 'main', 1, 'clusters/staging/shop', 1, 'flux', 'apps', 'staging')`,
  );
  proposals = new SqlFixProposalStore(db);
  // A token issued on DAG's database, as `dag tokens create` issues it.
  const tokens = new SqlApiTokenStore(db, {
    findApp: async () => undefined,
    listApps: async () => [],
    listEnvironments: async () => [],
  });
  ({ secret } = await tokens.create({
    name: 'sre-agent',
    permission: 'propose',
    scope: { all: true },
    lifetimeMs: 3_600_000,
  }));
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await gh?.stop();
});

/** Sends a proposal raising the memory limit to `memory`; its id. */
async function propose(memory: string): Promise<number> {
  const res = await fetch(`${h.dag.url}/api/v1/fix-proposals`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
    body: JSON.stringify({
      target: { app: 'shop', environment: 'staging' },
      change: { kind: 'values-patch', patch: { resources: { limits: { memory } } } },
      title: `Raise the memory limit to ${memory}`,
      rationale: 'The pod was OOMKilled three times in the last hour.',
      evidence: [{ kind: 'log', text: 'Last State: Terminated, Reason: OOMKilled' }],
      agent: { name: 'sre-agent', model: 'test-model' },
    }),
  });
  const body = (await res.json()) as { id: number; error?: string };
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

/** Waits until proposal `id` is in `state` (its job ran), and gives its record. */
async function settled(id: number, state: FixProposalRecord['state']): Promise<FixProposalRecord> {
  await waitFor(async () => (await proposals.get(id))?.state === state, {
    what: `proposal ${id} to be ${state}`,
    timeoutMs: 60_000,
  });
  await waitForQueueSettled(h);
  return (await proposals.get(id)) as FixProposalRecord;
}

/** The values file of staging on a branch of the app repository. */
async function stagingValues(ref: string): Promise<unknown> {
  const files = await gh.git.files(APP, ref);
  return parse(files['deploy/values-staging.yaml'] ?? '');
}

const commitsAhead = (branch: string) =>
  gh.git.git(APP, ['rev-list', '--count', `main..${branch}`]).then((n) => Number(n.trim()));

describe('a fix proposal pull request on GitHub, end to end', () => {
  let first: number;
  let revision: number;
  let number: number;

  it('opens a bot pull request on DAG branch with one commit and its labels', async () => {
    first = await propose('256Mi');
    const record = await settled(first, 'open');
    const [pull] = gh.pulls(APP);
    expect(pull).toMatchObject({
      state: 'open',
      user: { type: 'Bot' },
      pull: { head: BRANCH, base: 'main' },
    });
    expect(pull?.labels.toSorted()).toEqual(['ai-proposal', 'dag']);
    number = pull?.number as number;
    expect(record).toMatchObject({ prNumber: number, branch: BRANCH });
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await gh.git.git(APP, ['log', '-1', '--format=%an', BRANCH])).toContain('[bot]');
    expect(await stagingValues(BRANCH)).toEqual({ resources: { limits: { memory: '256Mi' } } });
  });

  it('updates the same pull request with a revised proposal, superseding the first', async () => {
    revision = await propose('384Mi');
    await settled(revision, 'updated');
    expect((await proposals.get(first))?.state).toBe('superseded');
    expect(gh.pulls(APP)).toHaveLength(1);
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await stagingValues(BRANCH)).toEqual({ resources: { limits: { memory: '384Mi' } } });
    expect(gh.pulls(APP)[0]?.title).toBe('Raise the memory limit to 384Mi');
  });

  it('leaves a branch a person pushed to alone, and says so once', async () => {
    const personal = await gh.commit(
      APP,
      BRANCH,
      { 'deploy/values-staging.yaml': 'resources:\n  limits:\n    memory: 512Mi\n' },
      'Make it 512Mi',
    );
    const late = await propose('1Gi');
    const record = await settled(late, 'open');
    expect(record.reasons.map((r) => r.message).join(' ')).toMatch(/did not push/);
    expect(await gh.git.git(APP, ['rev-parse', BRANCH])).toContain(personal);
    const notes = gh.comments(APP, number).filter((c) => c.user.type === 'Bot');
    expect(notes).toHaveLength(1);
    expect(notes[0]?.body).toContain('did not push');
    expect((await proposals.get(revision))?.state).toBe('updated');
  });

  it('marks the proposals merged on the merge, and deploys the fixed values through the push', async () => {
    const before = await gh.git.git(APP, ['rev-parse', 'main']);
    const merge = await gh.mergePull(APP, number);
    const webhooks = `${h.dag.url}/api/github/webhooks`;
    const closed = await gh.pullRequestPayload(APP, number, 'closed');
    // Both acknowledged and queued (202): each is work for DAG.
    expect((await gh.deliver(webhooks, h.dag.secrets.github, 'pull_request', closed)).status).toBe(
      202,
    );
    const push = gh.pushPayload(APP, { after: merge, before: before.trim(), branch: 'main' });
    expect((await gh.deliver(webhooks, h.dag.secrets.github, 'push', push)).status).toBe(202);

    await waitFor(
      async () => (await h.git.log('iac', 'main'))[0]?.startsWith('deploy(shop)') === true,
      {
        what: 'the deploy of the merge',
        timeoutMs: 60_000,
      },
    );
    await waitForQueueSettled(h);
    const states = (await proposals.list()).map((p) => [p.id, p.state]);
    expect(Object.fromEntries(states)).toEqual({
      [first]: 'superseded',
      [revision]: 'merged',
      [revision + 1]: 'merged',
    });
    expect((await h.git.log('iac', 'main'))[0]).toBe(`deploy(shop): staging ${merge.slice(0, 7)}`);
    const values = parse(
      (await h.git.files('iac', 'main'))['clusters/staging/shop/values.yaml'] ?? '',
    ) as { resources?: unknown };
    expect(values.resources).toEqual({ limits: { memory: '512Mi' } });
    await waitFor(
      () =>
        gh
          .deployments(APP)
          .some((d) => d.sha === merge && d.statuses.some((s) => s.state === 'success')),
      { what: 'the Deployment of the merge to succeed' },
    );
  });

  it('opens a new pull request for the next proposal, on the branch the merge left behind', async () => {
    const next = await propose('768Mi');
    const record = await settled(next, 'open');
    const open = gh.pulls(APP).filter((p) => p.state === 'open');
    expect(open).toHaveLength(1);
    expect(open[0]?.number).not.toBe(number);
    expect(record).toMatchObject({ prNumber: open[0]?.number, branch: BRANCH });
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await stagingValues(BRANCH)).toEqual({ resources: { limits: { memory: '768Mi' } } });
  });

  it('marks a proposal closed when a person closes its pull request, and opens the next anew', async () => {
    const [pull] = gh.pulls(APP).filter((p) => p.state === 'open');
    const closedNumber = pull?.number as number;
    const proposed = (await proposals.list({ state: 'open' }))[0]?.id as number;
    // A person closes it in GitHub's UI: the API call the UI makes, with their token.
    gh.addToken('ghp_a-human', { login: 'a-human' });
    const res = await fetch(`${gh.apiUrl}/repos/${APP}/pulls/${closedNumber}`, {
      method: 'PATCH',
      headers: { authorization: 'token ghp_a-human', 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed' }),
    });
    expect(res.status).toBe(200);
    const closed = await gh.pullRequestPayload(APP, closedNumber, 'closed');
    const webhooks = `${h.dag.url}/api/github/webhooks`;
    expect((await gh.deliver(webhooks, h.dag.secrets.github, 'pull_request', closed)).status).toBe(
      202,
    );
    await settled(proposed, 'closed');
    // The branch still holds DAG's commit of the closed pull request: DAG's to move again.
    const again = await propose('640Mi');
    const record = await settled(again, 'open');
    const open = gh.pulls(APP).filter((p) => p.state === 'open');
    expect(open.map((p) => p.number)).toEqual([record.prNumber]);
    expect(record.prNumber).not.toBe(closedNumber);
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await stagingValues(BRANCH)).toEqual({ resources: { limits: { memory: '640Mi' } } });
    // Every call DAG made was a route GitHub has, with only fields GitHub documents.
    expect(gh.unexpected()).toEqual([]);
    expect(gh.requests.filter((r) => r.ignoredFields?.length)).toEqual([]);
  });
});
