import nock from 'nock';
import type { GitLabContract } from '../helpers/gitlab-contract.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
import { startHarness, type Harness } from './harness.ts';

export const GITLAB = 'https://gitlab.example.com';
export const BOT_TOKEN = 'glpat-dag-bot-token';

/** GitLab's documented Push Hook, for project 15 (mike/diaspora), branch master. */
export const gitlabPush = gitlabExample('push-hook');
export const GITLAB_PUSH_SHA = gitlabPush.after as string;

/**
 * A Push Hook delivery `uuid` as GitLab sends it, with DAG's webhook token; `headers` override
 * any (another event, a wrong token).
 */
export function deliverGitlab(
  h: Harness,
  body: object,
  uuid: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${h.dag.url}/api/gitlab/webhooks`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gitlab-event': 'Push Hook',
      'x-gitlab-token': h.dag.secrets.gitlab,
      'x-gitlab-event-uuid': uuid,
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

/**
 * No network but loopback, and the harness with DAG on GitLab settings (GITLAB_URL `GITLAB`,
 * GITLAB_TOKEN `BOT_TOKEN`) and `env`. The Push Hook's app has a production environment on
 * master, deployed to clusters/production/my-app of the harness's IAC repository (whose provider
 * is `iacProvider`, when given) with `helmType`.
 */
export async function startGitlabHarness(options: {
  env?: Record<string, string>;
  helmType: 'plain' | 'flux';
  iacProvider?: 'gitlab';
}): Promise<Harness> {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  const h = await startHarness({ GITLAB_URL: GITLAB, GITLAB_TOKEN: BOT_TOKEN, ...options.env });
  await h.dag.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'http://example.com/mike/diaspora');
    INSERT INTO clusters (name, api_url) VALUES ('prod-1', 'https://k8s.example.com:6443');
  `);
  await h.dag.db.query(
    'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4)',
    ['iac', h.git.url('iac'), h.iacToken, options.iacProvider ?? null],
  );
  await h.dag.db.query(
    `INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name)
     VALUES (1, 'master', 1, 'clusters/production/my-app', 1, $1, 'production', 'diaspora')`,
    [options.helmType],
  );
  return h;
}

/** Stops the harness, gives the network back, and fails if DAG broke GitLab's contract. */
export async function stopGitlabHarness(
  h: Harness | undefined,
  contract: GitLabContract,
): Promise<void> {
  await h?.stop();
  nock.cleanAll();
  nock.enableNetConnect();
  contract.assertKept();
}
