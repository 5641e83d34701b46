import type { CommitablePipelineStatus, Gitlab } from '@gitbeaker/rest';
import type { RepoRef } from '../../events/types.ts';
import { stickyBodies, stickyParts, type StickyPart } from '../sticky-comments.ts';
import { httpStatus, providerError } from '../http-errors.ts';
import {
  commentMarker,
  type CheckReport,
  type PullRequestInfo,
  type PullRequests,
  type Reaction,
  type ThreadKind,
} from '../types.ts';
import type { Permission } from '../../model.ts';

/** DAG's reactions as GitLab award emoji names. */
export const GITLAB_EMOJI = {
  eyes: 'eyes',
  '+1': 'thumbsup',
  '-1': 'thumbsdown',
  confused: 'confused',
  rocket: 'rocket',
} as const satisfies Record<Reaction, string>;

/**
 * GitLab's access levels (members API `access_level`) as DAG's permissions: Guest reads,
 * Reporter triages, Developer writes (runs commands), Maintainer maintains, Owner administers.
 * Below Guest (Minimal access, none): none.
 */
export function permissionOfAccessLevel(level: number): Permission {
  if (level >= 50) return 'admin';
  if (level >= 40) return 'maintain';
  if (level >= 30) return 'write';
  if (level >= 20) return 'triage';
  if (level >= 10) return 'read';
  return 'none';
}

/**
 * A completed check report's conclusion as a commit status state: GitLab has no check runs, so
 * `dag/diff` is a commit status (`running` until it completes). `neutral` (the preview shows
 * changes) is `success`: a change to deploy is no failure.
 */
const COMMIT_STATE = {
  success: 'success',
  neutral: 'success',
  failure: 'failed',
} as const satisfies Record<NonNullable<CheckReport['conclusion']>, CommitablePipelineStatus>;

/** A state GitLab documents for commit statuses and gitbeaker's type leaves out. */
const SKIPPED = 'skipped' as CommitablePipelineStatus;

/** Commit-status states that count as passed (GitLab's CI jobs, and external statuses). */
const PASSED = new Set(['success', 'skipped']);

/** Notes read per page, and the most pages read for DAG's notes on one merge request. */
const NOTES_PER_PAGE = 100;
const NOTES_PAGES = 20;

type Note = { id: number; body: string; system: boolean; author: { id: number } };
type Status = { name: string; status: string; allow_failure?: boolean };

function project(repo: RepoRef): number | string {
  return repo.projectId ?? repo.fullName;
}

/** How GitLab's text refers to a merge request (`!7`) or an issue (`#7`). */
function ref(kind: ThreadKind, number: number): string {
  return kind === 'issue' ? `#${number}` : `!${number}`;
}

/**
 * GitLab's answer to an award emoji the note has already (404 `Award Emoji Name has already
 * been taken`, lib/api/award_emoji.rb): it is there, as asked.
 */
function alreadyAwarded(error: unknown): boolean {
  const message = String((error as { cause?: { description?: unknown } }).cause?.description ?? '');
  return httpStatus(error) === 404 && /has already been taken/i.test(message);
}

/**
 * What pull-request commands and previews need, on GitLab merge requests: DAG's sticky notes
 * (found by their hidden marker among the notes of the token's user, edited only when their
 * body changes), award emoji as acknowledgements, permissions from project membership (direct,
 * inherited and shared), approvals, and CI results from the commit's statuses.
 */
export class GitLabMergeRequests implements PullRequests {
  readonly changeRequestNoun = 'merge request' as const;
  readonly #api: Gitlab<false>;
  /** The token's user (GET /user), asked once. */
  #self: Promise<number> | undefined;

  constructor(api: Gitlab<false>) {
    this.#api = api;
  }

  changeRequestRef(number: number): string {
    return `!${number}`;
  }

  /** The id of the user DAG's token acts as. */
  async #ownId(): Promise<number> {
    this.#self ??= this.#api.Users.showCurrentUser().then(
      (user) => user.id,
      (error: unknown) => {
        this.#self = undefined;
        throw providerError('GitLab', "reading the token's user", error);
      },
    );
    return this.#self;
  }

  async isOwnAccount(userId: number): Promise<boolean> {
    return (await this.#ownId()) === userId;
  }

  async getPullRequest(repo: RepoRef, number: number): Promise<PullRequestInfo> {
    try {
      const mr = await this.#api.MergeRequests.show(project(repo), number);
      return {
        number,
        headSha: mr.sha,
        headRef: mr.source_branch,
        baseRef: mr.target_branch,
        fork: mr.source_project_id !== mr.target_project_id,
        open: mr.state === 'opened',
      };
    } catch (error) {
      throw providerError('GitLab', `reading merge request !${number}`, error);
    }
  }

  async shippedBy(repo: RepoRef, sha: string, branch: string): Promise<number | undefined> {
    try {
      const mrs = (await this.#api.Commits.allMergeRequests(project(repo), sha, {
        perPage: 20,
        maxPages: 1,
      })) as {
        iid: number;
        state: string;
        target_branch: string;
        merge_commit_sha?: string | null;
        squash_commit_sha?: string | null;
        sha: string;
      }[];
      // Merged ones only, the one into `branch` first (a promoted commit is asked about from
      // the branch it was promoted to).
      const merged = mrs
        .filter((mr) => mr.state === 'merged')
        .toSorted(
          (a, b) => Number(b.target_branch === branch) - Number(a.target_branch === branch),
        );
      return (
        merged.find((mr) => mr.merge_commit_sha === sha || mr.squash_commit_sha === sha) ??
        merged.find((mr) => mr.sha === sha)
      )?.iid;
    } catch (error) {
      throw providerError('GitLab', `finding the merge request of ${sha.slice(0, 7)}`, error);
    }
  }

  /**
   * The member's access level in the project, inherited from groups and shared groups included
   * (`members/all/:user_id`); not a member, or not active: none. A note's author always has an
   * id; a username alone is looked up first.
   */
  async permissionOf(repo: RepoRef, user: string, userId?: number): Promise<Permission> {
    try {
      const id = userId ?? (await this.#api.Users.all({ username: user }))[0]?.id;
      if (id === undefined) return 'none';
      const member = (await this.#api.ProjectMembers.show(project(repo), id, {
        includeInherited: true,
      })) as { access_level: number; state?: string };
      if (member.state !== undefined && member.state !== 'active') return 'none';
      return permissionOfAccessLevel(member.access_level);
    } catch (error) {
      if (httpStatus(error) === 404) return 'none';
      throw providerError('GitLab', `reading ${user}'s access level`, error);
    }
  }

  /**
   * Approved by at least one person and approved as GitLab's rules require. GitLab's approvals
   * API does not show a reviewer's request for changes: that is not checked here.
   */
  async isApproved(repo: RepoRef, number: number): Promise<boolean> {
    try {
      const state = (await this.#api.MergeRequestApprovals.showConfiguration(project(repo), {
        mergerequestIId: number,
      })) as { approved?: boolean; approved_by?: unknown[] };
      return state.approved === true && (state.approved_by?.length ?? 0) > 0;
    } catch (error) {
      throw providerError('GitLab', `reading the approvals of !${number}`, error);
    }
  }

  /**
   * Every latest commit status on the commit (each CI job's, and external ones) passed, or is
   * allowed to fail; DAG's own (`dag/…`) and `ignore` names aside.
   */
  async checksPassed(repo: RepoRef, sha: string, ignore: string[]): Promise<boolean> {
    let statuses: Status[];
    try {
      // Every page: GitLab lists the latest status of each name, DAG's own among them.
      statuses = (await this.#api.Commits.allStatuses(project(repo), sha)) as unknown as Status[];
    } catch (error) {
      throw providerError('GitLab', `reading the statuses of ${sha.slice(0, 7)}`, error);
    }
    return statuses
      .filter((s) => !s.name.startsWith('dag/') && !ignore.includes(s.name))
      .every((s) => PASSED.has(s.status) || (s.allow_failure === true && s.status !== 'running'));
  }

  /** The notes API of a thread: a merge request's, or an issue's (same routes under /issues). */
  #notes(kind: ThreadKind = 'request') {
    return kind === 'issue' ? this.#api.IssueNotes : this.#api.MergeRequestNotes;
  }

  async react(
    repo: RepoRef,
    comment: { number: number; id: number; kind?: ThreadKind | undefined },
    reaction: Reaction,
  ): Promise<void> {
    const emoji =
      comment.kind === 'issue'
        ? this.#api.IssueNoteAwardEmojis
        : this.#api.MergeRequestNoteAwardEmojis;
    try {
      await emoji.award(project(repo), comment.number, comment.id, GITLAB_EMOJI[reaction]);
    } catch (error) {
      // A retried job awards the same emoji again: it is there already.
      if (alreadyAwarded(error)) return;
      throw providerError('GitLab', 'acknowledging the command', error);
    }
  }

  /** DAG's notes of the topic on the thread, by part: the first of each part wins. */
  async #topicNotes(
    repo: RepoRef,
    number: number,
    topic: string,
    kind: ThreadKind = 'request',
  ): Promise<Map<number, StickyPart>> {
    const own = await this.#ownId();
    let notes: Note[];
    try {
      notes = (await this.#notes(kind).all(project(repo), number, {
        sort: 'asc',
        orderBy: 'created_at',
        perPage: NOTES_PER_PAGE,
        maxPages: NOTES_PAGES,
      })) as unknown as Note[];
    } catch (error) {
      throw providerError('GitLab', `reading the notes of ${ref(kind, number)}`, error);
    }
    return stickyParts(
      notes.filter((note) => !note.system && note.author.id === own),
      topic,
    );
  }

  async readComments(repo: RepoRef, number: number, topic: string): Promise<string[]> {
    return stickyBodies(await this.#topicNotes(repo, number, topic), topic);
  }

  /** Creates missing parts, edits those whose body changed, deletes surplus ones. */
  async upsertComments(
    repo: RepoRef,
    number: number,
    topic: string,
    bodies: string[],
    kind: ThreadKind = 'request',
  ): Promise<void> {
    const parts = await this.#topicNotes(repo, number, topic, kind);
    const notes = this.#notes(kind);
    try {
      for (const [index, body] of bodies.entries()) {
        const text = `${commentMarker(topic, index)}\n${body}`;
        const existing = parts.get(index);
        if (existing === undefined) {
          await notes.create(project(repo), number, text);
        } else if (existing.body !== text) {
          await notes.edit(project(repo), number, existing.id, { body: text });
        }
      }
      for (const [part, { id }] of parts) {
        if (part < bodies.length) continue;
        await notes.remove(project(repo), number, id);
      }
    } catch (error) {
      throw providerError('GitLab', `writing DAG's ${topic} note on ${ref(kind, number)}`, error);
    }
  }

  /**
   * A commit status of the check's name: its state, and its title as the description (GitLab
   * keeps 255 characters and no text). Returns undefined: a commit status has no page.
   */
  async publishCheck(repo: RepoRef, check: CheckReport): Promise<string | undefined> {
    const state =
      check.status === 'in_progress' ? 'running' : COMMIT_STATE[check.conclusion ?? 'success'];
    try {
      await this.#api.Commits.editStatus(project(repo), check.sha, state, {
        name: check.name,
        description: check.title.slice(0, 255),
      });
    } catch (error) {
      // A rerun after a crash: the status runs already.
      if (!(state === 'running' && runningAlready(error))) {
        throw providerError('GitLab', `publishing the ${check.name} status`, error);
      }
    }
    return undefined;
  }

  /**
   * The commit's DAG statuses whose name starts with `prefix` and is not in `keep`, skipped with
   * `output`'s title unless they say so already (a commit status cannot be deleted).
   */
  async retireChecks(
    repo: RepoRef,
    sha: string,
    prefix: string,
    keep: readonly string[],
    output: { title: string; summary: string },
  ): Promise<void> {
    try {
      const statuses = (await this.#api.Commits.allStatuses(
        project(repo),
        sha,
      )) as unknown as (Status & {
        description?: string | null;
      })[];
      const title = output.title.slice(0, 255);
      for (const status of statuses) {
        if (!status.name.startsWith(prefix) || keep.includes(status.name)) continue;
        if (status.status === 'skipped' && status.description === title) continue;
        await this.#api.Commits.editStatus(project(repo), sha, SKIPPED, {
          name: status.name,
          description: title,
        });
      }
    } catch (error) {
      throw providerError('GitLab', `skipping the unused ${prefix}… statuses`, error);
    }
  }
}

/** GitLab's answer to a commit status set `running` again. */
function runningAlready(error: unknown): boolean {
  const message = String((error as { cause?: { description?: unknown } }).cause?.description ?? '');
  return (
    httpStatus(error) === 400 && /^Cannot transition status via :run from :running\b/.test(message)
  );
}
