import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommentEvent, RepoRef } from '../../src/events/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import { handleCommentCommands, type CommandDeps } from '../../src/workflows/pr-command.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { FakeReviewPlatform } from './fakes.ts';
import { quiet } from '../helpers/quiet-log.ts';

const repo: RepoRef = {
  provider: 'github',
  fullName: 'org/my-app',
  urls: ['https://github.com/org/my-app'],
  installationId: 1,
  webUrl: 'https://github.com/org/my-app',
};

let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakeReviewPlatform;
let diffs: { environments: string[]; commentId?: number }[];
let deploys: DeployRequest[];

const comment = (body: string, over: Partial<CommentEvent> = {}): CommentEvent => ({
  kind: 'comment',
  repo,
  number: 7,
  isPullRequest: true,
  commentId: 99,
  body,
  author: 'dev',
  byBot: false,
  ...over,
});

function deps(): CommandDeps {
  return {
    store,
    platform,
    log: quiet,
    diff: async ({ environments, commentId }) => {
      diffs.push({ environments: environments.map((e) => e.name), commentId });
    },
    deploy: async (request) => {
      deploys.push(request);
      return { status: 'queued' };
    },
  };
}

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type)
      VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux'),
             (1, 'main', 1, 'clusters/production/my-app', 1, 'flux');
  `);
  await store.normalize();
  platform = new FakeReviewPlatform();
  platform.permissions = { dev: 'write', viewer: 'read' };
  diffs = [];
  deploys = [];
});
afterEach(() => lane.drop());

describe('PR commands', () => {
  it('ignores comments without commands, by bots, and on issues', async () => {
    await handleCommentCommands(comment('LGTM'), deps());
    await handleCommentCommands(comment('/deploy staging', { byBot: true }), deps());
    await handleCommentCommands(comment('/deploy staging', { isPullRequest: false }), deps());
    expect(platform.reactions).toEqual([]);
    expect(platform.comments.size).toBe(0);
  });

  it('/diff previews the environments merging would deploy; the diff job gives the final reaction', async () => {
    await handleCommentCommands(comment('/diff'), deps());
    expect(diffs).toEqual([{ environments: ['production'], commentId: 99 }]);
    expect(platform.reactions).toEqual(['eyes']);
    expect(platform.comments.get('command')?.[0]).toContain('preview of `production`');
  });

  it('/diff all and /diff <env>', async () => {
    await handleCommentCommands(comment('/diff all\n/diff staging'), deps());
    expect(diffs).toEqual([
      { environments: ['staging', 'production'], commentId: 99 },
      { environments: ['staging'], commentId: 99 },
    ]);
  });

  it('answers a wrong command with its usage and the environments', async () => {
    await handleCommentCommands(comment('/deplyo staging\n/diff nowhere'), deps());
    const reply = platform.comments.get('command')?.[0] ?? '';
    expect(reply).toContain('/deplyo is not a DAG command');
    expect(reply).toContain('there is no environment `nowhere`');
    expect(reply).toContain('`staging` (from `develop`)');
    expect(platform.reactions).toEqual(['eyes', '-1']);
    expect(diffs).toEqual([]);
  });

  it('refuses commenters without write access, asking the API not the association', async () => {
    await handleCommentCommands(comment('/diff', { author: 'viewer' }), deps());
    expect(platform.asked).toContain('permission:viewer');
    expect(platform.comments.get('command')?.[0]).toContain('refused (write-access)');
    expect(diffs).toEqual([]);
  });

  it('/deploy staging queues a deploy of the head commit, and says the environment now runs it', async () => {
    await handleCommentCommands(comment('/deploy staging'), deps());
    expect(deploys).toEqual([
      expect.objectContaining({
        environmentId: 1,
        sha: platform.pr.headSha,
        branch: 'feature',
        pullRequest: 7,
      }),
    ]);
    expect(platform.comments.get('command')?.[0]).toContain(
      "staging runs this pull request's code until the next deploy",
    );
    // Staging's rules need nothing more: no review or checks were looked up.
    expect(platform.asked).toEqual(['permission:dev']);
  });

  it.each([
    ['a fork', () => (platform.pr = { ...platform.pr, fork: true }), 'no-forks'],
    ['no approval', () => (platform.green = true), 'approval'],
    ['red checks', () => (platform.approved = true), 'green-checks'],
    [
      'another base branch',
      () => (platform.pr = { ...platform.pr, baseRef: 'develop' }),
      'own-branch',
    ],
  ])('refuses /deploy production with %s, naming the rule', async (_what, arrange, rule) => {
    arrange();
    await handleCommentCommands(comment('/deploy production'), deps());
    expect(deploys).toEqual([]);
    expect(platform.comments.get('command')?.[0]).toContain(`refused (${rule})`);
    expect(platform.reactions.at(-1)).toBe('-1');
  });

  it('deploys to production when every rule holds', async () => {
    platform.approved = true;
    platform.green = true;
    await handleCommentCommands(comment('/deploy production'), deps());
    expect(deploys).toHaveLength(1);
  });

  it('asks which environment when /deploy is ambiguous, and answers /help and /promote', async () => {
    platform.pr = { ...platform.pr, baseRef: 'release' };
    await handleCommentCommands(comment('/deploy\n/help\n/promote'), deps());
    const reply = platform.comments.get('command')?.[0] ?? '';
    expect(reply).toContain('say which environment');
    expect(reply).toContain('/diff [environment|all]');
    expect(reply).toContain('promotion pull requests are not enabled');
  });

  it('tells an unconfigured repository how to configure it, once, in one comment', async () => {
    const other = {
      ...repo,
      fullName: 'org/other',
      urls: ['https://github.com/org/other'],
      webUrl: 'https://github.com/org/other',
    };
    await handleCommentCommands(comment('/diff', { repo: other }), deps());
    await handleCommentCommands(comment('/diff', { repo: other }), deps());
    expect(platform.comments.get('not-configured')?.[0]).toContain(
      'dag apps add --provider github --repo-url https://github.com/org/other',
    );
    expect(platform.comments.size).toBe(1);
  });
});
