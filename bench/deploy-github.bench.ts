// Push to deploy on the path GitHub users run: DAG (`node src/main.ts`, a child process) as a
// GitHub App with Probot's Octokit and its real retry and throttling plugins, against a local
// GitHub Enterprise stand-in that keeps real git repositories (test/helpers/github-stand-in.ts).
//
// - deploy.github.push_to_commit_ms: signed push webhook sent -> the IAC commit on the stand-in's
//   git server (warm cache), median of DAG_BENCH_GITHUB_RUNS (5); baseline: plain git fetch,
//   commit and push of the same bundle to the same server.
// - deploy.github.deployment_final_ms: the same webhook -> the `success` deployment status on the
//   stand-in; baseline: the plain push plus the same six GitHub requests made plainly in sequence.
// - deploy.github.contended_<N>_ms: N apps (DAG_BENCH_GITHUB_APPS, default 50) sharing one IAC
//   branch, N pushes at once -> all N commits landed, median of DAG_BENCH_GITHUB_CONTENDED_RUNS
//   (3); baseline: N sequential plain pushes. At today's speed one run of 50 takes minutes:
//   set DAG_BENCH_GITHUB_APPS lower for a quick local look (the metric's name says the count).
// - deploy.github.requests_per_deploy and deploy.github.git_processes_per_deploy: GitHub API
//   requests (from the stand-in's log) and git processes (a counting `git` first on DAG's PATH)
//   per single deploy; baselines: what the plain path needed.

import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { plainPusher } from './gitlab.ts';
import { log, median, result, setting, tempDir, type BenchResult } from './lib.ts';
import {
  apiRequests,
  commitsLanded,
  deploySubject,
  deploymentsSucceeded,
  gitCounter,
  iacPath,
  IAC,
  plainGithubCalls,
  startGithubBench,
} from './github.ts';

const RUNS = setting('DAG_BENCH_GITHUB_RUNS', 5);
const APPS = setting('DAG_BENCH_GITHUB_APPS', 50);
const CONTENDED_RUNS = setting('DAG_BENCH_GITHUB_CONTENDED_RUNS', 3);
const SINGLE_TIMEOUT_MS = 180_000;
const CONTENDED_TIMEOUT_MS = 60 * 60_000;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function run(): Promise<BenchResult[]> {
  const work = await tempDir('dag-bench-github-');
  log(`deploy-github: stand-in and DAG with ${APPS + 1} app repositories`);
  const bench = await startGithubBench(work.path, APPS + 1);
  const { gh } = bench;
  try {
    const [single, ...contendedApps] = bench.apps as [string, ...string[]];
    let counter = 0;
    const commitApp = (app: string) =>
      gh.commit(app, 'main', {
        'deploy/values.yaml': `replicaCount: 1\nrun: ${++counter}\n`,
      });
    const deployOnce = async (app: string) => {
      const sha = await commitApp(app);
      const landed = commitsLanded(gh, [deploySubject(app, sha)], SINGLE_TIMEOUT_MS);
      const done = deploymentsSucceeded(gh, [{ app, sha }], SINGLE_TIMEOUT_MS);
      const sentAt = Date.now();
      const start = performance.now();
      await bench.push(app, sha);
      return { sha, sentAt, commit: (await landed) - start, final: (await done) - start };
    };

    // One deploy end to end, warm: the first one clones and mints the token; those measured
    // fetch and reuse it.
    log('deploy-github: warm-up');
    await deployOnce(single);
    const commitMs: number[] = [];
    const finalMs: number[] = [];
    let requests = 0;
    let writes = 0;
    let gitRequests = 0;
    let gitProcesses = 0;
    const routes = new Map<string, number>();
    for (let i = 0; i < RUNS; i++) {
      const from = gh.requests.length;
      const gitBefore = await bench.gitProcesses();
      const measured = await deployOnce(single);
      commitMs.push(measured.commit);
      finalMs.push(measured.final);
      const api = apiRequests(gh, from);
      requests += api.length;
      writes += api.filter((r) => r.write).length;
      gitRequests += gh.requests.slice(from).filter((r) => r.kind === 'git').length;
      gitProcesses += (await bench.gitProcesses()) - gitBefore;
      for (const r of api)
        routes.set(`${r.route} ${r.status}`, (routes.get(`${r.route} ${r.status}`) ?? 0) + 1);
      log(
        `deploy-github: run ${i + 1}: commit ${seconds(measured.commit)}, success status ${seconds(measured.final)}`,
      );
      if (i === RUNS - 1) {
        // Where the time goes: each request DAG made, from the moment the webhook was sent.
        for (const r of gh.requests.slice(from)) {
          log(
            `deploy-github:   +${r.startedAt - measured.sentAt} ms ${r.kind} ${r.route} ${r.status} (${Math.round(r.ms)} ms)`,
          );
        }
      }
    }
    log(
      `deploy-github: per deploy: ${requests / RUNS} GitHub requests (${writes / RUNS} writes), ${gitRequests / RUNS} git HTTP requests, ${gitProcesses / RUNS} git processes`,
    );
    for (const [route, n] of routes) log(`deploy-github:   ${route}: ${n / RUNS} per deploy`);

    log('deploy-github: plain git and plain GitHub calls baseline');
    const files = await gh.git.files(IAC, 'main');
    const folder = `${iacPath(single)}/`;
    const bundle = Object.fromEntries(
      Object.entries(files)
        .filter(([f]) => f.startsWith(folder))
        .map(([f, c]) => [f.slice(folder.length), c]),
    );
    const plainCounter = await gitCounter(path.join(work.path, 'plain-git-counter'));
    const push = await plainPusher(
      gh.cloneUrl(IAC),
      bench.plainToken,
      path.join(work.path, 'plain'),
      plainCounter.bin,
    );
    const plainCommit: number[] = [];
    const plainFinal: number[] = [];
    const plainRequestsBefore = gh.requests.length;
    let plainGitProcesses = 0;
    for (let i = 0; i < RUNS; i++) {
      const changed = { ...bundle, 'values.yaml': `${bundle['values.yaml'] ?? ''}# run ${i}\n` };
      const sha = await commitApp(single);
      const before = await plainCounter.count();
      const start = performance.now();
      await push('clusters/staging/plain', changed);
      plainCommit.push(performance.now() - start);
      plainGitProcesses += (await plainCounter.count()) - before;
      await plainGithubCalls(gh, bench.plainToken, single, sha);
      plainFinal.push(performance.now() - start);
    }
    const plainRequests = apiRequests(gh, plainRequestsBefore).length / RUNS;

    const contended: number[] = [];
    const contendedFinal: number[] = [];
    for (let run = 0; run < CONTENDED_RUNS; run++) {
      log(
        `deploy-github: ${APPS} apps at once on one IAC branch, run ${run + 1}/${CONTENDED_RUNS}`,
      );
      const targets: { app: string; sha: string }[] = [];
      for (const app of contendedApps) targets.push({ app, sha: await commitApp(app) });
      const landed = commitsLanded(
        gh,
        targets.map((t) => deploySubject(t.app, t.sha)),
        CONTENDED_TIMEOUT_MS,
      );
      const done = deploymentsSucceeded(gh, targets, CONTENDED_TIMEOUT_MS);
      const start = performance.now();
      await Promise.all(targets.map((t) => bench.push(t.app, t.sha)));
      contended.push((await landed) - start);
      contendedFinal.push((await done) - start);
      log(
        `deploy-github: all ${APPS} commits in ${seconds(contended.at(-1) as number)}, all success statuses in ${seconds(contendedFinal.at(-1) as number)}`,
      );
    }

    const sequential: number[] = [];
    for (let run = 0; run < CONTENDED_RUNS; run++) {
      const start = performance.now();
      for (let i = 0; i < APPS; i++) {
        const changed = {
          ...bundle,
          'values.yaml': `${bundle['values.yaml'] ?? ''}# run ${run}\n`,
        };
        await push(`clusters/staging/plain-${i}`, changed);
      }
      sequential.push(performance.now() - start);
    }

    const unexpected = gh.unexpected();
    if (unexpected.length > 0) {
      throw new Error(
        `DAG called routes the stand-in does not know: ${unexpected.map((r) => `${r.method} ${r.path}`).join(', ')}`,
      );
    }
    const refused = gh.requests.filter((r) => r.kind === 'api' && r.status === 422);
    if (refused.length > 0) log(`deploy-github: ${refused.length} requests answered 422`);

    return [
      result('deploy.github.push_to_commit_ms', median(commitMs), 'ms', median(plainCommit)),
      result('deploy.github.deployment_final_ms', median(finalMs), 'ms', median(plainFinal)),
      result(`deploy.github.contended_${APPS}_ms`, median(contended), 'ms', median(sequential)),
      result('deploy.github.requests_per_deploy', requests / RUNS, 'requests', plainRequests),
      result(
        'deploy.github.git_processes_per_deploy',
        gitProcesses / RUNS,
        'processes',
        plainGitProcesses / RUNS,
      ),
    ];
  } finally {
    await bench.stop();
    await work.dispose();
  }
}
