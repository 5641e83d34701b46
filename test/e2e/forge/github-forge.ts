// The scenario table's GitHub: DAG (HTTP server, job queue, Probot's Octokit with its plugins)
// as a GitHub App on the GitHub stand-in (a GitHub Enterprise host that keeps GitHub's request
// contract and serves the app and IAC repositories as real git repositories), webhooks in the
// shapes of @octokit/webhooks-examples, signed as GitHub signs them.

import { expect } from 'vitest';
import { startGitHubStandIn, type GitHubStandIn } from '../../helpers/github-stand-in.ts';
import { testPrivateKey } from '../../helpers/service.ts';
import { commentMarker } from '../../../src/platform/types.ts';
import { FLUX_LAYOUT, fixtureFiles, startHarness, type Harness } from '../harness.ts';
import type {
  Acknowledgement,
  Delivery,
  Forge,
  RequestView,
  Role,
  StartedForge,
  Thread,
} from './forge.ts';

const APP = 'org/shop';
const IAC = 'org/iac';
const INSTALLATION = 4711;

export async function startGithubForge(options: {
  appFiles: Record<string, string>;
  /** Settings for DAG beyond the stand-in's. */
  env?: Record<string, string>;
}): Promise<StartedForge> {
  const gh: GitHubStandIn = await startGitHubStandIn({ appId: 4242, privateKey: testPrivateKey });
  await gh.createRepo(APP, { defaultBranch: 'main', files: options.appFiles });
  await gh.createRepo(IAC, {
    defaultBranch: 'main',
    files: await fixtureFiles(FLUX_LAYOUT),
    dagBranches: true,
  });
  gh.install(INSTALLATION, 'org');
  // The IAC's own token: DAG pushes its commits with it (pull requests go through the App).
  const iacToken = 'ghp_iacrepositorytoken000000000000000000';
  gh.addToken(iacToken, { login: 'iac-bot', repositories: [IAC] });
  const h: Harness = await startHarness({
    GHE_HOST: gh.host,
    GHE_PROTOCOL: 'http',
    ...options.env,
  });
  const webhooks = `${h.dag.url}/api/github/webhooks`;
  const full = (repo: 'app' | 'iac') => (repo === 'app' ? APP : IAC);

  async function deliver(event: string, payload: object, id?: string): Promise<Delivery> {
    const delivery = { event, payload, id: id ?? `gh-${Math.random().toString(36).slice(2)}` };
    const answer = await gh.deliver(webhooks, h.dag.secrets.github, event, payload, delivery.id);
    expect(answer.status, answer.body).toBeLessThan(300);
    return delivery;
  }

  /** GitHub numbers issues and pull requests in one sequence: a thread is its number. */
  const numberOf = (thread: Thread) => (typeof thread === 'number' ? thread : thread.issue);
  const comments = (repo: 'app' | 'iac', thread: Thread, topic: string) => {
    const marker = commentMarker(topic, 0);
    return gh
      .comments(full(repo), numberOf(thread))
      .filter((c) => c.user.type === 'Bot' && c.body.startsWith(marker))
      .map((c) => c.body.slice(marker.length).replace(/^\n/, ''));
  };

  const forge: Forge = {
    provider: 'github',
    words: { request: 'pull request', ref: (n) => `#${n}` },
    harness: h,
    app: APP,
    iac: IAC,

    async commit(branch, files, message) {
      const repo = gh.state.repo(APP);
      if (!(await repo?.git.resolveCommit(`refs/heads/${branch}`))) {
        await gh.createBranch(APP, branch, 'refs/heads/main');
      }
      return gh.commit(APP, branch, files, message);
    },
    head: (repo, branch) => gh.git.head(full(repo), branch),
    files: (repo, branch) => gh.git.files(full(repo), branch),
    async announcePush(branch, before) {
      const after = await gh.git.head(APP, branch);
      return deliver('push', gh.pushPayload(APP, { after, before, branch }));
    },
    async openRequest(head, base, title) {
      const number = await gh.openPull(APP, { head, base, title, user: 'dev' });
      await deliver('pull_request', await gh.pullRequestPayload(APP, number, 'opened', 'dev'));
      return number;
    },
    async announceRequestPushed(number, before) {
      const payload = await gh.pullRequestPayload(APP, number, 'synchronize', 'dev');
      return deliver('pull_request', { ...payload, before, after: await headOf(number) });
    },
    openIssue: async (title) => gh.openIssue(APP, { title, user: 'dev' }),
    async comment(thread, body, user) {
      const comment = gh.addComment(APP, numberOf(thread), body, user);
      const delivery = await deliver('issue_comment', await gh.commentPayload(APP, comment.id));
      return { id: comment.id, delivery };
    },
    async redeliver(delivery) {
      const answer = await gh.deliver(
        webhooks,
        h.dag.secrets.github,
        delivery.event,
        delivery.payload,
        delivery.id,
      );
      return answer.status;
    },
    setRole(user: string, role: Role) {
      gh.setPermission(APP, user, role === 'maintainer' ? 'maintain' : 'write');
    },
    async merge(repo, number) {
      const name = full(repo);
      const base = gh.pulls(name).find((p) => p.number === number)?.pull?.base ?? 'main';
      const before = await gh.git.head(name, base);
      const sha = await gh.mergePull(name, number, 'lead');
      await deliver('pull_request', await gh.pullRequestPayload(name, number, 'closed', 'lead'));
      await deliver('push', gh.pushPayload(name, { after: sha, before, branch: base }));
      return sha;
    },

    dagComment: (repo, thread, topic) => comments(repo, thread, topic)[0],
    dagCommentCount: (repo, thread, topic) => comments(repo, thread, topic).length,
    acknowledgements: (commentId) =>
      (gh.state.comments.get(commentId)?.reactions ?? []).map((r) => r.content as Acknowledgement),
    deployments: (environment) =>
      gh
        .deployments(APP)
        .filter((d) => d.environment === environment)
        .map((d) => ({ sha: d.sha, state: d.statuses.at(-1)?.state ?? 'created' })),
    deployStatuses: (environment, sha) =>
      gh
        .deployments(APP)
        .filter((d) => d.environment === environment && d.sha === sha)
        .flatMap((d) => d.statuses.map((s) => ({ state: s.state, description: s.description }))),
    previewStatus(sha) {
      const run = gh.state.checkRuns.findLast(
        (c) => c.repo.toLowerCase() === APP && c.name === 'dag/diff' && c.headSha === sha,
      );
      if (!run) return undefined;
      if (run.status !== 'completed') return 'running';
      return run.conclusion === 'failure' ? 'failed' : 'passed';
    },
    requests: (repo) =>
      gh
        .pulls(full(repo))
        .toSorted((a, b) => a.number - b.number)
        .map((issue): RequestView => ({
          number: issue.number,
          state: issue.state === 'open' ? 'open' : issue.pull?.merged ? 'merged' : 'closed',
          title: issue.title,
          body: issue.body ?? '',
          head: issue.pull?.head ?? '',
          base: issue.pull?.base ?? '',
          labels: issue.labels,
          byDag: issue.user.type === 'Bot',
        })),

    async stop() {
      await h.stop();
      const unexpected = gh.unexpected().map((r) => `${r.method} ${r.path}`);
      await gh.stop();
      // Every request DAG sent was one GitHub documents.
      expect(unexpected).toEqual([]);
    },
  };

  async function headOf(number: number): Promise<string> {
    const pull = gh.pulls(APP).find((p) => p.number === number)?.pull;
    if (!pull) throw new Error(`no pull request #${number}`);
    return gh.git.head(APP, pull.head);
  }

  return { forge, appUrl: gh.repoUrl(APP), iacUrl: gh.cloneUrl(IAC), iacToken };
}
