import { z } from 'zod';
import { gitlabProject, gitlabRepo } from './gitlab-project.ts';
import { gitRef, githubInstallation, sha, word } from './fields.ts';
import { invalidPayload } from './invalid.ts';
import type { Normalized, PushEvent } from './types.ts';

const ZERO = /^0+$/;

const githubPush = z.looseObject({
  ref: gitRef,
  before: sha,
  after: sha,
  deleted: z.boolean().optional(),
  repository: z.looseObject({
    full_name: z.string().min(3),
    html_url: z.string().url(),
    clone_url: z.string().optional(),
    ssh_url: z.string().optional(),
    git_url: z.string().optional(),
  }),
  pusher: z.looseObject({ name: z.string() }).optional(),
  sender: z.looseObject({ login: z.string() }).optional(),
  installation: githubInstallation,
  head_commit: z.looseObject({ url: z.string() }).nullable().optional(),
});

const gitlabPush = z.looseObject({
  object_kind: word,
  ref: gitRef,
  before: sha,
  after: sha,
  checkout_sha: sha.nullable().optional(),
  user_username: z.string().optional(),
  user_name: z.string().optional(),
  project_id: z.number().int().optional(),
  project: gitlabProject,
});

function branchOf(ref: string): string | undefined {
  return ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : undefined;
}

export function normalizeGithubPush(payload: unknown): Normalized<PushEvent> {
  const parsed = githubPush.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitHub push', parsed.error);
  const p = parsed.data;
  const branch = branchOf(p.ref);
  if (!branch) return { ignored: `not a branch push (${p.ref})` };
  if (p.deleted || ZERO.test(p.after)) return { ignored: `branch ${branch} deleted` };
  const webUrl = p.repository.html_url;
  return {
    event: {
      kind: 'push',
      repo: {
        provider: 'github',
        fullName: p.repository.full_name,
        urls: [webUrl, p.repository.clone_url, p.repository.ssh_url].filter(
          (u): u is string => typeof u === 'string' && u.length > 0,
        ),
        installationId: p.installation.id,
        webUrl,
      },
      branch,
      sha: p.after,
      before: p.before,
      pusher: p.pusher?.name ?? p.sender?.login ?? 'unknown',
      commitUrl: p.head_commit?.url ?? `${webUrl}/commit/${p.after}`,
    },
  };
}

export function normalizeGitlabPush(payload: unknown): Normalized<PushEvent> {
  const parsed = gitlabPush.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab push', parsed.error);
  const p = parsed.data;
  if (p.object_kind !== 'push') return { ignored: `not a branch push (${p.object_kind})` };
  const branch = branchOf(p.ref);
  if (!branch) return { ignored: `not a branch push (${p.ref})` };
  if (ZERO.test(p.after) || p.checkout_sha === null) return { ignored: `branch ${branch} deleted` };
  const webUrl = p.project.web_url;
  return {
    event: {
      kind: 'push',
      repo: gitlabRepo(p.project),
      branch,
      sha: p.after,
      before: p.before,
      pusher: p.user_username ?? p.user_name ?? 'unknown',
      commitUrl: `${webUrl}/-/commit/${p.after}`,
    },
  };
}
