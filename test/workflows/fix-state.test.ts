// A fix pull request's life carried to its proposals, through the webhook workflows as the events
// queue runs them: GitHub's pull_request closed (merged or not) and reopened, GitLab's Merge
// Request Hook merge, close and reopen; only proposals DAG recorded on that pull request of that
// repository move, and only when the description's metadata names one of them.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { renderFixMetadata } from '../../src/fix/pr-body.ts';
import type { Delivery } from '../../src/jobs/queue.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlFixProposalStore, type FixProposalState } from '../../src/store/fix-proposals.ts';
import { handleDelivery, type WorkflowDeps } from '../../src/workflows/dispatch.ts';
import { githubExample } from '../helpers/github-examples.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { FakeReviewPlatform } from './fakes.ts';
import { environmentStatus } from '../../src/monitor/status.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';

type Payload = Record<string, unknown> & { pull_request: Record<string, unknown> };
type MrPayload = Record<string, unknown> & { object_attributes: Record<string, unknown> };

/** The pull_request examples: Codertocat/Hello-World #2; the Merge Request Hook's: iid 1. */
const GITHUB_PR = 2;
const GITLAB_MR = 1;

const body = (proposal: number) =>
  [
    renderFixMetadata({
      v: 1,
      proposal,
      fingerprint: 'f'.repeat(64),
      pushedHead: 'e'.repeat(40),
    }),
    '## Raise the memory limit',
  ].join('\n');

function github(action: 'closed' | 'reopened', proposal: number, merged = false): Delivery {
  const p = githubExample(
    'pull_request',
    (e) => e.action === 'closed' && e.installation !== undefined,
  ) as Payload;
  return {
    provider: 'github',
    deliveryId: `gh-${action}-${merged}`,
    event: 'pull_request',
    payload: { ...p, action, pull_request: { ...p.pull_request, merged, body: body(proposal) } },
  };
}

function gitlab(action: 'merge' | 'close' | 'reopen', proposal: number): Delivery {
  const p = gitlabExample('merge-request-hook') as MrPayload;
  return {
    provider: 'gitlab',
    deliveryId: `gl-${action}`,
    event: 'Merge Request Hook',
    payload: {
      ...p,
      object_attributes: { ...p.object_attributes, action, description: body(proposal) },
    },
  };
}

describe.each(LANES)('fix proposals follow their pull request (%s)', (laneName) => {
  let lane: LaneDb;
  let proposals: SqlFixProposalStore;
  let outcomes: string[];
  let deps: WorkflowDeps;

  /** A proposal of app `appId` in `state`, on pull request `pr` (none: not published). */
  async function proposal(
    appId: number,
    state: FixProposalState,
    pr: number | null,
    branch?: string,
  ) {
    const created = await proposals.create({
      tokenId: null,
      tokenName: 'fixer',
      agentName: 'fixer',
      agentModel: 'm',
      title: 'Raise the memory limit',
      rationale: 'OOMKilled',
      target: { app: 'x', environment: 'production' },
      appId,
      environmentId: appId,
      fingerprint: Math.random().toString(16).slice(2).padEnd(64, '0'),
      changeKind: 'values-patch',
      state: 'validating',
    });
    await proposals.update(created.id, {
      state,
      ...(pr === null ? {} : { prNumber: pr }),
      ...(branch ? { branch } : {}),
    });
    return created.id;
  }

  const states = async () =>
    Object.fromEntries((await proposals.list()).map((p) => [p.id, p.state]));

  beforeEach(async () => {
    lane = await openLane(laneName);
    const store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(`
      INSERT INTO apps (git_provider, repo_url) VALUES
        ('github', 'https://github.com/Codertocat/Hello-World'),
        ('gitlab', 'http://example.com/gitlabhq/gitlab-test'),
        ('github', 'https://github.com/someone/else');
      INSERT INTO iacs (name, repo_url) VALUES
        ('iac', 'https://github.com/org/iac.git'),
        ('hello-iac', 'https://github.com/Codertocat/Hello-World.git');
      INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type) VALUES
        (1, 'master', 1, 'clusters/production/hello', 1, 'flux'),
        (2, 'master', 1, 'clusters/production/gitlab-test', 1, 'flux'),
        (3, 'master', 2, 'clusters/production/else', 1, 'flux');
    `);
    await store.normalize();
    proposals = new SqlFixProposalStore(lane.db);
    outcomes = [];
    deps = {
      log: quiet,
      store,
      enqueueDeploy: async () => ({ status: 'queued' }),
      enqueueDiff: async () => ({ status: 'queued' }),
      enqueuePromotion: async () => ({ status: 'queued' }),
      platformFor: async () => new FakeReviewPlatform(),
      proposals,
      status: (environmentId) => environmentStatus(new SqlRolloutStore(lane.db), environmentId),
      onFixOutcome: (outcome) => outcomes.push(outcome),
    };
  });
  afterEach(() => lane.drop());

  it('marks the open proposals of a merged pull request merged, and no other', async () => {
    const superseded = await proposal(1, 'superseded', GITHUB_PR);
    const personPushed = await proposal(1, 'open', GITHUB_PR);
    const latest = await proposal(1, 'updated', GITHUB_PR);
    const otherPr = await proposal(1, 'open', GITHUB_PR + 1);
    const otherRepo = await proposal(3, 'open', GITHUB_PR);
    const unpublished = await proposal(1, 'validating', null);

    await handleDelivery(github('closed', latest, true), deps);
    expect(await states()).toEqual({
      [superseded]: 'superseded',
      [personPushed]: 'merged',
      [latest]: 'merged',
      [otherPr]: 'open',
      [otherRepo]: 'open',
      [unpublished]: 'validating',
    });
    expect(outcomes).toEqual(['merged', 'merged']);

    // A redelivery moves nothing more, and a merged pull request is not reopened.
    await handleDelivery(github('closed', latest, true), deps);
    await handleDelivery(github('reopened', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('merged');
    expect(outcomes).toEqual(['merged', 'merged']);
  });

  it('marks them closed when the pull request is closed unmerged, and open again when reopened', async () => {
    const latest = await proposal(1, 'open', GITHUB_PR);
    await handleDelivery(github('closed', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('closed');
    await handleDelivery(github('reopened', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('open');
    expect(outcomes).toEqual(['closed', 'reopened']);
  });

  it('moves nothing on metadata DAG has no record of on that pull request', async () => {
    // A proposal of another pull request, or another repository's, named in a pasted marker.
    const elsewhere = await proposal(1, 'open', GITHUB_PR + 1);
    const otherRepo = await proposal(3, 'open', GITHUB_PR);
    const here = await proposal(1, 'open', GITHUB_PR);
    await handleDelivery(github('closed', elsewhere, true), deps);
    await handleDelivery(github('closed', otherRepo, true), deps);
    await handleDelivery(github('closed', 999, true), deps);
    expect(await states()).toEqual({ [elsewhere]: 'open', [otherRepo]: 'open', [here]: 'open' });
    expect(outcomes).toEqual([]);
  });

  it("follows a fix pull request on an environment's IAC repository", async () => {
    // App 3's environment writes Hello-World as its IAC repository; app 1's app repository is it.
    const iacFix = await proposal(3, 'open', GITHUB_PR, 'dag/fix-iac/else/production');
    const appFixElsewhere = await proposal(3, 'open', GITHUB_PR, 'dag/fix/else/production');
    const iacFixOfApp1 = await proposal(1, 'open', GITHUB_PR, 'dag/fix-iac/hello/production');
    await handleDelivery(github('closed', iacFix, true), deps);
    expect(await states()).toEqual({
      [iacFix]: 'merged',
      [appFixElsewhere]: 'open',
      [iacFixOfApp1]: 'open',
    });
  });

  it('follows a GitLab merge request: closed, reopened, merged', async () => {
    const latest = await proposal(2, 'updated', GITLAB_MR);
    const githubSameNumber = await proposal(1, 'open', GITLAB_MR);
    await handleDelivery(gitlab('close', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('closed');
    await handleDelivery(gitlab('reopen', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('open');
    await handleDelivery(gitlab('merge', latest), deps);
    expect((await proposals.get(latest))?.state).toBe('merged');
    expect((await proposals.get(githubSameNumber))?.state).toBe('open');
    expect(outcomes).toEqual(['closed', 'reopened', 'merged']);
  });
});
