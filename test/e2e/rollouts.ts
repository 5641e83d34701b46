// The rollout table: what DAG reports while a cluster rolls out what it committed, the same on
// GitHub and GitLab (one column each: rollouts-github.test.ts, rollouts-gitlab.test.ts). DAG
// runs with cluster monitoring on against the scenario world (scenarios.ts): staging on the
// fake cluster `k8s`, whose objects the cases change as Flux and the kubelet would, through the
// fake kube-apiserver's watch streams. The cases run in order, one story:
//
// 1. A push stays `in_progress` on the provider until staging runs it healthy; only then does
//    the automatic promotion open.
// 2. A crash loop fails the rollout, with its cause; nothing is promoted.
// 3. A progress deadline fails the next one.
// 4. A commit superseded before it rolled out is ended (inactive / canceled), and the newer one
//    that rolls out is promoted.
// 5. A merged request gets one deployment card that follows its commit through staging, the
//    promotion request in the IAC repository, and production.
// 6. `/status` answers with what monitoring saw, a drift (a HelmRelease suspended by hand) too.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.ts';
import type { Forge, StartedForge } from './forge/forge.ts';
import { waitForQueueSettled } from './harness.ts';
import { startWorld, type World } from './scenarios.ts';

export const NS = 'apps';
const ZERO = '0'.repeat(40);
export const RELEASE = 'shop';
export const DEPLOYMENT = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  name: RELEASE,
  namespace: NS,
};
export const HELM_RELEASE = {
  apiVersion: 'helm.toolkit.fluxcd.io/v2',
  kind: 'HelmRelease',
  name: RELEASE,
  namespace: NS,
};
const POD = { apiVersion: 'v1', kind: 'Pod', name: 'shop-7c9d-x2k9p', namespace: NS };

/** DAG with monitoring on, reporting a rollout at most once a second. */
export const MONITORED = { DAG_MONITOR: 'on', DAG_ROLLOUT_REPORT_SECONDS: '1' };

/** Production's namespace on the same cluster (staging's is NS). */
const PRODUCTION_NS = 'apps-production';
const environmentOf = (namespace: string) => (namespace === NS ? 'staging' : 'production');

const provenance = (sha: string, namespace = NS) => ({
  'dag.dev/app': 'shop',
  'dag.dev/environment': environmentOf(namespace),
  'dag.dev/source-commit': sha,
});

/** The HelmRelease as Flux shows it once it applied generation `generation`. */
export function helmRelease(sha: string, generation: number, namespace = NS) {
  return {
    object: {
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      metadata: { name: RELEASE, namespace, generation, annotations: provenance(sha, namespace) },
      spec: { releaseName: RELEASE, interval: '5m', chart: { spec: { chart: 'shop' } } },
    },
    status: {
      observedGeneration: generation,
      lastAttemptedRevision: `0.1.0+${sha.slice(0, 12)}`,
      lastAppliedRevision: `0.1.0+${sha.slice(0, 12)}`,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'UpgradeSucceeded',
          message: 'Helm upgrade succeeded',
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  };
}

/** The release's Deployment with its pod template on `sha` (2 replicas). */
export function deployment(sha: string, generation: number, namespace = NS) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: RELEASE,
      namespace,
      generation,
      annotations: { 'meta.helm.sh/release-name': RELEASE, ...provenance(sha, namespace) },
    },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'shop' } },
      template: {
        metadata: { labels: { app: 'shop' }, annotations: provenance(sha, namespace) },
        spec: { containers: [{ name: 'web', image: `shop:${sha.slice(0, 7)}` }] },
      },
    },
  };
}

export function deploymentStatus(
  generation: number,
  updated: number,
  progressing: { status: string; reason: string; message?: string } = {
    status: 'True',
    reason: 'ReplicaSetUpdated',
  },
) {
  return {
    observedGeneration: generation,
    replicas: 2,
    updatedReplicas: updated,
    readyReplicas: updated,
    availableReplicas: updated,
    conditions: [
      { type: 'Available', status: 'True', reason: 'MinimumReplicasAvailable' },
      { type: 'Progressing', ...progressing },
    ],
  };
}

/** A pod of `sha`'s template whose container keeps crashing. */
function crashingPod(sha: string) {
  return {
    object: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: POD.name,
        namespace: NS,
        labels: { app: 'shop' },
        annotations: provenance(sha),
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'shop-7c9d', controller: true },
        ],
      },
      spec: { containers: [{ name: 'web', image: `shop:${sha.slice(0, 7)}` }] },
    },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'web',
          ready: false,
          restartCount: 6,
          state: { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' } },
        },
      ],
    },
  };
}

type RolloutWorld = World & { generation: number; commits: string[] };

const until = (check: () => boolean | Promise<boolean>, what: string) =>
  waitFor(check, { what, timeoutMs: 60_000 });

/** The last status DAG posted on deploying `sha` to staging. */
const lastStatus = (forge: Forge, sha: string) => forge.deployStatuses('staging', sha).at(-1);

/** A person pushes a change to develop; DAG commits its release: the commit. */
async function pushed(w: RolloutWorld, version: number): Promise<string> {
  const { forge } = w;
  const before = w.commits.length === 0 ? ZERO : await forge.head('app', 'develop');
  const sha = await forge.commit(
    'develop',
    { 'src/app.ts': `export const version = ${version};\n` },
    `Version ${version}`,
  );
  await forge.announcePush('develop', before);
  await until(
    async () => {
      const files = await forge.files('iac', 'main');
      return (files['clusters/staging/my-app/helmrelease.yaml'] ?? '').includes(sha);
    },
    `the release of ${sha.slice(0, 7)} committed`,
  );
  w.commits.push(sha);
  return sha;
}

/** Flux applies `sha`'s release in `namespace`: its Deployment rolls it out (`updated` of 2). */
function fluxApplies(w: RolloutWorld, sha: string, updated: number, namespace = NS): void {
  w.generation++;
  const release = helmRelease(sha, w.generation, namespace);
  const workload = deployment(sha, w.generation, namespace);
  if (w.kube.get(HELM_RELEASE.apiVersion, HELM_RELEASE.kind, RELEASE, namespace)) {
    w.kube.update(release.object);
    w.kube.setStatus({ ...HELM_RELEASE, namespace }, release.status);
    w.kube.update(workload);
  } else {
    w.kube.seed(release.object, { status: release.status });
    w.kube.seed(workload, { status: deploymentStatus(w.generation, updated) });
  }
  w.kube.setStatus({ ...DEPLOYMENT, namespace }, deploymentStatus(w.generation, updated));
}

/** DAG's open promotion request in the IAC repository, if any. */
const promotion = (forge: Forge) =>
  forge.requests('iac').find((r) => r.byDag && r.state === 'open');

/** The other provider's word for a request: never in what DAG writes on this one. */
const otherNoun = (forge: Forge) =>
  forge.words.request === 'pull request' ? 'merge request' : 'pull request';

type Case = { name: string; run(world: RolloutWorld): Promise<void> };

const CASES: Case[] = [
  {
    name: 'a push stays in progress until staging runs it healthy; only then is it promoted',
    async run(w) {
      const { forge } = w;
      const sha = await pushed(w, 2);
      await until(() => lastStatus(forge, sha)?.state === 'in_progress', 'the commit posted');
      await waitForQueueSettled(forge.harness);
      // Committed, not rolled out: still in progress, and nothing promoted yet.
      expect(lastStatus(forge, sha)?.state).toBe('in_progress');
      expect(forge.deployments('staging').findLast((d) => d.sha === sha)?.state).not.toBe(
        'success',
      );
      expect(promotion(forge)).toBeUndefined();
      if (forge.provider === 'github') {
        expect(lastStatus(forge, sha)?.description).toMatch(
          /^Committed [0-9a-f]{7} to iac main:clusters\/staging\/my-app; rolling out$/,
        );
      }

      fluxApplies(w, sha, 1);
      await until(
        async () =>
          (
            await forge.harness.dag.db.query(
              "SELECT 1 FROM environment_rollouts WHERE phase = 'progressing'",
            )
          ).rows.length > 0,
        'the rollout seen progressing',
      );
      await waitForQueueSettled(forge.harness);
      expect(lastStatus(forge, sha)?.state).toBe('in_progress');
      expect(promotion(forge)).toBeUndefined();

      w.kube.setStatus(DEPLOYMENT, deploymentStatus(w.generation, 2));
      await until(() => lastStatus(forge, sha)?.state === 'success', 'the healthy rollout');
      expect(lastStatus(forge, sha)?.description).toBe(`staging runs ${sha.slice(0, 7)}, healthy`);
      await until(() => promotion(forge) !== undefined, 'the promotion request');
      expect(promotion(forge)?.body).toContain(sha.slice(0, 7));
      // The promotion says how staging runs what it promotes.
      expect(promotion(forge)?.body).toContain(
        `| staging health | healthy on <code>${sha.slice(0, 12)}</code> since `,
      );
    },
  },
  {
    name: 'a crash loop fails the rollout with its cause, and nothing is promoted',
    async run(w) {
      const { forge } = w;
      const promoted = promotion(forge);
      const sha = await pushed(w, 3);
      fluxApplies(w, sha, 1);
      const pod = crashingPod(sha);
      w.kube.seed(pod.object, { status: pod.status });
      await until(() => lastStatus(forge, sha)?.state === 'failure', 'the failed rollout');
      expect(lastStatus(forge, sha)?.description).toMatch(
        /^Rollout failed: .*CrashLoopBackOff.*shop-7c9d-x2k9p/,
      );
      await waitForQueueSettled(forge.harness);
      // The promotion still carries the healthy release.
      expect(promotion(forge)?.body).toBe(promoted?.body);
      expect(promotion(forge)?.body).not.toContain(sha.slice(0, 7));
      w.kube.remove(POD);
    },
  },
  {
    name: 'a progress deadline fails the next rollout',
    async run(w) {
      const { forge } = w;
      const sha = await pushed(w, 4);
      fluxApplies(w, sha, 1);
      w.kube.setStatus(
        DEPLOYMENT,
        deploymentStatus(w.generation, 1, {
          status: 'False',
          reason: 'ProgressDeadlineExceeded',
          message: 'ReplicaSet "shop-8d1e" has timed out progressing.',
        }),
      );
      await until(() => lastStatus(forge, sha)?.state === 'failure', 'the failed rollout');
      expect(lastStatus(forge, sha)?.description).toMatch(
        /^Rollout failed: .*ProgressDeadlineExceeded/,
      );
    },
  },
  {
    name: 'a commit superseded before it rolled out is ended; the newer one rolls out and is promoted',
    async run(w) {
      const { forge } = w;
      const first = await pushed(w, 5);
      const second = await pushed(w, 6);
      await until(() => lastStatus(forge, first)?.state === 'inactive', 'the superseded one');
      expect(lastStatus(forge, first)?.description).toBe(
        `Superseded before it rolled out: ${second.slice(0, 7)} was committed after it`,
      );
      fluxApplies(w, second, 2);
      await until(() => lastStatus(forge, second)?.state === 'success', 'the healthy rollout');
      await until(
        () => promotion(forge)?.body.includes(second.slice(0, 7)) ?? false,
        'the promotion updated',
      );
    },
  },
  {
    name: 'a merged request gets one deployment card that follows its commit to production',
    async run(w) {
      const { forge } = w;
      await forge.commit('search', { 'src/search.ts': 'export const search = 2;\n' }, 'Search');
      const number = await forge.openRequest('search', 'develop', 'Faster search');
      const sha = await forge.merge('app', number);
      w.commits.push(sha);
      const card = () => forge.dagComment('app', number, 'deployments') ?? '';
      const row = (environment: string, stage: string) =>
        card().includes(`| ${environment} | ${stage} |`);
      await until(() => row('staging', 'committed; rolling out'), 'the card: staging rolls out');
      expect(card()).toContain(
        `**DAG** — where this ${forge.words.request} runs: \`${sha.slice(0, 7)}\`, the commit its merge made.`,
      );
      expect(card()).not.toContain(otherNoun(forge));

      fluxApplies(w, sha, 2);
      await until(() => row('staging', 'healthy'), 'the card: staging healthy');
      await until(
        () => card().includes('| production | promotion open: ['),
        'the card: production waits in the promotion',
      );
      const open = promotion(forge);
      expect(open?.body).toContain(sha.slice(0, 7));

      // The promotion is merged in the IAC repository: production rolls the same commit out.
      await forge.merge('iac', open?.number ?? 0);
      await until(() => row('production', 'committed; rolling out'), 'the card: production');
      expect(forge.deployStatuses('production', sha).at(-1)?.state).toBe('in_progress');
      fluxApplies(w, sha, 2, PRODUCTION_NS);
      await until(() => row('production', 'healthy'), 'the card: production healthy');
      await until(
        () => forge.deployStatuses('production', sha).at(-1)?.state === 'success',
        'the production deployment',
      );
      // One card, edited in place; no card on the requests of direct pushes.
      expect(forge.dagCommentCount('app', number, 'deployments')).toBe(1);
    },
  },
  {
    name: '/status answers with what monitoring saw, and with a drift',
    async run(w) {
      const { forge } = w;
      const issue = await forge.openIssue('What runs where?');
      const { id } = await forge.comment({ issue }, '/status staging', 'dev');
      await until(() => forge.acknowledgements(id).length === 2, 'the /status answer');
      const answer = forge.dagComment('app', { issue }, 'command') ?? '';
      const live = (w.commits.at(-1) ?? '').slice(0, 7);
      expect(answer).toMatch(
        new RegExp(
          `\\*\\*staging\\*\\*: healthy since [^;]+; live \`${live}\`, committed \`${live}\`\\.`,
        ),
      );

      // A person suspends staging's HelmRelease by hand: the cluster drifted from git.
      const current = w.kube.get(HELM_RELEASE.apiVersion, HELM_RELEASE.kind, RELEASE, NS) ?? {};
      w.kube.update({ ...current, spec: { ...(current.spec as object), suspend: true } });
      await until(
        async () =>
          (
            await forge.harness.dag.db.query(
              "SELECT 1 FROM environment_rollouts r JOIN apps_environments e ON e.id = r.environment_id WHERE e.name = 'staging' AND (r.state->'drift'->>'drifted')::boolean",
            )
          ).rows.length > 0,
        'the drift seen',
      );
      const again = await forge.comment({ issue }, '/status staging', 'dev');
      await until(() => forge.acknowledgements(again.id).length === 2, 'the second answer');
      expect(forge.dagComment('app', { issue }, 'command')).toMatch(
        /Drifted from the IAC repository \(edited outside git\) since \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$/,
      );
    },
  },
];

/** The whole table, in order, against the forge `start` builds (with MONITORED settings). */
export function rolloutColumn(title: string, start: () => Promise<StartedForge>): void {
  let world: RolloutWorld | undefined;
  beforeAll(async () => {
    world = { ...(await startWorld(await start())), generation: 0, commits: [] };
    // Production in a namespace of its own on the same cluster: its objects are its own.
    await world.forge.harness.dag.db.query(
      "UPDATE apps_environments SET helm_namespace = $1 WHERE name = 'production'",
      [PRODUCTION_NS],
    );
    world.kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: PRODUCTION_NS } });
  }, 120_000);
  afterAll(async () => {
    await world?.forge.stop();
    await world?.kube.stop();
  });
  describe(title, () => {
    for (const c of CASES) {
      it(
        c.name,
        async () => {
          if (!world) throw new Error('the world did not start');
          await c.run(world);
        },
        120_000,
      );
    }
  });
}
