import { z } from 'zod';
import { gitRef, sha, word } from './fields.ts';
import { gitlabProject, gitlabRepo } from './gitlab-project.ts';
import { invalidPayload } from './invalid.ts';
import type { CommentEvent, Normalized, PullRequestEvent } from './types.ts';

/** GitLab's limit for a note's body, in characters. */
export const MAX_GITLAB_NOTE_CHARS = 1_000_000;

/**
 * The user GitLab makes for a project or group access token: `project_<id>_bot_<random>` or
 * `group_<id>_bot_<random>` (GitLab's access token documentation). Never a command's author.
 */
const TOKEN_BOT = /^(project|group)_\d+_bot(_[0-9a-f]+)?$/;

const gitlabNote = z.looseObject({
  object_kind: word,
  user: z.looseObject({ id: z.number().int(), username: z.string().min(1) }),
  project: gitlabProject,
  object_attributes: z.looseObject({
    id: z.number().int().positive(),
    // Bounded before anything parses it: GitLab stores no longer note.
    note: z.string().max(MAX_GITLAB_NOTE_CHARS).nullable(),
    noteable_type: word,
    system: z.boolean().optional(),
    action: word.optional(),
  }),
});
/** What a note on a merge request carries besides: the merge request. */
const onMergeRequest = z.looseObject({
  merge_request: z.looseObject({ iid: z.number().int().positive() }),
});
/** What a note on an issue carries besides: the issue. */
const onIssue = z.looseObject({
  issue: z.looseObject({ iid: z.number().int().positive() }),
});

/** The iid of the merge request or issue a note is on. */
function noteTarget(payload: unknown, onRequest: boolean): number {
  if (onRequest) {
    const parsed = onMergeRequest.safeParse(payload);
    if (!parsed.success) throw invalidPayload('GitLab Note Hook', parsed.error);
    return parsed.data.merge_request.iid;
  }
  const parsed = onIssue.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab Note Hook', parsed.error);
  return parsed.data.issue.iid;
}

/**
 * A GitLab Note Hook: a new note on a merge request or an issue can hold commands (in an issue:
 * those that need no merge request, such as /promote). System notes (GitLab's own, e.g. "added
 * 1 commit"), edited notes and notes on anything else (commits, snippets) are ignored; DAG's own
 * notes are told apart later, against its token's user.
 */
export function normalizeGitlabNote(payload: unknown): Normalized<CommentEvent> {
  const parsed = gitlabNote.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab Note Hook', parsed.error);
  const p = parsed.data;
  const note = p.object_attributes;
  if (p.object_kind !== 'note') return { ignored: `${p.object_kind} event, not a note` };
  if (note.system === true) return { ignored: 'system note' };
  if (note.action !== undefined && note.action !== 'create') {
    return { ignored: `note ${note.action}, not create` };
  }
  if (note.noteable_type !== 'MergeRequest' && note.noteable_type !== 'Issue') {
    return {
      ignored: `note on a ${note.noteable_type}: DAG takes commands in merge requests and issues`,
    };
  }
  const onRequest = note.noteable_type === 'MergeRequest';
  const number = noteTarget(payload, onRequest);
  return {
    event: {
      kind: 'comment',
      repo: gitlabRepo(p.project),
      number,
      isPullRequest: onRequest,
      commentId: note.id,
      body: note.note ?? '',
      author: p.user.username,
      authorId: p.user.id,
      byBot: TOKEN_BOT.test(p.user.username),
    },
  };
}

const gitlabMergeRequestChange = z.looseObject({
  object_kind: word,
  project: gitlabProject,
  object_attributes: z.looseObject({
    iid: z.number().int().positive(),
    action: word.optional(),
    source_branch: gitRef,
    target_branch: gitRef,
    source_project_id: z.number().int(),
    target_project_id: z.number().int(),
    last_commit: z.looseObject({ id: sha }),
    oldrev: sha.optional(),
  }),
});

/** A Merge Request Hook of a merge (src/events/pull-request.ts normalizes it), before parsing. */
export function isGitlabMerge(payload: unknown): boolean {
  const attributes = (payload as { object_attributes?: { action?: unknown } } | null)
    ?.object_attributes;
  return attributes?.action === 'merge';
}

/** GitLab's merge request actions that ask for a preview, as GitHub's pull_request names them. */
const PREVIEW_ACTIONS = new Map<string, PullRequestEvent['action']>([
  ['open', 'opened'],
  ['reopen', 'reopened'],
]);

/**
 * A GitLab Merge Request Hook that asks for a preview: opened, reopened, or updated with new
 * commits (`update` with `oldrev`; an update of the title, labels or the like has none).
 */
export function normalizeGitlabMergeRequest(payload: unknown): Normalized<PullRequestEvent> {
  const parsed = gitlabMergeRequestChange.safeParse(payload);
  if (!parsed.success) throw invalidPayload('GitLab Merge Request Hook', parsed.error);
  const p = parsed.data;
  const mr = p.object_attributes;
  if (p.object_kind !== 'merge_request') {
    return { ignored: `${p.object_kind} event, not a merge request` };
  }
  const action =
    PREVIEW_ACTIONS.get(mr.action ?? '') ??
    (mr.action === 'update' && mr.oldrev !== undefined ? 'synchronize' : undefined);
  if (!action) {
    return {
      ignored:
        mr.action === 'update'
          ? 'merge request update without new commits'
          : `merge request ${mr.action ?? 'event without an action'}`,
    };
  }
  return {
    event: {
      kind: 'pull_request',
      repo: gitlabRepo(p.project),
      number: mr.iid,
      action,
      headSha: mr.last_commit.id,
      headRef: mr.source_branch,
      baseRef: mr.target_branch,
      fork: mr.source_project_id !== mr.target_project_id,
    },
  };
}
