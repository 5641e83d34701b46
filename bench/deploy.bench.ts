// Push to deploy: webhook received to IAC commit pushed (warm cache), and 20 deploys contending
// for one IAC branch, each against plain git doing the same change to the same kind of remote.

import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Service } from '../src/service.ts';
import { startGitServer } from '../test/helpers/git-server.ts';
import { GitLabContract, contractKeeping } from '../test/helpers/gitlab-contract.ts';
import { keptContract, plainPusher, pushHook, sha, startGitlabDag, until } from './gitlab.ts';
import { log, median, result, type BenchResult } from './lib.ts';

const RUNS = 15;
const CONTENDED = 20;

/**
 * The few GitLab API answers a deploy needs, from a local server (no network, no mocks), which
 * refuses what GitLab refuses (GitLab's contract).
 */
async function fakeGitlab(): Promise<{ url: string; server: Server; contract: GitLabContract }> {
  let id = 0;
  const contract = new GitLabContract();
  const server = createServer(
    contractKeeping(contract, (req, res) => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET') return send(404, { message: '404 Not Found' });
      if (req.method === 'POST' && req.url?.endsWith('/deployments'))
        return send(201, { id: ++id });
      return send(req.method === 'POST' ? 201 : 200, {});
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, server, contract };
}

export async function run(): Promise<BenchResult[]> {
  const token = randomBytes(12).toString('hex');
  const work = await mkdtemp(path.join(os.tmpdir(), 'dag-bench-deploy-'));
  const git = await startGitServer({ token });
  const gitlab = await fakeGitlab();
  let dag: Service | undefined;
  try {
    await git.createRepo('iac', { defaultBranch: 'main', files: { 'README.md': 'IAC\n' } });
    const started = await startGitlabDag(gitlab.url, path.join(work, 'cache'));
    dag = started.service;
    const service = dag;
    await service.db.query(
      "INSERT INTO clusters (name, api_url) VALUES ('c', 'https://k8s.example.com')",
    );
    await service.db.query('INSERT INTO iacs (name, repo_url, access_token) VALUES ($1, $2, $3)', [
      'iac',
      git.url('iac'),
      token,
    ]);
    for (let i = 0; i <= CONTENDED; i++) {
      await service.db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', $1)", [
        `https://gitlab.example.com/bench/app-${i}`,
      ]);
      await service.db.query(
        `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace)
         VALUES ($1, 'main', 1, $2, 1, 'flux', 'apps')`,
        [i + 1, `clusters/staging/app-${i}`],
      );
    }
    const deliver = (project: number, name: string, commit: string) =>
      started.deliver(pushHook(project, name, commit));

    // One deploy end to end, warm: the first one clones, the measured ones fetch.
    log('deploy: warm-up');
    let pushes = git.pushes;
    await deliver(1, 'app-0', sha());
    await until(() => git.pushes > pushes, gitlab.contract);
    const single: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      pushes = git.pushes;
      const start = performance.now();
      await deliver(1, 'app-0', sha());
      await until(() => git.pushes > pushes, gitlab.contract);
      single.push(performance.now() - start);
    }
    const files = await git.files('iac', 'main');
    const bundle = Object.fromEntries(
      Object.entries(files)
        .filter(([f]) => f.startsWith('clusters/staging/app-0/'))
        .map(([f, c]) => [f.slice('clusters/staging/app-0/'.length), c]),
    );

    log('deploy: plain git baseline');
    const push = await plainPusher(git.url('iac'), token, path.join(work, 'plain'));
    const plain: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const changed = { ...bundle, 'values.yaml': `${bundle['values.yaml'] ?? ''}# run ${i}\n` };
      const start = performance.now();
      await push('clusters/staging/plain', changed);
      plain.push(performance.now() - start);
    }

    log(`deploy: ${CONTENDED} apps at once on one IAC branch`);
    pushes = git.pushes;
    const before = (await git.log('iac', 'main')).length;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: CONTENDED }, (_, i) => deliver(i + 2, `app-${i + 1}`, sha())),
    );
    let done = 0;
    while (done < CONTENDED) {
      keptContract(gitlab.contract);
      await new Promise((r) => setTimeout(r, 20));
      done = (await git.log('iac', 'main')).length - before;
    }
    const contended = performance.now() - start;

    const sequential = await (async () => {
      const t = performance.now();
      for (let i = 0; i < CONTENDED; i++) {
        await push(`clusters/staging/plain-${i}`, bundle);
      }
      return performance.now() - t;
    })();

    keptContract(gitlab.contract);
    return [
      result('deploy.push_to_commit_ms', median(single), 'ms', median(plain)),
      result('deploy.contended_20_ms', contended, 'ms', sequential),
    ];
  } finally {
    await dag?.close();
    await git.stop();
    await new Promise((r) => gitlab.server.close(r));
    await rm(work, { recursive: true, force: true });
  }
}
