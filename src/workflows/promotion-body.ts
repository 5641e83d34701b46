import { z } from 'zod';
import type { EnvironmentDiff } from '../diff/comment-model.ts';
import { escapeInline, trimTrailingNewlines } from '../diff/markdown.ts';
import { renderDiffComments } from '../diff/split.ts';
import { hiddenMetadata } from '../util/hidden-metadata.ts';
import type { Comparison, RequestNoun } from '../platform/types.ts';
import { PROMOTION_STRATEGIES, type PromotionStrategy } from '../store/types.ts';
import type { SourceHealth } from './promotion-types.ts';

/** Labels on every promotion pull request DAG opens. */
export const PROMOTION_LABELS = ['dag', 'promotion'];

/** Commits listed in a promotion body; the rest are behind the compare link. */
export const LISTED_COMMITS = 20;
/** Changed files listed in a promotion body. */
const LISTED_FILES = 100;
/** Where a promotion's whole IAC diff is when its description cannot hold it: the request's tab. */
function filesChanged(noun: RequestNoun) {
  const tab = noun === 'merge request' ? 'Changes' : 'Files changed';
  return {
    text: `the ${noun}'s changed files`,
    markdown: `the ${noun}'s **${tab}**`,
    html: `the ${noun}'s <b>${tab}</b>`,
  };
}

/** Room kept for the diff preview before it falls back to a summary. */
const MIN_PREVIEW_CHARS = 2_000;

const repoSchema = z.object({
  provider: z.enum(['github', 'gitlab']),
  fullName: z.string().min(1).max(300),
  webUrl: z.string().url().max(500),
  installationId: z.number().int().optional(),
  projectId: z.number().int().optional(),
});

const metadataSchema = z.object({
  v: z.literal(1),
  route: z.number().int().positive(),
  strategy: z.enum(PROMOTION_STRATEGIES),
  from: z.string().max(200),
  to: z.string().max(200),
  /** The app commit promoted, when known. */
  source: z.string().max(64).nullable(),
  /** The app commit the target ran when the promotion was last built. */
  target: z.string().max(64).nullable(),
  /** The app repository, where the target's deploy is reported after the merge. */
  appRepo: repoSchema,
});

/** What DAG writes into its promotion PR to read it back (e.g. from a merge webhook). */
export type PromotionMetadata = z.infer<typeof metadataSchema>;

/** Longest JSON DAG reads back from a promotion body's marker. */
const MAX_METADATA_CHARS = 4_000;
const metadata = hiddenMetadata('promotion', metadataSchema, MAX_METADATA_CHARS);

export function renderMetadata(value: PromotionMetadata): string {
  return metadata.render(value);
}

/**
 * DAG's metadata in a pull request body, or null when there is none (or it is damaged). Anyone
 * who can edit the body can type it: callers check it against DAG's own promotion records.
 */
export function parsePromotionMetadata(body: string): PromotionMetadata | null {
  return metadata.parse(body);
}

export type ChangedFile = { path: string; change: 'added' | 'modified' | 'deleted' };

export type PromotionBody = {
  metadata: PromotionMetadata;
  /** What the provider hosting the request calls it (GitLab: merge request). */
  noun: RequestNoun;
  app: string;
  from: string;
  to: string;
  strategy: PromotionStrategy;
  /** Where the change goes: repository name, head and base branch. */
  where: {
    repo: string;
    head: string;
    base: string;
    path?: string | undefined;
    /** The IAC branch the target's cluster reconciles: merging into it releases the target. */
    reconciled?: string | undefined;
  };
  source: { sha: string | null; url: string | null };
  target: { sha: string | null; url: string | null };
  /** The app commits promoted (undefined: not known, e.g. the target has no DAG release). */
  commits?: Comparison | undefined;
  /** Why the commits could not be listed. */
  commitsNote?: string | undefined;
  files: ChangedFile[];
  preview?: EnvironmentDiff | undefined;
  /** The source environment's rollout, when cluster monitoring is on. */
  sourceHealth?: SourceHealth | undefined;
};

/** The source environment's health row: phase, commit, since when, and why when failing. */
function healthText(health: SourceHealth): string {
  if (health.phase === 'not-observed') return '_not observed by cluster monitoring yet_';
  const since = health.since ? ` since ${health.since.slice(0, 16).replace('T', ' ')} UTC` : '';
  const live = health.liveCommit
    ? ` on <code>${escapeInline(health.liveCommit.slice(0, 12), 12)}</code>`
    : '';
  const reason = health.reason ? `: ${escapeInline(health.reason, 300)}` : '';
  const phase = health.phase === 'failed' ? '**failed**' : health.phase;
  return `${phase}${live}${since}${reason}`;
}

function commitLink(sha: string | null, url: string | null): string {
  if (!sha) return '_nothing deployed by DAG yet_';
  const short = `<code>${escapeInline(sha.slice(0, 12), 12)}</code>`;
  return url && /^https?:\/\//.test(url) ? `[${short}](${url})` : short;
}

const STRATEGY_TEXT: Record<PromotionStrategy, string> = {
  folder: 'folder per environment: the source release, rendered with the target values',
  'iac-branch': 'branch per environment in the IAC repository',
  'app-branch': 'branch per environment in the app repository (the merge deploys as a push)',
};

function commitSection(body: PromotionBody): string[] {
  const { commits } = body;
  if (!commits) {
    return body.commitsNote ? ['### Commits', '', `_${escapeInline(body.commitsNote, 500)}_`] : [];
  }
  const lines = [`### Commits (${commits.totalCommits})`, ''];
  if (commits.totalCommits === 0) lines.push('_No new commits: the same code, new configuration._');
  for (const commit of commits.commits.slice(0, LISTED_COMMITS)) {
    const author = commit.author ? ` — ${escapeInline(commit.author, 100)}` : '';
    lines.push(
      `- ${commitLink(commit.sha, commit.url)} ${escapeInline(commit.title, 200)}${author}`,
    );
  }
  const listed = Math.min(commits.commits.length, LISTED_COMMITS);
  if (commits.totalCommits > listed) {
    lines.push(`- … and ${commits.totalCommits - listed} more: [compare](${commits.url})`);
  }
  return lines;
}

function fileSection(files: ChangedFile[]): string[] {
  const lines = [`### Files that change (${files.length})`, ''];
  for (const file of files.slice(0, LISTED_FILES)) {
    lines.push(`- <code>${escapeInline(file.path, 300)}</code> (${file.change})`);
  }
  if (files.length > LISTED_FILES) lines.push(`- … and ${files.length - LISTED_FILES} more`);
  return lines;
}

/** The text from outside in a promotion body (commits, notes, paths), masked. */
function maskedBody(body: PromotionBody, mask: (text: string) => string): PromotionBody {
  const commits = body.commits && {
    ...body.commits,
    commits: body.commits.commits.map((commit) => ({
      ...commit,
      title: mask(commit.title),
      author: commit.author && mask(commit.author),
    })),
  };
  return {
    ...body,
    commits,
    commitsNote: body.commitsNote && mask(body.commitsNote),
    files: body.files.map((file) => ({ ...file, path: mask(file.path) })),
  };
}

/**
 * The description of a promotion pull request, within `maxChars`: metadata, what moves from
 * where to where, the commits, the files, then as much of the target's diff preview as fits.
 * `mask` scrubs secrets from the text from outside before it is escaped; the caller masks the
 * whole text again (publish), which covers the preview's code blocks.
 */
export function renderPromotionBody(
  unmasked: PromotionBody,
  maxChars: number,
  mask: (text: string) => string = (text) => text,
): string {
  // Masked before escaping: an escaped secret (`ghp&#95;…`) no longer matches the masker.
  const body = maskedBody(unmasked, mask);
  const { where } = body;
  const location = `${escapeInline(where.repo, 200)} <code>${escapeInline(where.head, 200)}</code> → <code>${escapeInline(where.base, 200)}</code>${where.path ? ` (<code>${escapeInline(where.path, 300)}</code>)` : ''}`;
  const head = [
    renderMetadata(body.metadata),
    `## Promote ${escapeInline(body.app, 100)} from ${escapeInline(body.from, 100)} to ${escapeInline(body.to, 100)}`,
    '',
    '| | |',
    '| --- | --- |',
    `| ${escapeInline(body.from, 100)} runs | ${commitLink(body.source.sha, body.source.url)} |`,
    ...(body.sourceHealth
      ? [`| ${escapeInline(body.from, 100)} health | ${healthText(body.sourceHealth)} |`]
      : []),
    `| ${escapeInline(body.to, 100)} runs | ${commitLink(body.target.sha, body.target.url)} |`,
    `| Strategy | ${STRATEGY_TEXT[body.strategy]} |`,
    `| Change | ${location} |`,
    ...(where.reconciled
      ? [
          `| ${escapeInline(body.to, 100)} reconciles | <code>${escapeInline(where.reconciled, 200)}</code>: the merge releases ${escapeInline(body.to, 100)} |`,
        ]
      : []),
    '',
    ...commitSection(body),
    '',
    ...fileSection(body.files),
    '',
  ].join('\n');
  const foot = [
    '---',
    body.strategy === 'folder'
      ? `_Opened by DAG. A new promotion rebuilds <code>${escapeInline(where.head, 200)}</code> from <code>${escapeInline(where.base, 200)}</code>; if you push to that branch, DAG stops rewriting it. Comment <code>/promote</code> in the app repository to refresh this ${body.noun}._`
      : `_Opened by DAG. Comment <code>/promote</code> in the app repository to refresh this ${body.noun}._`,
  ].join('\n');
  const budget = maxChars - head.length - foot.length - 100;
  let preview = '';
  if (body.preview && budget >= MIN_PREVIEW_CHARS) {
    const model = {
      pr: 0,
      headSha: body.source.sha ?? '',
      environments: [body.preview],
      fullDiffAt: filesChanged(body.noun),
    };
    preview = `### Diff preview of ${escapeInline(body.to, 100)}\n\n${renderDiffComments(model, { maxChars: budget, maxParts: 1 }).bodies[0] ?? ''}`;
  } else if (body.preview) {
    preview = '_The diff preview does not fit in this description._';
  }
  // Sections apart by one blank line: a line right before `---` would become a heading.
  const text = [head, preview, foot]
    .map((section) => trimTrailingNewlines(section))
    .filter((section) => section !== '')
    .join('\n\n');
  // The fixed parts are bounded (lists are capped), so this only guards pathological names.
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
