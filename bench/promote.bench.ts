// Promotion of a 50-file release (a plain chart with 48 templates) from staging to production,
// folder per environment, on GitLab: the provider requests one promotion costs, counted at a
// local GitLab stand-in, and its wall time against plain git building and pushing the same
// branch.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { QUEUES } from '../src/jobs/queue.ts';
import type { Service } from '../src/service.ts';
import type { PromotionRequest } from '../src/workflows/promote.ts';
import { startGitServer, type GitServer } from '../test/helpers/git-server.ts';
import { GitLabContract, contractKeeping } from '../test/helpers/gitlab-contract.ts';
import { keptContract, plainGitEnv, pushHook, sha, startGitlabDag, until } from './gitlab.ts';
import { log, median, result, type BenchResult } from './lib.ts';

const exec = promisify(execFile);
const RUNS = 10;
const TEMPLATES = 48;
const CHART: Record<string, string> = {
  'chart/Chart.yaml': 'apiVersion: v2\nname: charts\nversion: 1.0.0\n',
  'chart/values.yaml': 'port: 8080\n',
  ...Object.fromEntries(
    Array.from({ length: TEMPLATES }, (_, i) => [
      `chart/templates/t${i + 1}.yaml`,
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-${i + 1}\n`,
    ]),
  ),
  'deploy/values.yaml': 'replicaCount: 1\n',
  'deploy/values-production.yaml': 'replicaCount: 3\n',
};

type Seen = { method: string; path: string };

/**
 * The GitLab API answers a deploy and a promotion need: files and trees of the app, deployments,
 * commit statuses and merge requests. Every request is recorded.
 */
async function fakeGitlab(): Promise<{
  url: string;
  server: Server;
  seen: Seen[];
  contract: GitLabContract;
}> {
  const seen: Seen[] = [];
  let deployments = 0;
  let mr: Record<string, unknown> | undefined;
  const contract = new GitLabContract();
  const server = createServer(
    contractKeeping(contract, (req, res, { text: body }) => {
      const url = new URL(req.url ?? '/', 'http://gitlab');
      const method = req.method ?? 'GET';
      seen.push({ method, path: url.pathname });
      const send = (status: number, data: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof data === 'string' ? data : JSON.stringify(data));
      };
      const p = decodeURIComponent(url.pathname);
      const raw = /\/repository\/files\/(.+)\/raw$/.exec(p)?.[1];
      if (raw !== undefined) {
        const text = CHART[raw];
        if (text === undefined) return send(404, { message: '404 File Not Found' });
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end(text);
      }
      if (p.endsWith('/repository/tree')) {
        const folder = `${url.searchParams.get('path') ?? ''}/`;
        return send(
          200,
          Object.keys(CHART)
            .filter((f) => f.startsWith(folder))
            .map((f) => ({
              id: f,
              name: path.basename(f),
              type: 'blob',
              path: f,
              mode: '100644',
            })),
        );
      }
      if (method === 'POST' && p.endsWith('/deployments')) return send(201, { id: ++deployments });
      if (p.includes('/deployments/') || p.includes('/statuses/')) return send(200, {});
      if (p.endsWith('/merge_requests')) {
        if (method === 'GET') return send(200, mr ? [mr] : []);
        const input = JSON.parse(body) as Record<string, string>;
        mr = {
          iid: 1,
          project_id: 2,
          source_project_id: 2,
          target_project_id: 2,
          web_url: 'https://gitlab.example.com/bench/iac/-/merge_requests/1',
          state: 'opened',
          source_branch: input.source_branch,
          target_branch: input.target_branch,
          sha: sha(),
          title: input.title,
          description: input.description,
          merge_commit_sha: null,
        };
        return send(201, mr);
      }
      if (p.endsWith('/merge_requests/1') && mr) {
        if (method === 'PUT') {
          const input = JSON.parse(body) as Record<string, string>;
          mr = { ...mr, title: input.title, description: input.description };
        }
        return send(200, mr);
      }
      return send(404, { message: '404 Not Found' });
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server, seen, contract };
}

/** Plain git building the same branch: fetch, write the folder on the base tip, commit, push. */
async function plainPromoter(git: GitServer, token: string, dir: string) {
  const env = plainGitEnv(token);
  await exec('git', ['clone', '-q', git.url('bench/iac'), dir], { env });
  return async (files: Record<string, string>, run: number) => {
    await exec('git', ['fetch', '-q', 'origin'], { cwd: dir, env });
    await exec('git', ['checkout', '-q', '-B', 'promo', 'origin/main'], { cwd: dir, env });
    for (const [name, content] of Object.entries(files)) {
      const file = path.join(dir, 'clusters/production/plain', name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, `${content}# run ${run}\n`);
    }
    await exec('git', ['add', '-A'], { cwd: dir, env });
    await exec('git', ['commit', '-q', '-m', `promote ${run}`], { cwd: dir, env });
    await exec('git', ['push', '-q', '-f', 'origin', 'HEAD:refs/heads/dag/plain-promo'], {
      cwd: dir,
      env,
    });
  };
}

export async function run(): Promise<BenchResult[]> {
  const token = randomBytes(12).toString('hex');
  const work = await mkdtemp(path.join(os.tmpdir(), 'dag-bench-promote-'));
  const git = await startGitServer({ token });
  const gitlab = await fakeGitlab();
  let dag: Service | undefined;
  try {
    await git.createRepo('bench/iac', { files: { 'README.md': 'IAC\n' }, dagBranches: true });
    const started = await startGitlabDag(gitlab.url, path.join(work, 'cache'));
    dag = started.service;
    const service = dag;
    const db = service.db;
    // Nothing listens on port 1: the preview has the IAC diff, the live diff is skipped.
    await db.query("INSERT INTO clusters (name, api_url) VALUES ('c', 'https://127.0.0.1:1')");
    await db.query(
      `INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ('iac', $1, $2, 'gitlab')`,
      [git.url('bench/iac'), token],
    );
    await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', $1)", [
      'https://gitlab.example.com/bench/charts',
    ]);
    await db.query(`
      INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
      VALUES (1, 'develop', 1, 'clusters/staging/charts', 1, 'plain', 'apps', 'staging'),
             (1, 'main', 1, 'clusters/production/charts', 1, 'plain', 'apps', 'production');
      INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (1, 1, 2);
    `);
    const appRepo = {
      provider: 'gitlab' as const,
      fullName: 'bench/charts',
      urls: ['https://gitlab.example.com/bench/charts'],
      webUrl: 'https://gitlab.example.com/bench/charts',
      projectId: 1,
    };

    /** Staging gets a new release (DAG's own deploy), then one timed, counted promotion. */
    const once = async (): Promise<{ ms: number; requests: number }> => {
      const commit = sha();
      const pushes = git.pushes;
      await started.deliver(pushHook(1, 'charts', commit, 'develop'));
      await until(() => git.pushes > pushes, gitlab.contract);
      // The deploy reports success after its push: let it finish before counting.
      for (;;) {
        const { rows } = await db.query<{ state: string }>(
          'SELECT state FROM deploys WHERE sha = $1',
          [commit],
        );
        if (rows[0]?.state === 'success') break;
        keptContract(gitlab.contract);
        await new Promise((r) => setTimeout(r, 10));
      }
      await new Promise((r) => setTimeout(r, 100));
      const mark = gitlab.seen.length;
      const request: PromotionRequest = {
        routeId: 1,
        appRepo,
        origin: { kind: 'deploy', sha: commit },
      };
      const start = performance.now();
      await service.queue.enqueueKeyed(QUEUES.promote, `bench:${commit}`, request, 'route-1');
      await until(
        () =>
          gitlab.seen
            .slice(mark)
            .some(
              (s) =>
                (s.method === 'POST' && s.path.endsWith('/merge_requests')) ||
                (s.method === 'PUT' && s.path.endsWith('/merge_requests/1')),
            ),
        gitlab.contract,
      );
      return { ms: performance.now() - start, requests: gitlab.seen.length - mark };
    };

    log('promote: warm-up (opens the merge request)');
    const first = await once();
    const timed: number[] = [];
    const counted: number[] = [first.requests];
    for (let i = 0; i < RUNS; i++) {
      const { ms, requests } = await once();
      timed.push(ms);
      counted.push(requests);
    }
    const files = Object.keys(
      await git.files('bench/iac', 'dag/promote/charts/staging-to-production'),
    ).filter((f) => f.startsWith('clusters/production/charts/'));
    if (files.length !== 50) throw new Error(`the promotion holds ${files.length} files, not 50`);
    log(`promote: requests per promotion ${counted.join(', ')}`);

    log('promote: plain git baseline');
    const bundle = Object.fromEntries(
      Object.entries(await git.files('bench/iac', 'main'))
        .filter(([f]) => f.startsWith('clusters/staging/charts/'))
        .map(([f, c]) => [f.slice('clusters/staging/charts/'.length), c]),
    );
    const promote = await plainPromoter(git, token, path.join(work, 'plain'));
    const plain: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      await promote(bundle, i);
      plain.push(performance.now() - start);
    }

    keptContract(gitlab.contract);
    return [
      result('promote.files_50_requests', Math.max(...counted), 'requests', null),
      result('promote.files_50_ms', median(timed), 'ms', median(plain)),
    ];
  } finally {
    await dag?.close();
    await git.stop();
    await new Promise((r) => gitlab.server.close(r));
    await rm(work, { recursive: true, force: true });
  }
}
