import { z } from 'zod';
import type { RequestNoun } from '../platform/types.ts';
import { fileDiffs } from '../diff/file-diffs.ts';
import { environmentBlocks, environmentCounts, validationText } from '../diff/comment.ts';
import type { EnvironmentDiff } from '../diff/comment-model.ts';
import { escapeInline, fenced, sanitizeCode, trimTrailingNewlines } from '../diff/markdown.ts';
import { hiddenMetadata } from '../util/hidden-metadata.ts';
import type { Proposal } from './proposal.ts';
import type { Verified } from './verify.ts';

/** Labels on every fix pull request DAG opens. */
export const FIX_LABELS = ['dag', 'ai-proposal'];

/** Longest JSON DAG reads back from a body's marker; a longer one is not DAG's. */
const MAX_METADATA_CHARS = 2_000;
/** Characters of one evidence item shown; the rest is cut with a note. */
const EVIDENCE_ITEM_CHARS = 2_000;
/** Characters of all evidence shown. */
const EVIDENCE_TOTAL_CHARS = 10_000;
/** Characters of object diffs shown in the live diff; the objects past them are listed. */
const LIVE_DIFF_CHARS = 30_000;
/** Objects listed by name past LIVE_DIFF_CHARS. */
const LIVE_LISTED = 200;

const SHA = z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/);

const metadataSchema = z.strictObject({
  v: z.literal(1),
  proposal: z.number().int().positive(),
  fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
  /** The commit DAG last pushed to the branch. */
  pushedHead: SHA,
  /** A head DAG found someone else's commits at and said so (commented once). */
  stoppedAt: SHA.optional(),
});

/** What DAG writes into its fix pull request to read it back. */
export type FixMetadata = z.infer<typeof metadataSchema>;

const metadata = hiddenMetadata('fix', metadataSchema, MAX_METADATA_CHARS);

export function renderFixMetadata(value: FixMetadata): string {
  return metadata.render(metadataSchema.parse(value));
}

/**
 * DAG's metadata in a fix pull request's body, or null when there is none, or it is too long,
 * not JSON, or not of DAG's shape. Anyone who can edit the body can type it: it only tells DAG
 * which head it pushed and which proposal the pull request holds.
 */
export function parseFixMetadata(body: string): FixMetadata | null {
  return metadata.parse(body);
}

/** The branches of fixes in IAC repositories (fixBranch's `iac`). */
export const IAC_FIX_BRANCH_PREFIX = 'dag/fix-iac/';

/**
 * DAG's branch for fixes of one environment: `dag/fix/<app>/<environment>` in the app
 * repository, `dag/fix-iac/<app>/<environment>` in the IAC repository; git-safe, bounded.
 */
export function fixBranch(
  app: string,
  environment: string,
  repository: 'app' | 'iac' = 'app',
): string {
  const part = (name: string) =>
    name
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/\.{2,}/g, '.')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 60)
      .replace(/[-.]+$/g, '') || 'x';
  const prefix = repository === 'iac' ? IAC_FIX_BRANCH_PREFIX : 'dag/fix/';
  return `${prefix}${part(app)}/${part(environment)}`;
}

/** The commit message: the proposal's title, then trailers DAG and people can search for. */
export function fixCommitMessage(
  input: { proposalId: number; fingerprint: string; proposal: Proposal },
  mask: (text: string) => string,
): string {
  const { agent } = input.proposal;
  return [
    fixCommitTitle(input.proposal, mask),
    '',
    `Dag-Proposal: ${input.proposalId}`,
    `Dag-Fingerprint: ${input.fingerprint}`,
    `Dag-Agent: ${mask(agent.name)} (${mask(agent.model)})`,
    '',
  ].join('\n');
}

/** The commit's first line: DAG recognizes its own commit on a branch left without a PR by it. */
export function fixCommitTitle(proposal: Proposal, mask: (text: string) => string): string {
  return mask(proposal.title);
}

export type FixBody = {
  metadata: FixMetadata;
  /** What the provider hosting the request calls it (GitLab: merge request). */
  noun: RequestNoun;
  proposal: Proposal;
  app: string;
  environment: string;
  /** Repository name, DAG's branch and the environment's branch. */
  where: { repo: string; head: string; base: string };
  /** The folder the environment's bundle is written to (the bundle diff's paths). */
  iacPath: string;
  tokenName: string;
  /** What DAG verified, with the environment's live dry-run diff where it computed one. */
  verified: Verified;
};

/** A section DAG leaves out when the body would be too long, with what it says instead. */
type Section = { name: string; text: string };

function textBlock(text: string): string {
  return fenced(trimTrailingNewlines(sanitizeCode(text)), 'text');
}

function diffBlock(text: string): string {
  return fenced(trimTrailingNewlines(sanitizeCode(text)), 'diff');
}

function evidenceSection(proposal: Proposal, mask: (text: string) => string): string {
  const items = proposal.evidence;
  const lines = [`### Evidence (${items.length})`, ''];
  if (items.length === 0) lines.push('_The agent sent no evidence._');
  let room = EVIDENCE_TOTAL_CHARS;
  for (const [index, item] of items.entries()) {
    const text = mask(item.text);
    const limit = Math.min(EVIDENCE_ITEM_CHARS, room);
    if (limit <= 0) {
      lines.push(`_${items.length - index} more items are not shown._`);
      break;
    }
    const shown = text.length > limit ? text.slice(0, limit) : text;
    room -= shown.length;
    lines.push(`${index + 1}. ${item.kind}`, '', textBlock(shown), '');
    if (shown.length < text.length) {
      lines.push(`_${text.length - shown.length} more characters are not shown._`, '');
    }
  }
  return lines.join('\n');
}

function bundleSection(body: FixBody): string {
  const { bundles, unchangedEnvironments } = body.verified;
  const lines = ['### Bundle diff', ''];
  const names = Object.keys(bundles)
    .filter((name) => !unchangedEnvironments.includes(name))
    .sort((a, b) => (a === body.environment ? -1 : b === body.environment ? 1 : a < b ? -1 : 1));
  for (const name of names) {
    const pair = bundles[name];
    if (!pair) continue;
    const folder = name === body.environment ? body.iacPath : name;
    const diffs = fileDiffs(pair.before ?? {}, pair.after, folder);
    lines.push(
      `#### ${escapeInline(name, 100)} (${diffs.length} ${diffs.length === 1 ? 'file' : 'files'})`,
      '',
    );
    if (pair.before === null) lines.push('_It did not render before the change._', '');
    if (diffs.length === 0) lines.push('_The rendered files stay the same._', '');
    for (const diff of diffs) {
      lines.push(
        `<details><summary><code>${escapeInline(diff.path, 300)}</code> (${diff.change})</summary>`,
        '',
        diffBlock(diff.diff),
        '',
        '</details>',
        '',
      );
    }
  }
  if (unchangedEnvironments.length > 0) {
    lines.push(
      `_Rendered unchanged: ${unchangedEnvironments.map((n) => escapeInline(n, 100)).join(', ')}._`,
    );
  }
  return lines.join('\n');
}

/**
 * The environment's live dry-run diff, as `/diff` shows it: the validation, the counts, then each
 * changed object's diff while they fit in LIVE_DIFF_CHARS, the rest listed by name. Without a
 * dry run, a line that says so (the checks say why).
 */
function liveSection(environment: string, live: EnvironmentDiff | undefined): string {
  const lines = [`### Live diff of ${escapeInline(environment, 100)}`, ''];
  if (!live) {
    lines.push('_No live diff: DAG did not dry-run this change (see what DAG verified)._');
    return lines.join('\n');
  }
  const counts = environmentCounts(live);
  lines.push(
    `**Server-side dry run:** ${validationText(live.validation, counts.errors, 1_000)}`,
    '',
    `**Objects:** ${counts.created} created, ${counts.changed} changed, ${counts.deleted} deleted, ${counts.unchanged} unchanged`,
    '',
    ...live.notes.slice(0, 10).map((note) => `- ${escapeInline(note, 500)}`),
  );
  const note = (omitted: number) => `… ${omitted} more lines`;
  const [, ...objects] = environmentBlocks(live, note);
  let room = LIVE_DIFF_CHARS;
  const listed: string[] = [];
  for (const block of objects) {
    if (block.text.length <= room) {
      lines.push(trimTrailingNewlines(block.text), '');
      room -= block.text.length;
    } else if (block.listing) {
      listed.push(block.listing);
    }
  }
  if (listed.length > 0) {
    lines.push(
      `_${listed.length} more ${listed.length === 1 ? 'object' : 'objects'}, not shown in full:_`,
      '',
      ...listed.slice(0, LIVE_LISTED),
      ...(listed.length > LIVE_LISTED ? [`- … and ${listed.length - LIVE_LISTED} more`] : []),
    );
  }
  return lines.join('\n');
}

/**
 * The description of a fix pull request, within `maxChars`: metadata, what the change is and
 * where, why this repository, the agent's rationale and evidence, the source diff, the bundle
 * diff, the live diff, what DAG verified. Sections that do not fit are cut, last first, each
 * replaced by a line saying so. Text from the agent is masked with `mask` before it is escaped
 * or fenced; the caller masks the whole body again.
 */
export function renderFixBody(
  body: FixBody,
  maxChars: number,
  mask: (text: string) => string = (text) => text,
): string {
  const { proposal, where, verified } = body;
  const iac = verified.where === 'iac-repo';
  const agent = `${escapeInline(mask(proposal.agent.name), 100)} (${escapeInline(mask(proposal.agent.model), 100)})`;
  const head = [
    renderFixMetadata(body.metadata),
    `## ${escapeInline(mask(proposal.title), 200)}`,
    '',
    `An AI agent proposes this change to fix ${escapeInline(body.app, 100)} in ${escapeInline(body.environment, 100)}. DAG checked it and opened this ${body.noun}; nothing has been applied.`,
    '',
    '| | |',
    '| --- | --- |',
    `| App | ${escapeInline(body.app, 100)} |`,
    iac
      ? `| Environment | ${escapeInline(body.environment, 100)} (DAG renders it into <code>${escapeInline(body.iacPath, 300)}</code> of this repository) |`
      : `| Environment | ${escapeInline(body.environment, 100)} (branch <code>${escapeInline(where.base, 200)}</code>) |`,
    `| Change | ${escapeInline(where.repo, 200)} <code>${escapeInline(where.head, 200)}</code> → <code>${escapeInline(where.base, 200)}</code> |`,
    `| Proposed by | ${agent}, sent with the API token ${escapeInline(mask(body.tokenName), 100)} |`,
    `| Proposal | ${body.metadata.proposal} (fingerprint <code>${body.metadata.fingerprint.slice(0, 12)}</code>) |`,
    '',
    '### Why this repository',
    '',
    iac
      ? "These files are in the IAC repository, outside every folder DAG renders into it, so DAG's deploys do not overwrite them and the fix belongs here. Merging it is applied by the cluster's reconciler (Flux or Argo CD), not by a DAG deploy."
      : `${escapeInline(body.environment, 100)} is rendered from this app repository's values; a fix in the IAC folder would be overwritten by the next deploy. So the fix is a change here, and its merge deploys it.`,
  ].join('\n');
  const foot = [
    '---',
    `_DAG never merges or applies this; a person reviews and merges, and ${iac ? "the cluster's reconciler applies the merge" : 'the merge deploys through the normal push'}. A revised proposal for this environment updates this ${body.noun} until someone else pushes to its branch; then DAG leaves it alone._`,
  ].join('\n');
  const sections: Section[] = [
    {
      name: 'Rationale',
      text: ['### Rationale', '', textBlock(mask(proposal.rationale))].join('\n'),
    },
    { name: 'Evidence', text: evidenceSection(proposal, mask) },
    {
      name: 'Source change',
      text: [
        `### Source change (${Object.keys(verified.changedFiles).length} ${Object.keys(verified.changedFiles).length === 1 ? 'file' : 'files'})`,
        '',
        diffBlock(mask(verified.sourceDiff)),
      ].join('\n'),
    },
    ...(iac ? [] : [{ name: 'Bundle diff', text: bundleSection({ ...body }) }]),
    { name: 'Live diff', text: mask(liveSection(body.environment, verified.live)) },
    {
      name: 'What DAG verified',
      text: [
        '### What DAG verified',
        '',
        ...verified.checks.map((check) => `- ${escapeInline(mask(check), 500)}`),
      ].join('\n'),
    },
  ];
  return fit(head, sections, foot, maxChars);
}

/** The body with as many sections as fit; a section that does not is replaced by a note. */
function fit(head: string, sections: Section[], foot: string, maxChars: number): string {
  const join = (parts: string[]) =>
    parts
      .map((part) => trimTrailingNewlines(part))
      .filter((part) => part !== '')
      .join('\n\n');
  const note = (s: Section) =>
    `### ${s.name}\n\n_Cut: it does not fit in this description (${s.text.length} characters)._`;
  const parts = sections.map((s) => s.text);
  // The largest sections are cut first, until the body fits.
  const bySize = sections
    .map((s, i) => ({ s, i }))
    .sort((a, b) => b.s.text.length - a.s.text.length);
  for (const { s, i } of bySize) {
    if (join([head, ...parts, foot]).length <= maxChars) break;
    parts[i] = note(s);
  }
  const text = join([head, ...parts, foot]);
  // The fixed parts are bounded (names and titles are capped), so this only guards tiny limits.
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}
