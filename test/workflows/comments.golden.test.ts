// Golden Markdown of every comment DAG writes outside the /diff preview (whose goldens are in
// test/diff/): the answer to PR commands, to /promote, a /deploy's report in its pull request,
// and the notes on a promotion pull request. Each is rendered by DAG's own code from realistic
// input and compared with test/golden/comments/*.md, so a reviewer sees any change to what
// people read. Update: `npx vitest run -u test/workflows/comments.golden.test.ts`.
//
// Cases per output: small, masked, split (or cut) and error, each where it applies; where one
// does not apply, the reason is given next to that output's cases.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommentEvent } from '../../src/events/types.ts';
import { SecretMasker } from '../../src/log.ts';
import { commentMarker } from '../../src/platform/types.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import type { DeployRecord } from '../../src/store/types.ts';
import type { DeployRequest } from '../../src/workflows/deploy-plan.ts';
import { pullRequestText } from '../../src/workflows/deploy.ts';
import { COMMENT_LIMITS, fitComment } from '../../src/workflows/markdown.ts';
import { handleCommentCommands, type CommandDeps } from '../../src/workflows/pr-command.ts';
import { promotionAnswer } from '../../src/workflows/promote.ts';
import { closeNote, handsOffNote } from '../../src/workflows/promotion-pr.ts';
import type { Route } from '../../src/workflows/promotion-types.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { FakeReviewPlatform } from './fakes.ts';
import type { Environment, Iac } from '../../src/model.ts';
import { environmentStatus } from '../../src/monitor/status.ts';
import { SqlRolloutStore } from '../../src/store/rollouts.ts';

const golden = (name: string) => `../golden/comments/${name}.md`;

/** A comment as the provider stores it: DAG's hidden marker line, then the body. */
const stored = (topic: string, body: string) => `${commentMarker(topic, 0)}\n${body}`;

/** The app of the seeds' d1 layout: podinfo, staging from main, production from production. */
const REPO = {
  provider: 'github' as const,
  fullName: 'acme/podinfo',
  urls: ['https://github.com/acme/podinfo'],
  installationId: 41,
  webUrl: 'https://github.com/acme/podinfo',
};
const HEAD = '3f9c2a7e5b1d4c6a8e0f2b4d6c8a0e2f4b6d8c0a';

/** A token shaped like a real one, registered with the masker as DAG registers its secrets. */
const TOKEN = 'ghp_R3aLl00kingT0kenF0rTheGoldenTestsXyZ12';

let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakeReviewPlatform;

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/acme/podinfo');
    INSERT INTO iacs (name, repo_url) VALUES ('d1-apps', 'https://github.com/acme/d1-apps.git');
    INSERT INTO clusters (name, api_url) VALUES ('fleet-eu1', 'https://k8s.eu1.acme.example');
    INSERT INTO apps_environments (app_id, name, branch, iac_id, iac_path, cluster_id, helm_type)
      VALUES (1, 'staging', 'main', 1, 'components/podinfo/staging', 1, 'flux'),
             (1, 'production', 'production', 1, 'components/podinfo/production', 1, 'flux');
  `);
  await store.normalize();
  await store.addRoute({ app: 'podinfo', from: 'staging', to: 'production' });
  platform = new FakeReviewPlatform();
  platform.pr = {
    number: 128,
    headSha: HEAD,
    headRef: 'feat/retry-budget',
    baseRef: 'main',
    fork: false,
    open: true,
  };
  platform.permissions = { 'mira-k': 'write', 'guest-dev': 'read' };
});
afterEach(() => lane.drop());

describe('PR command replies (the `command` comment)', () => {
  // Masked: does not apply. The reply echoes only what the commenter wrote in the same thread
  // (cut to one short code span per line) and DAG's own names of environments and routes;
  // it carries no value, file or error from outside, so there is nothing to mask.
  // Split: a reply is bounded (at most MAX_COMMANDS_PER_COMMENT lines, each echo cut to
  // MAX_CODE_SPAN_CHARS), far within one comment; the `cut` case shows the echoes cut short.
  // fitComment is the safety net past that (test/workflows/markdown.test.ts).

  const comment = (body: string, over: Partial<CommentEvent> = {}): CommentEvent => ({
    kind: 'comment',
    repo: REPO,
    number: 128,
    isPullRequest: true,
    commentId: 2_214_907_331,
    body,
    author: 'mira-k',
    byBot: false,
    ...over,
  });
  const deps = (): CommandDeps => ({
    store,
    platform,
    log: quiet,
    diff: async () => {},
    deploy: async () => ({ status: 'queued' }),
    promote: async () => {},
    status: (environmentId) => environmentStatus(new SqlRolloutStore(lane.db), environmentId),
  });
  const reply = async (body: string, over: Partial<CommentEvent> = {}) => {
    await handleCommentCommands(comment(body, over), deps());
    const [topic, bodies] = [...platform.comments][0] ?? ['', []];
    expect(bodies).toHaveLength(1);
    return stored(topic, bodies[0] ?? '');
  };

  it('small: /diff and /deploy staging queued', async () => {
    const text = await reply('Looks good, let me check.\n\n/diff\n/deploy staging');
    await expect(text).toMatchFileSnapshot(golden('command-small'));
  });

  it('small: on a GitLab merge request, /deploy staging and /help', async () => {
    platform.changeRequestNoun = 'merge request';
    platform.changeRequestRef = (number) => `!${number}`;
    const text = await reply('/deploy staging\n/help', { authorId: 4_102 });
    await expect(text).toMatchFileSnapshot(golden('command-gitlab'));
  });

  it('small: /help', async () => {
    await expect(await reply('/help')).toMatchFileSnapshot(golden('command-help'));
  });

  it('small: /status in an issue, one environment healthy, one failing and drifted', async () => {
    const rollouts = new SqlRolloutStore(lane.db);
    await lane.db.query(
      `INSERT INTO deploys (environment_id, sha, ref, state) VALUES (1, $1, 'main', 'success'), (2, $2, 'production', 'success')`,
      [HEAD, 'a'.repeat(40)],
    );
    await rollouts.save(1, {
      phase: 'healthy',
      liveCommit: { sha: HEAD, from: 'workloads' },
      rollingOutCommit: null,
      committedCommit: HEAD,
      reason: null,
      since: new Date('2026-12-06T08:04:31Z'),
      workloads: [],
      drift: { drifted: false, kind: null, since: null },
    });
    await rollouts.save(2, {
      phase: 'failed',
      liveCommit: { sha: 'b'.repeat(40), from: 'workloads' },
      rollingOutCommit: 'a'.repeat(40),
      committedCommit: 'a'.repeat(40),
      reason:
        'Deployment podinfo: CrashLoopBackOff of container podinfo in pod podinfo-7d9f5c-x2k9p (restarts 6)',
      since: new Date('2026-12-06T07:51:02Z'),
      workloads: [],
      drift: { drifted: true, kind: 'commit', since: new Date('2026-12-06T08:01:02Z') },
    });
    const text = await reply('/status', { isPullRequest: false });
    await expect(text).toMatchFileSnapshot(golden('command-status'));
  });

  it('error: mistakes, an unknown environment and an ambiguous /promote from an issue', async () => {
    await store.addEnvironment({
      app: 'podinfo',
      name: 'qa',
      branch: 'qa',
      iac: 'd1-apps',
      iacPath: 'components/podinfo/qa',
      cluster: 'fleet-eu1',
      helmType: 'flux',
    });
    await store.addRoute({ app: 'podinfo', from: 'staging', to: 'qa' });
    const text = await reply('/deplyo staging\n/diff prod\n/promote', { isPullRequest: false });
    await expect(text).toMatchFileSnapshot(golden('command-mistakes'));
  });

  it('error: /deploy production refused by several rules', async () => {
    platform.pr = { ...platform.pr, baseRef: 'develop' };
    await expect(await reply('/deploy production')).toMatchFileSnapshot(golden('command-refused'));
  });

  it('error: /diff refused to a reader, one rule', async () => {
    const text = await reply('/diff all', { author: 'guest-dev' });
    await expect(text).toMatchFileSnapshot(golden('command-refused-one-rule'));
  });

  it('error: too many commands in one comment, none run', async () => {
    const body = Array.from({ length: 12 }, (_, i) => `/diff env-${i}`).join('\n');
    await expect(await reply(body)).toMatchFileSnapshot(golden('command-too-many'));
  });

  it('error: a repository DAG does not know', async () => {
    const other = { ...REPO, fullName: 'acme/billing', urls: ['https://github.com/acme/billing'] };
    const text = await reply('/diff', {
      repo: { ...other, webUrl: 'https://github.com/acme/billing' },
    });
    await expect(text).toMatchFileSnapshot(golden('command-not-configured'));
  });

  it('cut: long pasted lines are echoed cut short, every one answered', async () => {
    const line = (i: number) =>
      `/deplyo ${`staging-${i}-`.repeat(30)} \`backticks\` <b>html</b> @team #12`;
    const body = Array.from({ length: 3 }, (_, i) => line(i)).join('\n');
    await expect(await reply(body)).toMatchFileSnapshot(golden('command-long-lines-cut'));
  });
});

describe('/promote answers (the `promote` comment)', () => {
  // Split: does not apply. An answer is one line: names, a URL and a reason; a reason is an
  // error message, which DAG bounds where it is made (git 400, helm 2,000 characters).
  let route: Route;
  beforeEach(async () => {
    const [app, envs, routes] = await Promise.all([
      store.getApp(1),
      store.listEnvironments('podinfo'),
      store.listRoutes('1'),
    ]);
    const byName = (name: string) => envs.find((e) => e.name === name) as Environment;
    route = {
      route: routes[0] as Route['route'],
      app: app as Route['app'],
      from: byName('staging'),
      to: byName('production'),
    };
  });
  const answer = (outcome: Parameters<typeof promotionAnswer>[0]) =>
    stored('promote', fitComment(promotionAnswer(outcome, route).text, 'github'));

  it('small: opened, updated, merged, nothing to promote, hands-off', async () => {
    const url = 'https://github.com/acme/d1-apps/pull/57';
    const text = [
      answer({ status: 'opened', number: 57, url }),
      answer({ status: 'updated', number: 57, url }),
      answer({ status: 'merged', number: 57, url }),
      answer({
        status: 'nothing',
        reason: 'production already runs commit 3f9c2a7 of podinfo, the one staging runs',
        closed: { number: 57, url },
      }),
      answer({ status: 'hands-off', number: 57, url }),
    ].join('\n\n<!-- next answer -->\n\n');
    await expect(`${text}\n`).toMatchFileSnapshot(golden('promote-answers'));
  });

  it('error: refused with a multi-line helm error', async () => {
    const reason = [
      'helm template failed: Error: template: podinfo/templates/deployment.yaml:42:18: executing "podinfo/templates/deployment.yaml" at <.Values.resources.limits>: nil pointer evaluating interface {}.limits',
      '',
      'Use --debug flag to render out invalid YAML',
    ].join('\n');
    await expect(answer({ status: 'refused', reason })).toMatchFileSnapshot(
      golden('promote-refused'),
    );
  });

  it('masked: a refusal whose reason carries a registered secret', async () => {
    const masker = new SecretMasker();
    masker.add(TOKEN);
    // As runPromotion does: deps.mask(reasonOf(error)).
    const reason = masker.mask(
      `cannot push to https://x-access-token:${TOKEN}@github.com/acme/d1-apps.git: the remote refused the push (protected branch)`,
    );
    const text = answer({ status: 'refused', reason });
    expect(text).not.toContain(TOKEN);
    await expect(text).toMatchFileSnapshot(golden('promote-refused-masked'));
  });
});

describe('notes on a promotion pull request', () => {
  // Masked and split: do not apply. Each note is one line of DAG's own text around a branch
  // name or a reason DAG wrote itself (which environment runs which commit, or which branch
  // has every commit): nothing from outside, nothing long.
  it('small: closing (nothing left) and hands-off', async () => {
    // Plain comments (closeChangeRequest, commentOnChangeRequest): no sticky marker.
    const text = [
      closeNote('production already runs commit 3f9c2a7 of podinfo, the one staging runs'),
      handsOffNote('dag/promote/podinfo/staging-to-production'),
    ].join('\n\n<!-- next note -->\n\n');
    await expect(`${text}\n`).toMatchFileSnapshot(golden('promotion-notes'));
  });
});

describe("a /deploy's report in its pull request (the `deploy-<env>` comment)", () => {
  // Split: does not apply. The report is a line or two; its one outside part, the error, is
  // bounded where it is made (git 400, helm 2,000 characters): fitComment is the safety net.
  let env: Environment;
  let iac: Iac;
  const request = (): DeployRequest => ({
    environmentId: env.id,
    target: { iacId: iac.id, iacBranch: null },
    sha: HEAD,
    branch: 'feat/retry-budget',
    pusher: 'mira-k',
    repo: REPO,
    commitUrl: `${REPO.webUrl}/commit/${HEAD}`,
    pullRequest: 128,
    requestKey: 'comment:2214907331',
  });
  const record = async (patch: Parameters<SqlConfigStore['updateDeploy']>[1]) => {
    const begun = await store.beginDeploy({
      environmentId: env.id,
      sha: HEAD,
      ref: 'feat/retry-budget',
      pusher: 'mira-k',
    });
    return store.updateDeploy(begun.id, patch);
  };
  const report = (deploy: DeployRecord) =>
    stored(
      `deploy-${env.name}`,
      fitComment(pullRequestText(request(), env, iac, deploy, {}), 'github'),
    );
  beforeEach(async () => {
    env = (await store.listEnvironments('podinfo')).find(
      (e) => e.name === 'staging',
    ) as Environment;
    iac = (await store.getIac(env.iacId)) as Iac;
  });

  it('small: deployed, and already there', async () => {
    const deployed = await record({
      state: 'success',
      iacCommit: 'e41d0c9b7a5f3e1d9c7b5a3f1e9d7c5b3a1f9e7d',
      iacChanged: true,
      iacBranch: 'main',
    });
    const there = await record({
      state: 'success',
      iacCommit: 'e41d0c9b7a5f3e1d9c7b5a3f1e9d7c5b3a1f9e7d',
      iacChanged: false,
      iacBranch: 'main',
    });
    const text = `${report(deployed)}\n\n<!-- next report -->\n\n${report(there)}\n`;
    await expect(text).toMatchFileSnapshot(golden('deploy-small'));
  });

  it('small: deployed, on a GitLab merge request', async () => {
    const deployed = await record({
      state: 'success',
      iacCommit: 'e41d0c9b7a5f3e1d9c7b5a3f1e9d7c5b3a1f9e7d',
      iacChanged: true,
      iacBranch: 'main',
    });
    const names = {
      changeRequestNoun: 'merge request',
      changeRequestRef: (n: number) => `!${n}`,
    } as const;
    const text = stored(
      `deploy-${env.name}`,
      fitComment(pullRequestText(request(), env, iac, deployed, {}, names), 'gitlab'),
    );
    await expect(`${text}\n`).toMatchFileSnapshot(golden('deploy-gitlab'));
  });

  it('error: a multi-line helm error', async () => {
    const failed = await record({
      state: 'failure',
      error: [
        "helm template failed: Error: values don't meet the specifications of the schema(s) in the following chart(s):",
        'podinfo:',
        '- replicaCount: Invalid type. Expected: integer, given: string',
        '---',
        '# Source: podinfo/templates/hpa.yaml',
      ].join('\n'),
    });
    await expect(report(failed)).toMatchFileSnapshot(golden('deploy-error'));
  });

  it('masked: an error carrying a registered secret', async () => {
    const masker = new SecretMasker();
    masker.add(TOKEN);
    // As runDeploy records it: deps.mask(reasonOf(error)).
    const failed = await record({
      state: 'failure',
      error: masker.mask(
        `git push https://x-access-token:${TOKEN}@github.com/acme/d1-apps.git: 403 Permission to acme/d1-apps.git denied`,
      ),
    });
    const text = report(failed);
    expect(text).not.toContain(TOKEN);
    expect(text.length).toBeLessThan(COMMENT_LIMITS.github);
    await expect(text).toMatchFileSnapshot(golden('deploy-error-masked'));
  });
});
