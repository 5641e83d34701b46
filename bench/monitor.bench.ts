// Cluster monitoring on the path GitHub users run: DAG (`node src/main.ts`, a child process, as
// `npm start` runs it: Probot's Octokit with its real retry and throttling plugins, the default
// worker polling) as a GitHub App against the GitHub stand-in (test/helpers/github-stand-in.ts),
// monitoring a cluster served by the fake kube-apiserver (test/helpers/fake-kube-apiserver.ts).
// The world is the rollout table's (test/e2e/rollouts.ts): the app org/shop, staging on branch
// develop, release `shop` in namespace `apps` of a Flux cluster, the IAC repository org/iac in
// the Flux layout; each rollout is that table's first case: a push to develop, DAG commits the
// release, Flux applies it (1 of 2 replicas updated), then the Deployment turns fully ready and
// DAG reports `success` on the commit's GitHub deployment.
//
// (The e2e forge, startGithubForge, runs DAG in this process with GitHub throttling off and
// DAG_WORKER_POLL_SECONDS=0.5, test settings: the child process here keeps production's.)
//
// - monitor.state_to_provider_ms: the Deployment's status turning fully ready on the fake
//   kube-apiserver for the committed commit -> the `success` deployment status recorded by the
//   stand-in, median of DAG_BENCH_MONITOR_RUNS (5) rollouts. DAG runs with
//   DAG_ROLLOUT_REPORT_SECONDS=1 (rollouts.ts's MONITORED): reports of one environment are
//   debounced to one per interval, and the first report in an interval goes out at once. The
//   bench waits out the interval before each change (nothing else of DAG's is pending then), so
//   the figure includes the debounce only as that immediate first report; a report of another
//   change in the same second would add up to one interval. It also includes the monitor's own
//   settle window (src/monitor/cluster-monitor.ts, 200 ms from a namespace's first event to its
//   evaluation). Baseline: a plain watch (@kubernetes/client-node's Watch on the Deployments of
//   the same namespace of the same fake kube-apiserver) seeing the same change, in the same run:
//   the raw watch latency.
// - monitor.provider_requests_per_rollout: every HTTP request DAG sent to the stand-in (REST API
//   and git smart HTTP alike, the stand-in serves both) from the push webhook until the
//   `success` status (included), median per rollout; no baseline.

import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig, Watch, type KubernetesObject } from '@kubernetes/client-node';
import { migrate } from '../src/store/migrate.ts';
import { openDatabase } from '../src/store/open.ts';
import { readSettings } from '../src/settings.ts';
import { FLUX_LAYOUT, fixtureFiles } from '../test/e2e/harness.ts';
import {
  DEPLOYMENT,
  HELM_RELEASE,
  MONITORED,
  NS,
  RELEASE,
  deployment,
  deploymentStatus,
  helmRelease,
} from '../test/e2e/rollouts.ts';
import { APP_FILES } from '../test/e2e/scenarios.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../test/helpers/fake-kube-apiserver.ts';
import {
  startGitHubStandIn,
  type GitHubStandIn,
  type RequestRecord,
} from '../test/helpers/github-stand-in.ts';
import {
  dagConfig,
  freePort,
  githubDagEnv,
  log,
  median,
  result,
  setting,
  spawnNode,
  stopChildren,
  tempDir,
  waitReady,
  type BenchResult,
  type Child,
} from './lib.ts';

const RUNS = setting('DAG_BENCH_MONITOR_RUNS', 5);
const TIMEOUT_MS = 120_000;
/** DAG_ROLLOUT_REPORT_SECONDS, in ms. */
const REPORT_INTERVAL_MS = Number(MONITORED.DAG_ROLLOUT_REPORT_SECONDS) * 1000;

const APP = 'org/shop';
const IAC = 'org/iac';
const APP_ID = 4242;
const INSTALLATION = 4711;
const BRANCH = 'develop';
const ENVIRONMENT = 'staging';

type DeploymentStatusEvent = {
  deployment: { repo: string; sha: string; environment: string };
  status: { state: string; description: string };
};

type World = {
  gh: GitHubStandIn;
  kube: FakeKubeApiserver;
  kubeToken: string;
  dag: Child;
  webhooks: string;
  webhookSecret: string;
  /** Removes the stand-in's repositories when the bench is stopped by a signal. */
  leftovers: () => void;
  /** The HelmRelease's and Deployment's generation, as Flux's applies bump it. */
  generation: number;
};

/** The world of rollouts.ts, with DAG in a child process configured as an operator's SQL does. */
async function startWorld(work: string): Promise<World> {
  const config = dagConfig(path.join(work, 'dag'));
  const gh = await startGitHubStandIn({ appId: APP_ID, privateKey: config.privateKey });
  const leftovers = () => rmSync(gh.git.dir, { recursive: true, force: true });
  process.once('exit', leftovers);
  let kube: FakeKubeApiserver | undefined;
  let dag: Child | undefined;
  try {
    await gh.createRepo(APP, { defaultBranch: 'main', files: APP_FILES });
    await gh.createBranch(APP, BRANCH, 'refs/heads/main');
    await gh.createRepo(IAC, {
      defaultBranch: 'main',
      files: await fixtureFiles(FLUX_LAYOUT),
      dagBranches: true,
    });
    gh.install(INSTALLATION, 'org');
    const iacToken = `ghp_${randomBytes(18).toString('hex')}`;
    gh.addToken(iacToken, { login: 'iac-bot', repositories: [IAC] });

    const kubeToken = `sa-token-${randomBytes(8).toString('hex')}`;
    kube = await startFakeKubeApiserver({ token: kubeToken, crds: FLUX_CRDS });
    kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });

    const env: Record<string, string> = {
      ...githubDagEnv(config, path.join(work, 'cache'), gh.host, APP_ID),
      ...MONITORED,
    };
    const db = await openDatabase(readSettings(env).database);
    try {
      await migrate(db);
      await db.query(
        'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4)',
        ['iac', gh.cloneUrl(IAC), iacToken, 'github'],
      );
      await db.query(
        'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4)',
        ['k8s', kube.url, kubeToken, kube.caCert],
      );
      await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
        gh.repoUrl(APP),
      ]);
      await db.query(
        `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
         VALUES (1, $1, 1, 'clusters/staging/my-app', 1, 'flux', $2, $3)`,
        [BRANCH, NS, ENVIRONMENT],
      );
    } finally {
      await db.close();
    }

    dag = spawnNode('DAG (GitHub App, monitoring)', ['src/main.ts'], env, await freePort());
    await waitReady(dag);
    const started = dag;
    const cluster = kube;
    return {
      gh,
      kube: cluster,
      kubeToken,
      dag: started,
      webhooks: `${started.url}/api/github/webhooks`,
      webhookSecret: config.webhookSecret,
      leftovers,
      generation: 0,
    };
  } catch (error) {
    await stopChildren(dag);
    await kube?.stop();
    await gh.stop();
    process.off('exit', leftovers);
    throw error;
  }
}

/**
 * Flux applies `sha`'s release: the HelmRelease and the Deployment of a new generation, with
 * `updated` of 2 replicas on it (rollouts.ts's fluxApplies, on this world).
 */
function fluxApplies(w: World, sha: string, updated: number): void {
  w.generation++;
  const release = helmRelease(sha, w.generation);
  if (w.kube.get(HELM_RELEASE.apiVersion, HELM_RELEASE.kind, RELEASE, NS)) {
    w.kube.update(release.object);
    w.kube.setStatus(HELM_RELEASE, release.status);
    w.kube.update(deployment(sha, w.generation));
  } else {
    w.kube.seed(release.object, { status: release.status });
    w.kube.seed(deployment(sha, w.generation), {
      status: deploymentStatus(w.generation, updated),
    });
  }
  w.kube.setStatus(DEPLOYMENT, deploymentStatus(w.generation, updated));
}

/**
 * Resolves with the performance-clock time at which the stand-in records a deployment status of
 * `sha` that `wanted` accepts, and the length of its request log then.
 */
function statusRecorded(
  gh: GitHubStandIn,
  sha: string,
  wanted: (status: DeploymentStatusEvent['status']) => boolean,
  what: string,
): Promise<{ at: number; logged: number }> {
  return new Promise((resolve, reject) => {
    const listener = (event: DeploymentStatusEvent) => {
      if (
        event.deployment.repo.toLowerCase() !== APP ||
        event.deployment.sha !== sha ||
        event.deployment.environment !== ENVIRONMENT ||
        !wanted(event.status)
      ) {
        return;
      }
      const at = performance.now();
      clearTimeout(timer);
      gh.events.off('deployment_status', listener);
      resolve({ at, logged: gh.requests.length });
    };
    const timer = setTimeout(() => {
      gh.events.off('deployment_status', listener);
      reject(new Error(`timed out after ${TIMEOUT_MS} ms waiting for ${what}`));
    }, TIMEOUT_MS);
    gh.events.on('deployment_status', listener);
  });
}

/** Waits until DAG has sent the stand-in nothing for `quietMs`. */
async function quiet(gh: GitHubStandIn, quietMs: number): Promise<void> {
  const deadline = performance.now() + TIMEOUT_MS;
  for (;;) {
    const last = gh.requests.at(-1)?.finishedAt ?? 0;
    const idle = Date.now() - last;
    if (idle >= quietMs) return;
    if (performance.now() > deadline) throw new Error('DAG never went quiet');
    await sleep(quietMs - idle + 5);
  }
}

/** The plain tool: @kubernetes/client-node's Watch on the namespace's Deployments. */
function plainWatcher(w: World) {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'k8s',
        server: w.kube.url,
        caData: Buffer.from(w.kube.caCert).toString('base64'),
        skipTLSVerify: false,
      },
    ],
    users: [{ name: 'plain', token: w.kubeToken }],
    contexts: [{ name: 'k8s', cluster: 'k8s', user: 'plain' }],
    currentContext: 'k8s',
  });
  const watch = new Watch(kc);
  return {
    /**
     * Opens a watch from the store's current resourceVersion; `seen` resolves at the event
     * (performance clock) that shows the Deployment's generation `generation` fully ready.
     */
    async open(generation: number): Promise<{ seen: Promise<number>; close(): void }> {
      let resolveSeen: (at: number) => void = () => {};
      let rejectSeen: (error: Error) => void = () => {};
      const seen = new Promise<number>((resolve, reject) => {
        resolveSeen = resolve;
        rejectSeen = reject;
      });
      const controller = await watch.watch(
        `/apis/apps/v1/namespaces/${NS}/deployments`,
        { resourceVersion: String(w.kube.resourceVersion()) },
        (type: string, object: KubernetesObject & { status?: Record<string, unknown> }) => {
          const at = performance.now();
          if (
            type === 'MODIFIED' &&
            object.metadata?.name === RELEASE &&
            object.status?.observedGeneration === generation &&
            object.status.readyReplicas === 2 &&
            object.status.updatedReplicas === 2
          ) {
            resolveSeen(at);
          }
        },
        (error: unknown) => {
          if (error) rejectSeen(error instanceof Error ? error : new Error(String(error)));
          else rejectSeen(new Error('the plain watch ended'));
        },
      );
      return { seen, close: () => controller.abort() };
    },
  };
}

type Rollout = {
  /** Deployment ready -> `success` recorded by the stand-in. */
  provider: number;
  /** Deployment ready -> the plain watch's event. */
  watch: number;
  /** Push webhook sent -> `success` recorded. */
  total: number;
  /** Date.now() when the webhook was sent and when the Deployment turned ready. */
  pushedWall: number;
  changedWall: number;
  requests: RequestRecord[];
  /** The statuses DAG posted on the commit's deployments, in order. */
  statuses: string[];
};

let version = 1;

/** One push to develop, rolled out healthy on the cluster; what it took. */
async function rollout(w: World): Promise<Rollout> {
  const { gh } = w;
  const before = await gh.git.head(APP, BRANCH);
  version++;
  const sha = await gh.commit(
    APP,
    BRANCH,
    { 'src/app.ts': `export const version = ${version};\n` },
    `Version ${version}`,
  );
  // DAG's requests of this rollout: from the webhook on (the bench sends the stand-in none).
  const from = gh.requests.length;
  const committed = statusRecorded(
    gh,
    sha,
    (s) => s.state === 'in_progress' && s.description.startsWith('Committed '),
    `the commit of ${sha.slice(0, 7)} posted`,
  );
  const succeeded = statusRecorded(
    gh,
    sha,
    (s) => s.state === 'success',
    `the success of ${sha.slice(0, 7)}`,
  );
  succeeded.catch(() => {});
  const pushedAt = performance.now();
  const pushedWall = Date.now();
  const answer = await gh.deliver(
    w.webhooks,
    w.webhookSecret,
    'push',
    gh.pushPayload(APP, { after: sha, before, branch: BRANCH }),
  );
  if (answer.status >= 300) throw new Error(`DAG answered ${answer.status}: ${answer.body}`);
  await committed;

  // Flux applies it: rolling out, 1 of 2 replicas. DAG's report of that (if any) goes out,
  // and the report interval passes, before the change that is measured.
  fluxApplies(w, sha, 1);
  await sleep(REPORT_INTERVAL_MS + 500);
  await quiet(gh, REPORT_INTERVAL_MS + 200);

  const watcher = await plainWatcher(w).open(w.generation);
  let changedAt: number;
  let changedWall: number;
  let seenAt: number;
  try {
    changedWall = Date.now();
    changedAt = performance.now();
    w.kube.setStatus(DEPLOYMENT, deploymentStatus(w.generation, 2));
    seenAt = await watcher.seen;
  } finally {
    watcher.close();
  }
  const success = await succeeded;
  if (success.at < changedAt) {
    throw new Error(`DAG reported success on ${sha.slice(0, 7)} before its rollout was ready`);
  }
  // The stand-in logs the success status's request once its answer is sent, after the event.
  const successRecord = async () => {
    const deadline = performance.now() + 10_000;
    for (;;) {
      const record = gh.requests
        .slice(success.logged)
        .find((r) => r.method === 'POST' && r.path.endsWith('/statuses'));
      if (record) return record;
      if (performance.now() > deadline) throw new Error('the success status was never logged');
      await sleep(5);
    }
  };
  const cutoff = (await successRecord()).seq;
  const log = gh.requests.slice(from);
  return {
    provider: success.at - changedAt,
    watch: seenAt - changedAt,
    total: success.at - pushedAt,
    pushedWall,
    changedWall,
    requests: log.filter((r) => r.seq <= cutoff),
    statuses: gh
      .deployments(APP)
      .filter((d) => d.sha === sha)
      .flatMap((d) => d.statuses.map((s) => `${s.state} "${s.description}"`)),
  };
}

export async function run(): Promise<BenchResult[]> {
  const work = await tempDir('dag-bench-monitor-');
  log('monitor: stand-in, fake kube-apiserver and DAG with monitoring on');
  const w = await startWorld(work.path);
  try {
    // The first rollout clones the IAC repository, mints the token and creates the objects.
    log('monitor: warm-up rollout');
    await rollout(w);
    const provider: number[] = [];
    const watch: number[] = [];
    const requests: number[] = [];
    const routes = new Map<string, number>();
    for (let i = 0; i < RUNS; i++) {
      const r = await rollout(w);
      provider.push(r.provider);
      watch.push(r.watch);
      requests.push(r.requests.length);
      for (const q of r.requests) {
        const key = `${q.kind} ${q.route ?? `${q.method} ${q.path}`} ${q.status}`;
        routes.set(key, (routes.get(key) ?? 0) + 1);
      }
      if (i === RUNS - 1) {
        // Where the time goes: each request DAG made, from the moment the webhook was sent.
        log(
          `monitor:   webhook sent at ${new Date(r.pushedWall).toISOString()}; +${r.changedWall - r.pushedWall} ms the Deployment turned ready`,
        );
        for (const q of r.requests) {
          log(
            `monitor:   +${q.startedAt - r.pushedWall} ms ${q.kind} ${q.route ?? q.path} ${q.status} (${Math.round(q.ms)} ms)`,
          );
        }
        for (const status of r.statuses) log(`monitor:   status ${status}`);
      }
      log(
        `monitor: rollout ${i + 1}: ready -> success ${r.provider.toFixed(1)} ms (plain watch ${r.watch.toFixed(2)} ms), push -> success ${(r.total / 1000).toFixed(1)} s, ${r.requests.length} requests (${r.requests.filter((q) => q.kind === 'api').length} API)`,
      );
    }
    for (const [route, n] of routes) log(`monitor:   ${route}: ${n / RUNS} per rollout`);

    const unexpected = w.gh.unexpected();
    if (unexpected.length > 0) {
      throw new Error(
        `DAG called routes the stand-in does not know: ${unexpected.map((r) => `${r.method} ${r.path}`).join(', ')}`,
      );
    }
    return [
      result('monitor.state_to_provider_ms', median(provider), 'ms', median(watch)),
      result('monitor.provider_requests_per_rollout', median(requests), 'requests', null),
    ];
  } finally {
    await stopChildren(w.dag);
    await w.kube.stop();
    await w.gh.stop();
    process.off('exit', w.leftovers);
    await work.dispose();
  }
}
