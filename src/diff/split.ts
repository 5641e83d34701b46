import type { Block, DiffCommentLevel, DiffCommentModel, TruncationNote } from './comment.ts';
import {
  commentTruncationNote,
  fullDiffAt,
  type FullDiffAt,
  continuationHeading,
  environmentBlocks,
  environmentHeading,
  environmentCounts,
  renderHeader,
  renderSummaryTable,
} from './comment.ts';
import type { ListStyle } from './fill.ts';
import { fill, listBlock } from './fill.ts';

/** Largest comment body DAG posts: well under GitHub's 65,536 characters (as Renovate does). */
export const MAX_COMMENT_CHARS = 60_000;
/** Most comments one preview may take before it falls back to one per environment. */
export const MAX_COMMENT_PARTS = 10;
/** GitHub's limit for a check run's `output.text` and `output.summary`. */
export const CHECK_RUN_TEXT_LIMIT = 65_535;

/** Measuring slack: lengths below are exact, this only absorbs a part number's extra digit. */
const SLACK = 16;
/** Room kept per environment still to come when listing at the summary level. */
const ENVIRONMENT_RESERVE = 400;

export type SplitOptions = { maxChars?: number; maxParts?: number };

/** The comment bodies to post, in order, and how much of the diff they could hold. */
export type DiffComments = { level: DiffCommentLevel; bodies: string[] };

function commentList(at: FullDiffAt): ListStyle {
  return {
    title: (count) => `${count} more not shown here (see ${at.html})`,
    withEnvironment: false,
  };
}

/**
 * The preview as comment bodies of at most `maxChars` (60,000) characters each, trying in turn:
 * (a) `single`: everything in one comment;
 * (b) `split`: several comments (at most `maxParts`), split between blocks, the summary table in
 *     the first only; an object whose diff alone is too large is cut inside its fence;
 * (c) `per-environment`: one comment per environment, as many diffs as fit, the rest listed;
 * (d) `summary`: one comment with the summary table and the list of changed files and objects.
 * No fence or `<details>` section is ever broken, and this never throws.
 */
export function renderDiffComments(
  model: DiffCommentModel,
  options: SplitOptions = {},
): DiffComments {
  const maxChars = options.maxChars ?? MAX_COMMENT_CHARS;
  const maxParts = Math.max(1, options.maxParts ?? MAX_COMMENT_PARTS);
  try {
    const blocks = model.environments.map((environment) =>
      environmentBlocks(environment, commentTruncationNote(fullDiffAt(model))),
    );
    return (
      single(model, blocks, maxChars) ??
      split(model, blocks, maxChars, maxParts) ??
      perEnvironment(model, blocks, maxChars, maxParts) ??
      summaryOnly(model, blocks, maxChars)
    );
  } catch {
    return { level: 'summary', bodies: [lastResort(model, maxChars)] };
  }
}

function single(model: DiffCommentModel, blocks: Block[][], maxChars: number): DiffComments | null {
  const parts = [
    renderHeader(model, { level: 'single', part: 1, parts: 1 }),
    renderSummaryTable(model),
  ];
  let length = parts[0]!.length + parts[1]!.length + 1;
  for (const block of blocks.flat()) {
    length += block.text.length + 1;
    if (length > maxChars) return null;
    parts.push(block.text);
  }
  const body = parts.join('\n');
  return body.length <= maxChars ? { level: 'single', bodies: [body] } : null;
}

function split(
  model: DiffCommentModel,
  environments: Block[][],
  maxChars: number,
  maxParts: number,
): DiffComments | null {
  const summary = renderSummaryTable(model);
  const header =
    renderHeader(model, { level: 'split', part: maxParts, parts: maxParts }).length + SLACK;
  const parts: string[][] = [];
  let current: string[] = [];
  let hasContent = false;
  let room = maxChars - header - summary.length - 1;
  const push = (text: string) => {
    current.push(text);
    room -= text.length + 1;
    hasContent = true;
  };
  for (const blocks of environments) {
    for (let i = 0; i < blocks.length; i++) {
      const block = blocks[i]!;
      const next = blocks[i + 1];
      // Keep a heading with the start of what follows it.
      const lookahead =
        block.kind === 'environment' && next ? Math.min(next.text.length + 1, 3_000) : 0;
      if (block.text.length + 1 + lookahead <= room) {
        push(block.text);
        continue;
      }
      if (hasContent) {
        parts.push(current);
        if (parts.length >= maxParts) return null;
        current = [];
        hasContent = false;
        room = maxChars - header;
        if (block.kind !== 'environment') {
          const heading = continuationHeading(block.environment);
          current.push(heading);
          room -= heading.length + 1;
        }
      }
      if (block.text.length + 1 <= room) {
        push(block.text);
        continue;
      }
      push(block.fit(room - 1) ?? tooLarge(block));
    }
  }
  if (current.length > 0) parts.push(current);
  if (parts.length > maxParts) return null;
  const bodies = parts.map((part, index) =>
    [
      renderHeader(model, { level: 'split', part: index + 1, parts: parts.length }),
      ...(index === 0 ? [summary] : []),
      ...part,
    ].join('\n'),
  );
  return bodies.every((body) => body.length <= maxChars) ? { level: 'split', bodies } : null;
}

function tooLarge(block: Block): string {
  return block.listing === null ? '' : `${block.listing} _(too large to show)_\n`;
}

function perEnvironment(
  model: DiffCommentModel,
  environments: Block[][],
  maxChars: number,
  maxParts: number,
): DiffComments | null {
  const count = environments.length;
  if (count === 0 || count > maxParts) return null;
  const summary = renderSummaryTable(model);
  const header =
    renderHeader(model, { level: 'per-environment', part: count, parts: count }).length + SLACK;
  const bodies = environments.map((blocks, index) => {
    const budget = maxChars - header - (index === 0 ? summary.length + 1 : 0) - 1;
    return [
      renderHeader(model, { level: 'per-environment', part: index + 1, parts: count }),
      ...(index === 0 ? [summary] : []),
      fill(blocks, budget, commentList(fullDiffAt(model))),
    ].join('\n');
  });
  return bodies.every((body) => body.length <= maxChars)
    ? { level: 'per-environment', bodies }
    : null;
}

function summaryOnly(
  model: DiffCommentModel,
  environments: Block[][],
  maxChars: number,
): DiffComments {
  const body = summaryBody(model, environments, maxChars, { level: 'summary', part: 1, parts: 1 });
  return { level: 'summary', bodies: [body ?? lastResort(model, maxChars)] };
}

/** Header, summary table, and per environment a heading with its files and objects listed. */
function summaryBody(
  model: DiffCommentModel,
  environments: Block[][],
  maxChars: number,
  part: { level: DiffCommentLevel; part: number; parts: number },
): string | null {
  const out = [renderHeader(model, part), renderSummaryTable(model)];
  let used = out[0]!.length + out[1]!.length + 1;
  const style: ListStyle = { title: () => '', withEnvironment: false };
  for (let i = 0; i < environments.length; i++) {
    const blocks = environments[i]!;
    const later = environments.length - i - 1;
    const budget = maxChars - SLACK - used - later * ENVIRONMENT_RESERVE;
    const name = model.environments[i]?.environment ?? '';
    const heading = environmentHeading(name);
    if (budget < ENVIRONMENT_RESERVE) {
      const note = `_… and ${environments.length - i} more environments._\n`;
      if (used + note.length + 1 <= maxChars - SLACK) out.push(note);
      break;
    }
    const listed = blocks.filter((block) => block.listing !== null);
    const list =
      listed.length === 0
        ? '_Nothing changes._\n'
        : listBlock(listed, budget - heading.length - 1, style, false);
    const section = `${heading}\n${list}`;
    out.push(section);
    used += section.length + 1;
  }
  const body = out.join('\n');
  return body.length <= maxChars ? body : null;
}

/** The smallest honest comment: markers, title, and where to look instead. */
function lastResort(model: DiffCommentModel, maxChars: number): string {
  let header: string;
  try {
    header = renderHeader({ ...model, environments: [] }, { level: 'summary', part: 1, parts: 1 });
  } catch {
    header = `<!-- dag:diff pr=0 part=1/1 -->\n`;
  }
  const body = `${header}\nThe preview is too large to show here: see ${fullDiffAt(model).markdown}.\n`;
  return body.slice(0, maxChars);
}

export type CheckRunOutput = { title: string; summary: string; text: string };

export const CHECK_RUN_TRUNCATION_NOTE: TruncationNote = (lines) =>
  `… ${lines} lines omitted: too large to show here`;

const CHECK_RUN_LIST: ListStyle = {
  title: (count) => `${count} more not shown (too large to show here)`,
  withEnvironment: true,
};

/**
 * The `dag/diff` check run's output: a one-line title, the summary table as `summary`, and as
 * much of the diff as fits in 65,535 characters as `text` (cut and listed like a comment).
 */
export function checkRunOutput(model: DiffCommentModel): CheckRunOutput {
  const title = checkRunTitle(model);
  try {
    const outdated = model.outdated
      ? '> ⚠️ **Outdated:** the pull request head has moved on; an updated preview is on its way.\n\n'
      : '';
    let summary = `${outdated}${renderSummaryTable(model)}`;
    if (summary.length > CHECK_RUN_TEXT_LIMIT) {
      summary = `${outdated}${model.environments.length} environments: the table is too large to show.\n`;
    }
    let text = checkRunText(model);
    if (text.length > CHECK_RUN_TEXT_LIMIT) text = '';
    return { title, summary, text };
  } catch {
    return { title, summary: 'The preview could not be rendered.', text: '' };
  }
}

/** Smallest share of the text an environment gets before all share one list instead. */
const MIN_ENVIRONMENT_SHARE = 3_000;

/**
 * Each environment fills an equal share of what is left (what one leaves unused goes to the
 * next), so every environment shows its first diffs and its list; with too many environments
 * for useful shares, they fill the text in turn and share one list naming each environment.
 */
function checkRunText(model: DiffCommentModel): string {
  const environments = model.environments.map((environment) =>
    environmentBlocks(environment, CHECK_RUN_TRUNCATION_NOTE),
  );
  const budget = CHECK_RUN_TEXT_LIMIT - SLACK;
  if (environments.length === 0) return '';
  if (budget / environments.length < MIN_ENVIRONMENT_SHARE) {
    return fill(environments.flat(), budget, CHECK_RUN_LIST);
  }
  const out: string[] = [];
  let used = 0;
  environments.forEach((blocks, index) => {
    const share = Math.floor((budget - used) / (environments.length - index)) - 1;
    const text = fill(blocks, share, { ...CHECK_RUN_LIST, withEnvironment: false });
    out.push(text);
    used += text.length + 1;
  });
  return out.join('\n');
}

function checkRunTitle(model: DiffCommentModel): string {
  const totals = { created: 0, changed: 0, deleted: 0, errors: 0 };
  let failed = 0;
  for (const environment of model.environments) {
    const counts = environmentCounts(environment);
    totals.created += counts.created;
    totals.changed += counts.changed;
    totals.deleted += counts.deleted;
    totals.errors += counts.errors;
    if (environment.validation.result === 'failed') failed++;
  }
  const environments = model.environments.length;
  const parts = [
    `${totals.created} created, ${totals.changed} changed, ${totals.deleted} deleted in ${environments} environment${environments === 1 ? '' : 's'}`,
  ];
  if (totals.errors > 0) parts.push(`${totals.errors} errors`);
  if (failed > 0) parts.push(`validation failed in ${failed}`);
  return parts.join(' · ');
}
