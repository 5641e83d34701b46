import type { PushEvent, RepoRef } from '../events/types.ts';
import type { ConfigStore } from '../store/types.ts';
import type { App } from '../model.ts';

/** One environment to deploy one commit to: the data of a deploy job. */
export type DeployRequest = {
  environmentId: number;
  /** The IAC repository and branch it writes: deploys to one target run one at a time. */
  target: { iacId: number; iacBranch: string | null };
  sha: string;
  branch: string;
  pusher: string;
  repo: RepoRef;
  commitUrl: string;
  /** Set when a /deploy command asked for it: DAG reports back on this pull request. */
  pullRequest?: number | undefined;
  /**
   * Set for a request (`/deploy`, `dag deploy`) rather than a push: which request asked
   * (`comment:<id>`, `cli:<uuid>`), and the deploy attempt it was given (requestDeploy). A push
   * has neither: it is the commit's latest attempt, or its first.
   */
  requestKey?: string | undefined;
  attempt?: number | undefined;
  /** The webhook delivery that asked for this deploy: its job's log lines carry the id. */
  deliveryId?: string | undefined;
  /** When that webhook was received (ISO 8601): the deploy's duration counts from here. */
  receivedAt?: string | undefined;
};

export type DeployPlan =
  { app: App; requests: DeployRequest[] } | { ignored: string; app?: App | undefined };

/** The environments a push deploys: those of the pushed repo's app mapped to its branch. */
export async function planDeploys(push: PushEvent, store: ConfigStore): Promise<DeployPlan> {
  const app = await store.findAppByRepoUrls(push.repo.urls);
  if (!app) return { ignored: `no app is configured for ${push.repo.webUrl}` };
  if (app.gitProvider !== push.repo.provider) {
    return {
      app,
      ignored: `app ${app.name} is configured for ${app.gitProvider}, not ${push.repo.provider}`,
    };
  }
  const envs = (await store.listEnvironments(String(app.id))).filter(
    (e) => e.branch === push.branch,
  );
  if (envs.length === 0)
    return { app, ignored: `branch ${push.branch} of ${app.name} is not mapped` };
  return {
    app,
    requests: envs.map((env) => ({
      environmentId: env.id,
      target: { iacId: env.iacId, iacBranch: env.iacBranch },
      sha: push.sha,
      branch: push.branch,
      pusher: push.pusher,
      repo: push.repo,
      commitUrl: push.commitUrl,
    })),
  };
}
