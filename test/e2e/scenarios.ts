// The end-to-end scenario table: one story of an app on a git hosting provider, told in cases
// that run in order against GitHub (scenarios-github.test.ts) and GitLab
// (scenarios-gitlab.test.ts) alike. Each case acts as a person would (a push, a request, a
// comment, a merge; an agent's fix proposal) through forge/forge.ts, and checks what DAG did in
// the provider's own words, in the IAC repository and in its database. Nothing here knows which
// provider it runs against: what differs lives in the drivers (forge/*-forge.ts) and in DAG's
// platform implementations.
//
// The app (org/shop) has staging (branch develop, clusters/staging/my-app) and production
// (branch main, clusters/production/my-app) in one Flux-layout IAC repository (org/iac) hosted
// by the same provider, one cluster (a fake kube-apiserver with Flux's CRDs) for the live diff,
// and an automatic promotion route from staging to production (folder strategy).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import type { FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import { waitFor } from '../helpers/wait.ts';
import type { Delivery, Forge, StartedForge } from './forge/forge.ts';
import { waitForQueueSettled } from './harness.ts';
import { startFluxCluster } from './promotion.ts';

/** The app repository's files at its first commit. */
export const APP_FILES = {
  'deploy/values.yaml': 'replicaCount: 1\ndatabase:\n  password: hunter2-very-secret\n',
  'deploy/values-production.yaml': 'replicaCount: 3\n',
  'src/app.ts': 'export const version = 1;\n',
};

const SA_TOKEN = `sa-token-${Math.random().toString(36).slice(2)}`;
const PROMOTION_BRANCH = 'dag/promote/shop/staging-to-production';
const FIX_BRANCH = 'dag/fix/shop/staging';
const ZERO = '0'.repeat(40);

/** The story so far: what each case leaves for the next. */
export type World = {
  forge: Forge;
  kube: FakeKubeApiserver;
  /** A DAG API token allowed to propose fixes. */
  apiToken: string;
  production?: string;
  staging?: string;
  /** The person's request from `feature` into develop, and its head. */
  request?: number;
  feature?: string;
  /** The /deploy staging comment's delivery (redelivered later). */
  deployComment?: Delivery;
  /** DAG's promotion request in the IAC repository. */
  promotion?: number;
};

/** DAG configured for the forge's repositories, as an operator's SQL would. */
export async function startWorld(started: StartedForge): Promise<World> {
  const { forge } = started;
  const db = forge.harness.dag.db;
  await db.query(
    'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4)',
    ['iac', started.iacUrl, started.iacToken, forge.provider],
  );
  const kube = await startFluxCluster(forge.harness, 'k8s', SA_TOKEN);
  await db.query('INSERT INTO apps (git_provider, repo_url) VALUES ($1, $2)', [
    forge.provider,
    started.appUrl,
  ]);
  await db.query(`
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
    VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'apps', 'staging'),
           (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'apps', 'production');
    INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id, automatic)
    VALUES (1, 1, 2, true);
  `);
  const tokens = new SqlApiTokenStore(db, {
    findApp: async () => undefined,
    listApps: async () => [],
    listEnvironments: async () => [],
  });
  const { secret } = await tokens.create({
    name: 'sre-agent',
    permission: 'propose',
    scope: { all: true },
    lifetimeMs: 3_600_000,
  });
  forge.setRole('dev', 'developer');
  forge.setRole('lead', 'maintainer');
  return { forge, kube, apiToken: secret };
}

const until = (check: () => boolean | Promise<boolean>, what: string) =>
  waitFor(check, { what, timeoutMs: 60_000 });

/** The HelmRelease DAG committed for an environment, on a branch of the IAC repository. */
async function release(forge: Forge, branch: string, environment: string) {
  const files = await forge.files('iac', branch);
  return files[`clusters/${environment}/my-app/helmrelease.yaml`] ?? '';
}

/** Waits until the provider shows `environment` deployed from `sha`, and returns its state. */
async function deployed(forge: Forge, environment: string, sha: string): Promise<string> {
  await until(
    () =>
      forge
        .deployments(environment)
        .some((d) => d.sha === sha && ['success', 'failure', 'error'].includes(d.state)),
    `the ${environment} deployment of ${sha.slice(0, 7)}`,
  );
  return forge.deployments(environment).findLast((d) => d.sha === sha)?.state ?? '';
}

/** The other provider's word for a request: never in what DAG writes on this one. */
const otherNoun = (forge: Forge) =>
  forge.words.request === 'pull request' ? 'merge request' : 'pull request';

async function promotions(forge: Forge) {
  const { rows } = await forge.harness.dag.db.query<{ number: number; state: string }>(
    'SELECT number, state FROM promotions ORDER BY id',
  );
  return rows;
}

export type Scenario = { name: string; run(world: World): Promise<void> };

export const SCENARIOS: Scenario[] = [
  {
    name: 'a push to a mapped branch deploys its environment to the IAC repository',
    async run(w) {
      const { forge } = w;
      const before = await forge.head('app', 'main');
      w.production = await forge.commit('main', { 'src/app.ts': 'v2\n' }, 'First release');
      await forge.announcePush('main', before);
      expect(await deployed(forge, 'production', w.production)).toBe('success');
      expect(await release(forge, 'main', 'production')).toContain(w.production);
      await waitForQueueSettled(forge.harness);
      // No route leaves production: nothing to promote.
      expect(forge.requests('iac')).toEqual([]);
    },
  },
  {
    name: 'promotion: a deploy to staging opens the promotion request in the IAC repository',
    async run(w) {
      const { forge } = w;
      w.staging = await forge.commit('develop', { 'src/app.ts': 'v3\n' }, 'Faster checkout');
      await forge.announcePush('develop', ZERO);
      expect(await deployed(forge, 'staging', w.staging)).toBe('success');
      await until(() => forge.requests('iac').length > 0, 'the promotion request');
      await waitForQueueSettled(forge.harness);
      const [promotion] = forge.requests('iac');
      expect(promotion).toMatchObject({
        state: 'open',
        head: PROMOTION_BRANCH,
        base: 'main',
        byDag: true,
      });
      w.promotion = promotion?.number;
      expect(promotion?.title).toContain('production');
      expect(promotion?.body).toContain(w.staging.slice(0, 7));
      expect(promotion?.body).toContain(`to refresh this ${forge.words.request}.`);
      expect(promotion?.body).not.toContain(otherNoun(forge));
      // Staging's release, with production's values, in production's folder of DAG's branch.
      expect(await release(forge, PROMOTION_BRANCH, 'production')).toContain(w.staging);
      expect(await release(forge, 'main', 'production')).toContain(w.production);
      expect(await promotions(forge)).toEqual([{ number: w.promotion, state: 'open' }]);
    },
  },
  {
    name: 'automatic preview: opening a request posts its diff preview, secrets masked',
    async run(w) {
      const { forge } = w;
      w.feature = await forge.commit(
        'feature',
        { 'deploy/values.yaml': 'replicaCount: 2\ndatabase:\n  password: hunter2-very-secret\n' },
        'Two replicas',
      );
      w.request = await forge.openRequest('feature', 'develop', 'Two replicas');
      await until(() => forge.previewStatus(w.feature ?? '') === 'passed', 'the preview status');
      await waitForQueueSettled(forge.harness);
      const preview = forge.dagComment('app', w.request, 'diff') ?? '';
      expect(preview).toContain(`## DAG diff preview for <code>${w.feature.slice(0, 12)}</code>`);
      expect(preview).toContain('clusters/staging/my-app/helmrelease.yaml');
      expect(preview).toContain('HelmRelease');
      expect(preview).not.toContain('hunter2-very-secret');
      expect(preview).not.toContain(SA_TOKEN);
      expect(forge.dagCommentCount('app', w.request, 'diff')).toBe(1);
    },
  },
  {
    name: 'a command in a comment: /diff answers in the same sticky preview, acknowledged',
    async run(w) {
      const { forge } = w;
      const request = w.request ?? 0;
      const previewBefore = forge.dagComment('app', request, 'diff');
      const { id } = await forge.comment(request, '/diff staging', 'dev');
      await until(() => forge.acknowledgements(id).length === 2, 'the /diff acknowledgements');
      await waitForQueueSettled(forge.harness);
      expect(forge.acknowledgements(id)).toEqual(['eyes', '+1']);
      expect(forge.dagComment('app', request, 'command')).toContain(
        `- \`/diff\`: preview of \`staging\` for \`${(w.feature ?? '').slice(0, 7)}\``,
      );
      expect(forge.dagCommentCount('app', request, 'diff')).toBe(1);
      expect(forge.dagComment('app', request, 'diff')).toBe(previewBefore);
    },
  },
  {
    name: "refusal by rule: /deploy production from a developer's request is refused, nothing deployed",
    async run(w) {
      const { forge } = w;
      const request = w.request ?? 0;
      const iacBefore = await forge.head('iac', 'main');
      const { id } = await forge.comment(request, '/deploy production', 'dev');
      await until(() => forge.acknowledgements(id).includes('-1'), 'the refusal');
      await waitForQueueSettled(forge.harness);
      expect(forge.acknowledgements(id)).toEqual(['eyes', '-1']);
      const reply = forge.dagComment('app', request, 'command') ?? '';
      expect(reply).toContain('- `/deploy production`: refused');
      expect(reply).toContain(`production only takes ${forge.words.request}s into main`);
      expect(reply).not.toContain(otherNoun(forge));
      expect(await forge.head('iac', 'main')).toBe(iacBefore);
      expect(forge.deployments('production').map((d) => d.sha)).toEqual([w.production]);
    },
  },
  {
    name: 'a deploy from a request: /deploy staging commits the head, reports, promotes nothing',
    async run(w) {
      const { forge } = w;
      const request = w.request ?? 0;
      const feature = w.feature ?? '';
      const promotionHead = await forge.head('iac', PROMOTION_BRANCH);
      const { id, delivery } = await forge.comment(request, '/deploy staging', 'dev');
      w.deployComment = delivery;
      expect(await deployed(forge, 'staging', feature)).toBe('success');
      await until(() => forge.acknowledgements(id).length === 2, 'the /deploy acknowledgements');
      await waitForQueueSettled(forge.harness);
      expect(forge.acknowledgements(id)).toEqual(['eyes', '+1']);
      expect(await release(forge, 'main', 'staging')).toContain(feature);
      const ref = forge.words.ref(request);
      expect(forge.dagComment('app', request, 'deploy-staging')).toMatch(
        new RegExp(
          `^\\*\\*DAG\\*\\* deployed \`${feature.slice(0, 7)}\` of ${ref} to \\*\\*staging\\*\\*`,
        ),
      );
      expect(forge.dagComment('app', request, 'deploy-staging')).toContain(
        `staging now runs this ${forge.words.request}'s code until the next deploy to it.`,
      );
      // Unmerged code is not promoted: the promotion request still carries staging's branch.
      expect(await forge.head('iac', PROMOTION_BRANCH)).toBe(promotionHead);
    },
  },
  {
    name: 'redelivery: the same /deploy delivered again changes nothing',
    async run(w) {
      const { forge } = w;
      const delivery = w.deployComment;
      if (!delivery) throw new Error('the /deploy case runs first');
      const iacHead = await forge.head('iac', 'main');
      const deployments = forge.deployments('staging').length;
      const comments = forge.dagComment('app', w.request ?? 0, 'command');
      expect(await forge.redeliver(delivery)).toBeLessThan(300);
      await waitForQueueSettled(forge.harness);
      expect(await forge.head('iac', 'main')).toBe(iacHead);
      expect(forge.deployments('staging')).toHaveLength(deployments);
      expect(forge.dagComment('app', w.request ?? 0, 'command')).toBe(comments);
    },
  },
  {
    name: 'promotion: a new staging release updates the same promotion request',
    async run(w) {
      const { forge } = w;
      const merged = await forge.merge('app', w.request ?? 0);
      expect(await deployed(forge, 'staging', merged)).toBe('success');
      await until(
        async () => (await release(forge, PROMOTION_BRANCH, 'production')).includes(merged),
        'the promotion request to carry the merge',
      );
      await waitForQueueSettled(forge.harness);
      const open = forge.requests('iac').filter((r) => r.state === 'open');
      expect(open.map((r) => r.number)).toEqual([w.promotion]);
      expect(open[0]?.body).toContain(merged.slice(0, 7));
      w.staging = merged;
    },
  },
  {
    name: 'promotion: merging the promotion request puts the release in production and is recorded',
    async run(w) {
      const { forge } = w;
      await forge.merge('iac', w.promotion ?? 0);
      await until(
        async () => (await promotions(forge)).some((p) => p.state === 'merged'),
        'the promotion recorded merged',
      );
      await waitForQueueSettled(forge.harness);
      expect(await promotions(forge)).toEqual([{ number: w.promotion, state: 'merged' }]);
      expect(await release(forge, 'main', 'production')).toContain(w.staging);
      expect(forge.requests('iac').find((r) => r.number === w.promotion)?.state).toBe('merged');
    },
  },
  {
    name: 'commands in an issue: /promote and /status answer there, acknowledged; /diff asks for a request',
    async run(w) {
      const { forge } = w;
      const issue = await forge.openIssue('Release the checkout');
      const thread = { issue };
      const { id } = await forge.comment(thread, '/promote staging production', 'lead');
      await until(() => forge.acknowledgements(id).length === 2, 'the /promote answer');
      await waitForQueueSettled(forge.harness);
      expect(forge.acknowledgements(id)).toEqual(['eyes', '+1']);
      expect(forge.dagComment('app', thread, 'promote')).toMatch(
        /^\*\*DAG\*\*: nothing to promote shop from \*\*staging\*\* to \*\*production\*\*/,
      );
      const diff = await forge.comment(thread, '/diff', 'dev');
      await until(() => forge.acknowledgements(diff.id).includes('-1'), 'the /diff refusal');
      await waitForQueueSettled(forge.harness);
      expect(forge.dagComment('app', thread, 'command')).toContain(
        `- \`/diff\`: works in ${forge.words.request}s only.`,
      );
      // The issue's answers stay in the issue: nothing landed on the request of the same number.
      expect(forge.dagCommentCount('app', w.request ?? 0, 'promote')).toBe(0);
      // /status: what runs where. Monitoring is off in this harness (test/monitor/ covers it),
      // so each environment says so, with the commit DAG committed for it.
      const status = await forge.comment(thread, '/status', 'dev');
      await until(() => forge.acknowledgements(status.id).length === 2, 'the /status answer');
      await waitForQueueSettled(forge.harness);
      expect(forge.acknowledgements(status.id)).toEqual(['eyes', '+1']);
      const answer = forge.dagComment('app', thread, 'command') ?? '';
      expect(answer).toContain(
        `  - **staging**: not observed by cluster monitoring yet; committed \`${(w.staging ?? '').slice(0, 7)}\`.`,
      );
      // Production runs what the merged promotion brought: staging's release.
      expect(answer).toContain(
        `  - **production**: not observed by cluster monitoring yet; committed \`${(w.staging ?? '').slice(0, 7)}\`.`,
      );
    },
  },
  {
    name: "fix proposal: an agent's verified fix becomes a bot request for review, never merged",
    async run(w) {
      const { forge } = w;
      const res = await fetch(`${forge.harness.dag.url}/api/v1/fix-proposals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${w.apiToken}` },
        body: JSON.stringify({
          target: { app: 'shop', environment: 'staging' },
          change: { kind: 'values-patch', patch: { resources: { limits: { memory: '256Mi' } } } },
          title: 'Raise the memory limit to 256Mi',
          rationale: 'The pod was OOMKilled three times in the last hour.',
          evidence: [{ kind: 'event', text: 'OOMKilled: container my-app' }],
          agent: { name: 'sre-agent', model: 'test-model' },
        }),
      });
      expect(res.status, await res.clone().text()).toBe(202);
      await until(
        () => forge.requests('app').some((r) => r.head === FIX_BRANCH),
        'the fix proposal request',
      );
      await waitForQueueSettled(forge.harness);
      const fix = forge.requests('app').find((r) => r.head === FIX_BRANCH);
      expect(fix).toMatchObject({ state: 'open', base: 'develop', byDag: true });
      expect(fix?.labels).toEqual(expect.arrayContaining(['dag', 'ai-proposal']));
      expect(fix?.body).toContain('OOMKilled');
      expect(fix?.body).toContain(`opened this ${forge.words.request}`);
      expect(fix?.body).not.toContain(otherNoun(forge));
      const values = (await forge.files('app', FIX_BRANCH))['deploy/values-staging.yaml'] ?? '';
      expect(parse(values)).toEqual({ resources: { limits: { memory: '256Mi' } } });
      // Nothing deployed: the fix waits for a person.
      expect(forge.deployments('staging').map((d) => d.sha)).not.toContain(
        await forge.head('app', FIX_BRANCH),
      );
    },
  },
];

/** The whole table, in order, against the forge `start` builds: one column of the table. */
export function scenarioColumn(title: string, start: () => Promise<StartedForge>): void {
  let world: World | undefined;
  beforeAll(async () => {
    world = await startWorld(await start());
  }, 120_000);
  afterAll(async () => {
    await world?.forge.stop();
    await world?.kube.stop();
  });
  describe(title, () => {
    for (const scenario of SCENARIOS) {
      it(
        scenario.name,
        async () => {
          if (!world) throw new Error('the world did not start');
          await scenario.run(world);
        },
        120_000,
      );
    }
  });
}
