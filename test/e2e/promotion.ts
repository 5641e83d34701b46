import nock from 'nock';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  GITHUB_API,
  deliverGithub,
  expectDeployCalls,
  githubCommentPayload,
  githubPushPayload,
  mockGithubApp,
  restoreNetwork,
} from './github.ts';
import { FLUX_LAYOUT, fixtureFiles, startHarness, type Harness } from './harness.ts';

const RAW = { 'content-type': 'application/vnd.github.raw' };

let comments = 300;

/** The id the next `/promote` comment gets (unique across tests). */
export function nextComment(): number {
  return comments + 1;
}

/**
 * `/promote` comments in one issue of an app repository, by a maintainer, and the GitHub calls
 * every command makes around the promotion job: 👀, the permission, DAG's command reply, then
 * the job's answer (with its link) and the final reaction.
 */
export function promotionCommands(harness: () => Harness, app: string, issue: number) {
  return {
    async promote(text = '/promote'): Promise<number> {
      const id = ++comments;
      await deliverGithub(
        harness(),
        'issue_comment',
        githubCommentPayload(app, {
          number: issue,
          commentId: id,
          body: text,
          pullRequest: false,
          user: 'lead',
        }),
      );
      return id;
    },

    commandCalls(commentId: number): nock.Scope {
      return nock(GITHUB_API)
        .post(`/repos/${app}/issues/comments/${commentId}/reactions`, { content: 'eyes' })
        .reply(201, {})
        .get(`/repos/${app}/collaborators/lead/permission`)
        .reply(200, { permission: 'admin', role_name: 'maintain' })
        .get(`/repos/${app}/issues/${issue}/comments`)
        .query(true)
        .reply(200, [])
        .post(`/repos/${app}/issues/${issue}/comments`, (b) =>
          String(b.body).startsWith('<!-- dag:command:0 -->'),
        )
        .reply(201, { id: 1 });
    },

    replyCalls(commentId: number, reaction: '+1' | '-1', says: RegExp): nock.Scope {
      return nock(GITHUB_API)
        .get(`/repos/${app}/issues/${issue}/comments`)
        .query(true)
        .reply(200, [])
        .post(
          `/repos/${app}/issues/${issue}/comments`,
          (b) => String(b.body).startsWith('<!-- dag:promote:0 -->') && says.test(String(b.body)),
        )
        .reply(201, { id: 2 })
        .post(`/repos/${app}/issues/comments/${commentId}/reactions`, { content: reaction })
        .reply(201, {});
    },
  };
}

/** A pull request as GitHub's pulls API returns it (the fields DAG reads). */
export function pullResponse(
  input: { number: number; webBase: string; head: string; headRef: string; baseRef: string },
  state: 'open' | 'closed' = 'open',
  merged = false,
) {
  return {
    number: input.number,
    html_url: `${input.webBase}/pull/${input.number}`,
    state,
    merged,
    merged_at: merged ? '2026-11-21T10:00:00Z' : null,
    merge_commit_sha: merged ? input.head : null,
    title: 'Promote',
    body: '',
    head: { ref: input.headRef, sha: input.head },
    base: { ref: input.baseRef },
  };
}

/**
 * Pushes `source` to the app's `branch` and waits for the deploy it makes to `environment`
 * (GitHub Deployment `id`, base values `replicaCount: 1`).
 */
export async function pushAndDeploy(
  h: Harness,
  app: string,
  source: string,
  branch: string,
  environment: string,
  id: number,
): Promise<void> {
  const calls = expectDeployCalls(app, source, environment, id, 'replicaCount: 1\n');
  await deliverGithub(h, 'push', {
    ...githubPushPayload(app, source),
    ref: `refs/heads/${branch}`,
  });
  await waitFor(() => calls.isDone(), { what: `the ${environment} deploy of ${source}` });
}

/**
 * A fake kube apiserver with Flux's CRDs and the namespace `apps`, known to DAG as cluster
 * `name` (a service account token `token`).
 */
export async function startFluxCluster(
  h: Harness,
  name: string,
  token: string,
): Promise<FakeKubeApiserver> {
  const kube = await startFakeKubeApiserver({ token, crds: FLUX_CRDS });
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
  await h.dag.db.query(
    'INSERT INTO clusters (name, api_url, service_account_token, ca_cert) VALUES ($1, $2, $3, $4)',
    [name, kube.url, token, kube.caCert],
  );
  return kube;
}

/** Stops DAG and its git server, then the cluster, and lets the network out again. */
export async function stopAll(h?: Harness, kube?: FakeKubeApiserver): Promise<void> {
  await h?.stop();
  await kube?.stop();
  restoreNetwork();
}

/**
 * Promotions on GitHub, folder per environment: DAG with a Flux-layout IAC repository `iac`
 * (DAG's branches allowed, its API GitHub Enterprise style on the git server's origin), one
 * cluster, and the app `app` with staging (`develop`) and production (`main`) in the IAC's
 * folders and a route between them, promoted on `branch`. `start` it in `beforeAll`, `stop` it
 * in `afterAll`; the rest deploys, reads the promotion records and builds the GitHub calls.
 * `commitMessage` is the message of the one commit GitHub's compare lists.
 */
export function folderPromotion(options: {
  app: string;
  iac: string;
  branch: string;
  commitMessage?: string;
}) {
  const { app, iac: iacRepo, branch, commitMessage = 'Faster checkout' } = options;
  const token = `sa-token-${Math.random().toString(36).slice(2)}`;
  let h: Harness | undefined;
  let kube: FakeKubeApiserver | undefined;
  let iacOrigin = '';
  const harness = (): Harness => {
    if (!h) throw new Error('folderPromotion: start() first');
    return h;
  };

  return {
    harness,

    /**
     * Starts it all, then deploys the releases production and staging run: `production` pushed
     * to main (Deployment 100), then `staging` pushed to develop (Deployment 101).
     */
    async start(releases: { production: string; staging: string }): Promise<Harness> {
      mockGithubApp();
      h = await startHarness();
      await h.git.createRepo(iacRepo, {
        files: await fixtureFiles(FLUX_LAYOUT),
        dagBranches: true,
      });
      iacOrigin = new URL(h.git.url(iacRepo)).origin;
      const db = h.dag.db;
      await db.query(
        `INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ('iac', $1, $2, 'github')`,
        [h.git.url(iacRepo), h.iacToken],
      );
      // Production's cluster: the PR's preview dry-runs the release there.
      kube = await startFluxCluster(h, 'k8s', token);
      await db.query("INSERT INTO apps (git_provider, repo_url) VALUES ('github', $1)", [
        `https://github.com/${app}`,
      ]);
      await db.query(`
        INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
        VALUES (1, 'develop', 1, 'clusters/staging/my-app', 1, 'flux', 'apps', 'staging'),
               (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'apps', 'production');
        INSERT INTO promotion_routes (app_id, from_environment_id, to_environment_id) VALUES (1, 1, 2);
      `);
      await pushAndDeploy(h, app, releases.production, 'main', 'production', 100);
      await pushAndDeploy(h, app, releases.staging, 'develop', 'staging', 101);
      return h;
    },

    stop: () => stopAll(h, kube),

    /** Pushes `source` to the app's `branch` and waits for its deploy to `environment`. */
    deploy: (source: string, branch: string, environment: string, id: number) =>
      pushAndDeploy(harness(), app, source, branch, environment, id),

    /** Every promotion DAG recorded, oldest first. */
    async promotionRecords() {
      const { rows } = await harness().dag.db.query<{
        number: number | null;
        state: string;
        pushed_head: string | null;
        hands_off: boolean;
        source_sha: string | null;
      }>('SELECT number, state, pushed_head, hands_off, source_sha FROM promotions ORDER BY id');
      return rows;
    },

    /** The app's values at the promoted commit: base and production. */
    valuesReads(source: string): nock.Scope {
      return nock(GITHUB_API)
        .get(`/repos/${app}/contents/deploy%2Fvalues.yaml`)
        .query({ ref: source })
        .reply(200, 'replicaCount: 1\n', RAW)
        .get(`/repos/${app}/contents/deploy%2Fvalues-production.yaml`)
        .query({ ref: source })
        .reply(200, 'replicaCount: 3\n', RAW);
    },

    /** The app commit between what production runs and what is promoted (GitHub's compare). */
    compareCalls(base: string, head: string): nock.Scope {
      return nock(GITHUB_API)
        .get(`/repos/${app}/compare/${base}...${head}`)
        .query({ per_page: 20 })
        .reply(200, {
          html_url: `https://github.com/${app}/compare/${base}...${head}`,
          total_commits: 1,
          commits: [
            {
              sha: head,
              html_url: `https://github.com/${app}/commit/${head}`,
              commit: { message: commitMessage, author: { name: 'Dev' } },
              author: { login: 'dev' },
            },
          ],
          files: [{ filename: 'src/checkout.ts' }],
        });
    },

    /** The IAC repository's API, authenticated with the IAC's own token. */
    iac: (): nock.Scope =>
      nock(iacOrigin, { reqheaders: { authorization: `token ${harness().iacToken}` } }),

    /** The query DAG finds its open promotion PR with (GET /pulls). */
    openPullQuery: {
      state: 'open',
      head: `${iacRepo.split('/')[0]}:${branch}`,
      base: 'main',
      per_page: 1,
    },

    /** The promotion PR `number` of the IAC repository, from `branch` into main. */
    pull: (number: number, head: string, state: 'open' | 'closed' = 'open', merged = false) =>
      pullResponse(
        { number, webBase: `${iacOrigin}/${iacRepo}`, head, headRef: branch, baseRef: 'main' },
        state,
        merged,
      ),
  };
}
