import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDiffComment } from '../../src/diff/comment-read.ts';
import { renderDiffComment } from '../../src/diff/comment.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { SqlFixProposalStore } from '../../src/store/fix-proposals.ts';
import type { DiffRequest } from '../../src/workflows/diff-request.ts';
import type { PromotionRequest } from '../../src/workflows/promote.ts';
import { renderMetadata } from '../../src/workflows/promotion-body.ts';
import { handleDelivery, type WorkflowDeps } from '../../src/workflows/dispatch.ts';
import { githubExample } from '../helpers/github-examples.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { FakeReviewPlatform } from './fakes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { environmentStatus } from '../../src/monitor/status.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';

let lane: LaneDb;
let store: SqlConfigStore;
let diffs: DiffRequest[];
let promotions: PromotionRequest[];
let platform: FakeReviewPlatform;

function deps(): WorkflowDeps {
  return {
    log: quiet,
    store,
    enqueueDeploy: async () => ({ status: 'queued' }),
    enqueueDiff: async (request) => {
      diffs.push(request);
      return { status: 'queued' };
    },
    enqueuePromotion: async (request) => {
      promotions.push(request);
      return { status: 'queued' };
    },
    platformFor: async () => platform,
    status: (environmentId) => environmentStatus(new SqlRolloutStore(lane.db), environmentId),
    proposals: new SqlFixProposalStore(lane.db),
  };
}

const delivery = (action: string) => ({
  provider: 'github' as const,
  deliveryId: `d-${action}`,
  event: 'pull_request',
  // A GitHub App's deliveries always name its installation.
  payload: githubExample(
    'pull_request',
    (p) => p.action === action && p.installation !== undefined,
  ),
});

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  // The pull_request examples are for Codertocat/Hello-World, into master.
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/Codertocat/Hello-World');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type)
      VALUES (1, 'master', 1, 'clusters/production/hello', 1, 'flux'),
             (1, 'develop', 1, 'clusters/staging/hello', 1, 'flux');
  `);
  await store.normalize();
  diffs = [];
  promotions = [];
  platform = new FakeReviewPlatform();
});
afterEach(() => lane.drop());

describe('automatic diff on pull request events', () => {
  it.each(['opened', 'reopened', 'synchronize'])(
    'previews the environments merging would deploy when a pull request is %s',
    async (action) => {
      await handleDelivery(delivery(action), deps());
      expect(diffs).toHaveLength(1);
      expect(diffs[0]).toMatchObject({
        origin: 'auto',
        environmentIds: [1],
        pr: { baseRef: 'master' },
      });
    },
  );

  it('does nothing for other actions, or when the app turned automatic diffs off', async () => {
    await handleDelivery(delivery('closed'), deps());
    await handleDelivery(delivery('labeled'), deps());
    await lane.db.query('UPDATE apps SET auto_diff = false');
    await handleDelivery(delivery('synchronize'), deps());
    expect(diffs).toEqual([]);
  });

  describe("marks DAG's diff comment of an older head outdated", () => {
    const head = (action: string) =>
      (delivery(action).payload as { pull_request: { head: { sha: string } } }).pull_request.head
        .sha;
    const preview = (headSha: string) => renderDiffComment({ pr: 2, headSha, environments: [] });
    const old = 'a'.repeat(40);

    it('when pushed to with automatic previews off: says to ask with /diff, previews nothing', async () => {
      await lane.db.query('UPDATE apps SET auto_diff = false');
      platform.comments.set('diff', [preview(old)]);
      await handleDelivery(delivery('synchronize'), deps());
      expect(diffs).toEqual([]);
      const [body = ''] = platform.comments.get('diff') ?? [];
      expect(parseDiffComment(body)).toMatchObject({ headSha: old, outdated: true });
      expect(body).toContain(
        `<code>${old.slice(0, 12)}</code> is no longer the head of this pull request; comment \`/diff\` for a preview of the new head.`,
      );
    });

    it('when pushed to with automatic previews on: says the new one is coming, and queues it', async () => {
      platform.comments.set('diff', [preview(old)]);
      await handleDelivery(delivery('synchronize'), deps());
      expect(diffs).toHaveLength(1);
      const [body = ''] = platform.comments.get('diff') ?? [];
      expect(parseDiffComment(body)?.outdated).toBe(true);
      expect(body).toContain('an updated preview is on its way.');
    });

    it("leaves the head's own preview, and one outdated already, as they are", async () => {
      await lane.db.query('UPDATE apps SET auto_diff = false');
      for (const bodies of [
        [preview(head('synchronize'))],
        [renderDiffComment({ pr: 2, headSha: old, environments: [], outdated: true })],
      ]) {
        platform.comments.set('diff', bodies);
        await handleDelivery(delivery('synchronize'), deps());
        expect(platform.comments.get('diff')).toBe(bodies); // not written
      }
    });

    it('does not look for comments on a pull request just opened', async () => {
      const read = vi.spyOn(platform, 'readComments');
      await handleDelivery(delivery('opened'), deps());
      expect(read).not.toHaveBeenCalled();
      await handleDelivery(delivery('reopened'), deps());
      expect(read).toHaveBeenCalledTimes(1);
    });

    it('fails the delivery (to be retried) only when no preview is on its way', async () => {
      platform.readComments = async () => {
        throw new Error('GitHub is down');
      };
      await handleDelivery(delivery('synchronize'), deps());
      expect(diffs).toHaveLength(1);
      await lane.db.query('UPDATE apps SET auto_diff = false');
      await expect(handleDelivery(delivery('synchronize'), deps())).rejects.toThrow(
        'GitHub is down',
      );
    });
  });

  it('rejects a pull_request payload that is not one, naming the field', async () => {
    await expect(
      handleDelivery(
        {
          provider: 'github',
          deliveryId: 'x',
          event: 'pull_request',
          payload: { action: 'opened' },
        },
        deps(),
      ),
    ).rejects.toThrow(/GitHub pull_request payload is invalid at number/);
  });
});

describe('merged promotion pull requests', () => {
  const appRepo = {
    provider: 'github' as const,
    fullName: 'Codertocat/Hello-World',
    webUrl: 'https://github.com/Codertocat/Hello-World',
    installationId: 2,
  };
  /** The `closed` example, merged, in the IAC repository, with DAG's metadata in its body. */
  const merged = (route: number, repoUrl = appRepo.webUrl) => {
    const payload = githubExample('pull_request', (p) => p.action === 'closed') as {
      pull_request: Record<string, unknown>;
      repository: Record<string, unknown>;
      number: number;
    };
    payload.pull_request = {
      ...payload.pull_request,
      merged: true,
      body: `${renderMetadata({
        v: 1,
        route,
        strategy: 'folder',
        from: 'staging',
        to: 'production',
        source: 'c'.repeat(40),
        target: null,
        appRepo: { ...appRepo, webUrl: repoUrl },
      })}\n## Promote`,
    };
    return {
      provider: 'github' as const,
      deliveryId: `m-${route}`,
      event: 'pull_request',
      payload,
    };
  };

  it("reports the target's deploy of DAG's own promotion, checked against its record", async () => {
    const route = await store.addRoute({ app: 'hello-world', from: 'staging', to: 'production' });
    const delivery = merged(route.id);
    const repoUrl = (delivery.payload.repository as { html_url: string }).html_url;
    await store.savePromotion({
      routeId: route.id,
      repoUrl,
      number: delivery.payload.number,
      url: `${repoUrl}/pull/${delivery.payload.number}`,
      branch: 'dag/promote/hello-world/staging-to-production',
      baseBranch: 'master',
      pushedHead: 'd'.repeat(40),
      sourceSha: 'c'.repeat(40),
      state: 'open',
      handsOff: false,
      reported: false,
    });
    await handleDelivery(delivery, deps());
    expect(promotions).toEqual([
      {
        routeId: route.id,
        appRepo: { ...appRepo, urls: [appRepo.webUrl] },
        origin: { kind: 'merged', repoUrl, number: delivery.payload.number },
      },
    ]);
  });

  it('reads a GitLab Merge Request Hook for a merge the same way', async () => {
    const route = await store.addRoute({ app: 'hello-world', from: 'staging', to: 'production' });
    const payload = gitlabExample('merge-request-hook') as {
      object_attributes: Record<string, unknown>;
      project: { web_url: string };
    };
    const gitlab = (action: string) => ({
      provider: 'gitlab' as const,
      deliveryId: `gl-${action}`,
      event: 'Merge Request Hook',
      payload: {
        ...payload,
        object_attributes: {
          ...payload.object_attributes,
          action,
          state: action === 'merge' ? 'merged' : 'opened',
          description: merged(route.id).payload.pull_request.body,
        },
      },
    });
    await store.savePromotion({
      routeId: route.id,
      repoUrl: payload.project.web_url,
      number: 1,
      url: `${payload.project.web_url}/-/merge_requests/1`,
      branch: 'dag/promote/hello-world/staging-to-production',
      baseBranch: 'master',
      pushedHead: null,
      sourceSha: 'c'.repeat(40),
      state: 'open',
      handsOff: false,
      reported: false,
    });
    await handleDelivery(gitlab('open'), deps());
    expect(promotions).toEqual([]);
    await handleDelivery(gitlab('merge'), deps());
    expect(promotions).toMatchObject([
      {
        routeId: route.id,
        origin: { kind: 'merged', repoUrl: payload.project.web_url, number: 1 },
      },
    ]);
  });

  it('rejects merge payloads that are not ones, naming the field', async () => {
    const noAttributes = gitlabExample('merge-request-hook');
    delete noAttributes.object_attributes;
    await expect(
      handleDelivery(
        {
          provider: 'gitlab',
          deliveryId: 'bad',
          event: 'Merge Request Hook',
          payload: noAttributes,
        },
        deps(),
      ),
    ).rejects.toThrow(/GitLab Merge Request Hook payload is invalid at object_attributes/);
    await expect(
      handleDelivery(
        {
          provider: 'github',
          deliveryId: 'bad-closed',
          event: 'pull_request',
          payload: { action: 'closed', number: 1 },
        },
        deps(),
      ),
    ).rejects.toThrow(/GitHub pull_request payload is invalid at pull_request/);
    expect(promotions).toEqual([]);
  });

  it('ignores metadata DAG has no record of, or that names another app', async () => {
    const route = await store.addRoute({ app: 'hello-world', from: 'staging', to: 'production' });
    await handleDelivery(merged(route.id), deps());
    const delivery = merged(route.id, 'https://github.com/evil/app');
    const repoUrl = (delivery.payload.repository as { html_url: string }).html_url;
    await store.savePromotion({
      routeId: route.id,
      repoUrl,
      number: delivery.payload.number,
      url: `${repoUrl}/pull/1`,
      branch: 'dag/promote/x',
      baseBranch: 'master',
      pushedHead: null,
      sourceSha: null,
      state: 'open',
      handsOff: false,
      reported: false,
    });
    await handleDelivery(delivery, deps());
    expect(promotions).toEqual([]);
  });
});
