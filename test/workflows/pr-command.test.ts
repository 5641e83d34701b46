import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_COMMANDS_PER_COMMENT } from '../../src/commands/parse.ts';
import type { CommentEvent } from '../../src/events/types.ts';
import { commentMarker } from '../../src/platform/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import { COMMENT_LIMITS } from '../../src/workflows/markdown.ts';
import { handleCommentCommands, type CommandDeps } from '../../src/workflows/pr-command.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { APP_REPO, FakeReviewPlatform } from './fakes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { environmentStatus } from '../../src/monitor/status.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';

const repo = APP_REPO;

let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakeReviewPlatform;
let diffs: { environments: string[]; commentId?: number }[];
let deploys: DeployRequest[];
let promotions: { routeId: number; commentId: number; author: string }[];

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
    promote: async ({ route, commentId, author }) => {
      promotions.push({ routeId: route.id, commentId, author });
    },
    status: (environmentId) => environmentStatus(new SqlRolloutStore(lane.db), environmentId),
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
  promotions = [];
});
afterEach(() => lane.drop());

describe('PR commands', () => {
  it('ignores comments without commands, and by bots', async () => {
    await handleCommentCommands(comment('LGTM'), deps());
    await handleCommentCommands(comment('/deploy staging', { byBot: true }), deps());
    expect(platform.reactions).toEqual([]);
    expect(platform.comments.size).toBe(0);
  });

  it('answers /diff and /deploy in an issue with where they work, without reading a pull request', async () => {
    await handleCommentCommands(
      comment('/deploy staging\n/diff', { isPullRequest: false }),
      deps(),
    );
    const reply = platform.comments.get('command')?.[0] ?? '';
    expect(reply).toContain('`/deploy`: works in pull requests only.');
    expect(reply).toContain('`/diff`: works in pull requests only.');
    expect(platform.reactions).toEqual(['eyes', '-1']);
    expect(deploys).toEqual([]);
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
    [
      'a fork',
      () => {
        platform.pr = { ...platform.pr, fork: true };
        platform.approved = platform.green = true;
      },
      'no-forks',
    ],
    ['no approval', () => (platform.green = true), 'approval'],
    ['red checks', () => (platform.approved = true), 'green-checks'],
    [
      'another base branch',
      () => {
        platform.pr = { ...platform.pr, baseRef: 'develop' };
        platform.approved = platform.green = true;
      },
      'own-branch',
    ],
  ])('refuses /deploy production with %s, naming the rule', async (_what, arrange, rule) => {
    arrange();
    await handleCommentCommands(comment('/deploy production'), deps());
    expect(deploys).toEqual([]);
    expect(platform.comments.get('command')?.[0]).toContain(`refused (${rule})`);
    expect(platform.reactions.at(-1)).toBe('-1');
  });

  it('refuses /deploy production naming every rule that failed, each on its own line', async () => {
    platform.pr = { ...platform.pr, baseRef: 'develop' };
    platform.green = true;
    await handleCommentCommands(comment('/deploy production'), deps());
    expect(deploys).toEqual([]);
    const reply = platform.comments.get('command')?.[0] ?? '';
    expect(reply).toContain(
      [
        '- `/deploy production`: refused by 2 rules:',
        '  - own-branch: production only takes pull requests into main (this one goes into develop).',
        '  - approval: production needs an approved pull request with no changes requested.',
      ].join('\n'),
    );
    expect(reply).not.toContain('green-checks');
    expect(platform.reactions.at(-1)).toBe('-1');
  });

  it('deploys to production when every rule holds', async () => {
    platform.approved = true;
    platform.green = true;
    await handleCommentCommands(comment('/deploy production'), deps());
    expect(deploys).toHaveLength(1);
  });

  it('asks which environment when /deploy is ambiguous, and answers /help', async () => {
    platform.pr = { ...platform.pr, baseRef: 'release' };
    await handleCommentCommands(comment('/deploy\n/help'), deps());
    const reply = platform.comments.get('command')?.[0] ?? '';
    expect(reply).toContain('say which environment');
    expect(reply).toContain('/diff [environment|all]');
    expect(reply).toContain('/promote [from] [to]');
  });

  describe('/promote', () => {
    const addRoutes = async () => {
      await store.addEnvironment({
        app: 'my-app',
        name: 'qa',
        branch: 'qa',
        iac: 'iac',
        iacPath: 'clusters/qa/my-app',
        cluster: 'c1',
        helmType: 'flux',
      });
      const toProduction = await store.addRoute({
        app: 'my-app',
        from: 'staging',
        to: 'production',
      });
      const toQa = await store.addRoute({ app: 'my-app', from: 'staging', to: 'qa' });
      return { toProduction, toQa };
    };

    it('says how to add a route when the app has none', async () => {
      await handleCommentCommands(comment('/promote', { isPullRequest: false }), deps());
      expect(platform.comments.get('command')?.[0]).toContain('dag promotions add');
      expect(platform.reactions).toEqual(['eyes', '-1']);
      expect(promotions).toEqual([]);
    });

    it('queues the named route from an issue; the promotion job gives the final reaction', async () => {
      const { toQa } = await addRoutes();
      await handleCommentCommands(comment('/promote staging qa', { isPullRequest: false }), deps());
      expect(promotions).toEqual([{ routeId: toQa.id, commentId: 99, author: 'dev' }]);
      expect(platform.comments.get('command')?.[0]).toContain('its link follows');
      expect(platform.reactions).toEqual(['eyes']);
      expect(platform.asked).toEqual(['permission:dev']);
    });

    it('asks which route when several match, and names unknown environments and routes', async () => {
      await addRoutes();
      await handleCommentCommands(comment('/promote', { isPullRequest: false }), deps());
      let reply = platform.comments.get('command')?.[0] ?? '';
      expect(reply).toContain('say which promotion');
      expect(reply).toContain('`staging` → `production`, `staging` → `qa`');
      await handleCommentCommands(comment('/promote staging nowhere'), deps());
      reply = platform.comments.get('command')?.[0] ?? '';
      expect(reply).toContain('there is no environment `nowhere`');
      await handleCommentCommands(comment('/promote production'), deps());
      reply = platform.comments.get('command')?.[0] ?? '';
      expect(reply).toContain('there is no promotion route from `production`');
      expect(promotions).toEqual([]);
    });

    it("in a pull request, takes the route from its base branch's environment", async () => {
      await addRoutes();
      const fromQa = await store.addRoute({ app: 'my-app', from: 'qa', to: 'production' });
      platform.pr = { ...platform.pr, baseRef: 'qa' };
      platform.permissions = { dev: 'maintain' };
      // Three routes; the pull request goes into qa's branch, and one route leaves qa.
      await handleCommentCommands(comment('/promote'), deps());
      expect(promotions.map((p) => p.routeId)).toEqual([fromQa.id]);
    });

    it('needs maintain to promote into production by default, write elsewhere', async () => {
      await addRoutes();
      await handleCommentCommands(comment('/promote staging production'), deps());
      expect(platform.comments.get('command')?.[0]).toContain(
        'refused (promote-permission): promoting to production needs maintain access to the repository (you have write)',
      );
      expect(promotions).toEqual([]);
      await handleCommentCommands(comment('/promote staging qa'), deps());
      expect(promotions).toHaveLength(1);
      platform.permissions = { dev: 'maintain' };
      await handleCommentCommands(comment('/promote staging production'), deps());
      expect(promotions).toHaveLength(2);
    });
  });

  describe('big comments', () => {
    /** Every upsert DAG makes, in order. */
    function recordUpserts(): { topic: string; bodies: string[] }[] {
      const upserts: { topic: string; bodies: string[] }[] = [];
      const upsert = platform.upsertComments.bind(platform);
      platform.upsertComments = async (r, number, topic, bodies) => {
        upserts.push({ topic, bodies });
        await upsert(r, number, topic, bodies);
      };
      return upserts;
    }
    /** What GitHub would store: DAG's marker line, then the body. */
    const stored = (body: string) => `${commentMarker('command', 0)}\n${body}`;

    it(`answers a comment of 1,000 commands once, within GitHub's limit, running none`, async () => {
      const upserts = recordUpserts();
      const body = Array.from({ length: 1_000 }, (_, i) => `/deploy env-${i}`).join('\n');
      await handleCommentCommands(comment(body), deps());
      expect(upserts).toHaveLength(1);
      const reply = upserts[0]?.bodies[0] ?? '';
      expect(upserts[0]?.bodies).toHaveLength(1);
      expect(stored(reply).length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
      expect(reply).toContain(
        `This comment holds 1000 commands; DAG runs at most ${MAX_COMMANDS_PER_COMMENT} from one comment, so it ran none of them.`,
      );
      expect(deploys).toEqual([]);
      expect(diffs).toEqual([]);
      expect(promotions).toEqual([]);
      expect(platform.reactions).toEqual(['-1']);
    });

    it("fits an answer that echoes long lines within the provider's limit", async () => {
      const upserts = recordUpserts();
      // Ten lines that together stay within what DAG reads of a comment (READ_LIMITS), each
      // far longer than a reply can echo.
      const line = `/deplyo ${'a'.repeat(6_400)}`;
      const body = Array.from({ length: MAX_COMMANDS_PER_COMMENT }, () => line).join('\n');
      await handleCommentCommands(comment(body), deps());
      const reply = upserts[0]?.bodies[0] ?? '';
      expect(stored(reply).length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
      // Each echoed line is cut short, so every mistake still gets its own answer.
      expect(reply.match(/is not a DAG command/g)).toHaveLength(MAX_COMMANDS_PER_COMMENT);
    });

    it('answers a comment too long to read for commands once, within the limit, running none', async () => {
      const upserts = recordUpserts();
      const line = `/deplyo ${'a'.repeat(200_000)}`;
      const body = Array.from({ length: MAX_COMMANDS_PER_COMMENT }, () => line).join('\n');
      await handleCommentCommands(comment(body), deps());
      const reply = upserts[0]?.bodies[0] ?? '';
      expect(stored(reply).length).toBeLessThanOrEqual(COMMENT_LIMITS.github);
      expect(reply.match(/too long or too nested for DAG to read its commands/g)).toHaveLength(1);
      expect(reply).not.toContain('is not a DAG command');
    });
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

  it("on GitLab: never runs DAG's own notes, asks permissions by user id, names the merge request", async () => {
    /** GitLab's platform as the workflow sees it: DAG's own user, ids, `merge request` and `!7`. */
    class MergeRequests extends FakeReviewPlatform {
      override changeRequestNoun = 'merge request' as const;
      ids: number[] = [];
      override changeRequestRef(number: number) {
        return `!${number}`;
      }
      async isOwnAccount(userId: number) {
        return userId === 900;
      }
      override async permissionOf(repo: typeof APP_REPO, user: string, userId?: number) {
        if (userId !== undefined) this.ids.push(userId);
        return super.permissionOf(repo, user);
      }
    }
    const gitlab = new MergeRequests();
    gitlab.permissions = { dev: 'write' };
    platform = gitlab;
    await handleCommentCommands(comment('/deploy staging', { authorId: 900 }), deps());
    expect(gitlab.reactions).toEqual([]);
    expect(gitlab.comments.size).toBe(0);

    await handleCommentCommands(comment('/deploy staging', { authorId: 12 }), deps());
    expect(gitlab.ids).toEqual([12]);
    expect(deploys).toHaveLength(1);
    expect(gitlab.comments.get('command')?.[0]).toContain(
      "of !7. staging runs this merge request's code until the next deploy to it.",
    );
    await handleCommentCommands(comment('/help', { authorId: 12 }), deps());
    expect(gitlab.comments.get('command')?.[0]).toContain(
      "deploy this merge request's head commit to an environment",
    );
  });
});
