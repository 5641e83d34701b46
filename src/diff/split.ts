import type { Block, DiffCommentLevel, DiffCommentModel } from './comment.ts';
import {
  commentTruncationNote,
  fullDiffAt,
  type FullDiffAt,
  continuationHeading,
  environmentBlocks,
  environmentHeading,
  renderHeader,
  renderSummaryTable,
} from './comment.ts';
import { renderCheckRunIndex } from './check-runs.ts';
import type { ListStyle } from './fill.ts';
import { fill, listBlock } from './fill.ts';

/** Largest comment body DAG posts: well under GitHub's 65,536 characters (as Renovate does). */
export const MAX_COMMENT_CHARS = 60_000;
/** Most comments one preview may take before it falls back to one per environment. */
export const MAX_COMMENT_PARTS = 10;

/** Measuring slack: lengths below are exact, this only absorbs a part number's extra digit. */
const SLACK = 16;
/** Room kept per environment still to come when listing at the summary level. */
const ENVIRONMENT_RESERVE = 400;

export type SplitOptions = { maxChars?: number; maxParts?: number };

/** A comment's length and the number of comments, as given or by default. */
function limitsOf(model: DiffCommentModel, options: SplitOptions) {
  return {
    maxChars: options.maxChars ?? model.commentMaxChars ?? MAX_COMMENT_CHARS,
    maxParts: Math.max(1, options.maxParts ?? MAX_COMMENT_PARTS),
  };
}

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
  const { maxChars, maxParts } = limitsOf(model, options);
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

/**
 * Stands for a diff left out of the model a comment is rendered from (`commentModel`). No real
 * diff holds it: a code block's text has its NULs replaced (`sanitizeCode`).
 */
export const LEFT_OUT_DIFF = '\u0000dag: diff left out\u0000';

/**
 * The model with only the diffs its comments can show, for rendering them where the model must
 * be copied (a worker thread): per environment, its objects' diffs up to `(maxParts + 1) ×
 * maxChars` characters, and each later one as LEFT_OUT_DIFF (its counts and fence kept, so its
 * title and list line read the same). The comments of this model are those of the whole model
 * unless LEFT_OUT_DIFF shows in them: all comments together hold at most `maxParts × maxChars`
 * characters, and a level that cannot show a diff names it by title alone. When it shows, render
 * the whole model. The model itself when nothing is left out.
 */
export function commentModel(
  model: DiffCommentModel,
  options: SplitOptions = {},
): DiffCommentModel {
  const { maxChars, maxParts } = limitsOf(model, options);
  const keep = (maxParts + 1) * maxChars;
  let leftOut = false;
  const environments = model.environments.map((environment) => {
    let chars = 0;
    const objects = environment.objects.map((object) => {
      if (object.diff === undefined || object.shown === undefined) return object;
      chars += object.diff.length;
      if (chars <= keep) return object;
      leftOut = true;
      return { ...object, diff: LEFT_OUT_DIFF };
    });
    return chars <= keep ? environment : { ...environment, objects };
  });
  return leftOut ? { ...model, environments } : model;
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

/** The summary table, then (when the preview is spread over check runs) the links to them. */
function overview(model: DiffCommentModel): string {
  const index = renderCheckRunIndex(model.checkRuns);
  return index === '' ? renderSummaryTable(model) : `${renderSummaryTable(model)}\n${index}`;
}

function split(
  model: DiffCommentModel,
  environments: Block[][],
  maxChars: number,
  maxParts: number,
): DiffComments | null {
  const summary = overview(model);
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
  const summary = overview(model);
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
  const out = [renderHeader(model, part), overview(model)];
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
