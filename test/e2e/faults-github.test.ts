// Deploys on the path GitHub users run (DAG as `npm start` runs it, Probot's Octokit with its
// real retry and throttling plugins) against the GitHub stand-in with 30% of GitHub's
// content-creating requests failing: 502 before the request is handled, a secondary rate limit
// with Retry-After, or a 502 after it was handled (the write happened, the answer was lost).
// Every deploy still lands once, with one Deployment whose statuses move forward only and end in
// exactly one `success`.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  commitsLanded,
  deploySubject,
  deploymentsSucceeded,
  IAC,
  startGithubBench,
  type GithubBench,
} from '../../bench/github.ts';
import { tempDir } from '../../bench/lib.ts';
import { githubExample } from '../helpers/github-examples.ts';
import { waitFor } from '../helpers/wait.ts';

const APPS = 8;
let bench: GithubBench;
let work: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  work = await tempDir('dag-faults-github-');
  bench = await startGithubBench(work.path, APPS);
}, 240_000);

afterAll(async () => {
  await bench?.stop();
  await work?.dispose();
});

/** Waits until nothing waits, retries or runs in DAG: what is asserted next cannot change. */
async function settled(): Promise<void> {
  await waitFor(
    async () => {
      const text = await (await fetch(`${bench.dag.url}/metrics`)).text();
      return !/^dag_jobs\{[^}]*state="(created|retry|active)"[^}]*\} [1-9]/m.test(text);
    },
    { timeoutMs: 120_000, what: "DAG's job queue to settle" },
  );
}

const FAULTS = {
  seed: 7,
  rate: 0.3,
  kinds: ['bad-gateway', 'secondary', 'lost-bad-gateway'] as const,
  retryAfterSeconds: 1,
};

const ORDER: Record<string, number> = {
  pending: 0,
  queued: 0,
  in_progress: 1,
  success: 2,
  failure: 2,
  inactive: 3,
};

describe('deploys on GitHub with 30% of its writes failing', () => {
  it('land every deploy once, with one Deployment each and its final status once', async () => {
    const { gh } = bench;
    const targets: { app: string; sha: string }[] = [];
    for (const app of bench.apps) {
      targets.push({
        app,
        sha: await gh.commit(app, 'main', { 'deploy/values.yaml': `replicaCount: 2\n` }),
      });
    }
    gh.configure({ faults: { ...FAULTS, kinds: [...FAULTS.kinds] } });
    const landed = commitsLanded(
      gh,
      targets.map((t) => deploySubject(t.app, t.sha)),
      180_000,
    );
    const succeeded = deploymentsSucceeded(gh, targets, 180_000);
    await Promise.all(targets.map((t) => bench.push(t.app, t.sha)));
    await landed;
    await succeeded;
    await settled();
    gh.configure({ faults: null });

    const faults = gh.requests.filter(
      (r) => r.kind === 'api' && (r.status === 502 || r.status === 403),
    ).length;
    expect(faults).toBeGreaterThan(0);
    const log = await gh.git.log(IAC, 'main');
    for (const t of targets) {
      expect(log.filter((s) => s === deploySubject(t.app, t.sha))).toHaveLength(1);
      const deployments = gh
        .deployments(t.app)
        .filter((d) => d.sha === t.sha && d.environment === 'staging');
      expect(deployments).toHaveLength(1);
      const states = (deployments[0]?.statuses ?? []).map((s) => s.state);
      expect(states.filter((s) => s === 'success')).toHaveLength(1);
      const ranks = states.map((s) => ORDER[s] ?? -1);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    }
    expect(gh.unexpected()).toEqual([]);
    console.log(
      `faults: ${faults} GitHub answers failed; ${targets.length} deploys each landed once`,
    );
  }, 300_000);

  it('run a /deploy command once: one reply, one deploy comment, one Deployment', async () => {
    const { gh } = bench;
    const app = bench.apps[0] as string;
    await gh.createBranch(app, 'feature', 'main');
    const sha = await gh.commit(app, 'feature', { 'deploy/values.yaml': 'replicaCount: 3\n' });
    const opened = await fetch(`${gh.apiUrl}/repos/${app}/pulls`, {
      method: 'POST',
      headers: {
        authorization: `token ${bench.plainToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ title: 'Feature', head: 'feature', base: 'main' }),
    });
    expect(opened.status).toBe(201);
    const pr = ((await opened.json()) as { number: number }).number;
    gh.setPermission(app, 'octocat', 'write');
    const comment = gh.addComment(app, pr, '/deploy staging', 'octocat');

    const example = githubExample('issue_comment', (p) => p.action === 'created') as Record<
      string,
      unknown
    > & { issue: Record<string, unknown>; comment: Record<string, unknown> };
    const payload = {
      ...example,
      issue: {
        ...example.issue,
        number: pr,
        pull_request: { url: `${gh.apiUrl}/repos/${app}/pulls/${pr}` },
      },
      comment: {
        ...example.comment,
        id: comment.id,
        body: '/deploy staging',
        user: { ...(example.comment.user as object), login: 'octocat', type: 'User' },
      },
      repository: {
        ...(example.repository as object),
        full_name: app,
        html_url: gh.repoUrl(app),
        clone_url: gh.cloneUrl(app),
      },
      installation: { id: 1, node_id: 'x' },
    };
    gh.configure({ faults: { ...FAULTS, seed: 11, kinds: [...FAULTS.kinds] } });
    const landed = commitsLanded(gh, [deploySubject(app, sha)], 180_000);
    const succeeded = deploymentsSucceeded(gh, [{ app, sha }], 180_000);
    await bench.deliver('issue_comment', payload);
    await landed;
    await succeeded;
    await settled();
    gh.configure({ faults: null });

    const log = await gh.git.log(IAC, 'main');
    expect(log.filter((s) => s === deploySubject(app, sha))).toHaveLength(1);
    const deployments = gh.deployments(app).filter((d) => d.sha === sha);
    expect(deployments).toHaveLength(1);
    expect((deployments[0]?.statuses ?? []).filter((s) => s.state === 'success')).toHaveLength(1);
    // DAG's comments on the pull request: each of its sticky comments once.
    const mine = gh
      .comments(app, pr)
      .filter((c) => c.id !== comment.id)
      .map((c) => /^<!-- dag:([^:]+):\d+ -->/.exec(c.body)?.[1] ?? c.body.slice(0, 40));
    expect(new Set(mine).size).toBe(mine.length);
    expect(mine).toContain('deploy-staging');
    expect(gh.unexpected()).toEqual([]);
  }, 300_000);
});
