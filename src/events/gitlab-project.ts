import { z } from 'zod';
import type { RepoRef } from './types.ts';

/** The `project` object of GitLab's webhook payloads (push, merge request, note). */
export const gitlabProject = z.looseObject({
  id: z.number().int(),
  path_with_namespace: z.string().min(3),
  web_url: z.string().url(),
  git_http_url: z.string().optional(),
  git_ssh_url: z.string().optional(),
});

export function gitlabRepo(project: z.infer<typeof gitlabProject>): RepoRef {
  return {
    provider: 'gitlab',
    fullName: project.path_with_namespace,
    urls: [project.web_url, project.git_http_url, project.git_ssh_url].filter(
      (u): u is string => typeof u === 'string' && u.length > 0,
    ),
    projectId: project.id,
    webUrl: project.web_url,
  };
}
