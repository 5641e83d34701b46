import { Buffer } from 'node:buffer';
import type { Block, CheckRunIndex, CheckRunLink, DiffCommentModel } from './comment.ts';
import {
  continuationHeading,
  eachEnvironmentBlock,
  environmentCounts,
  renderSummaryTable,
} from './comment.ts';
import { escapeInline } from './markdown.ts';

/**
 * GitHub's limit for a check run's `output.summary` and `output.text` each: 65,535 "characters",
 * which GitHub counts as UTF-8 bytes (github/docs#35252), so DAG measures bytes.
 */
export const CHECK_RUN_TEXT_LIMIT = 65_535;
/** The check run every preview has: its conclusion, the summary table and the links to the rest. */
export const DIFF_CHECK = 'dag/diff';
/**
 * Most check runs one preview is spread over (`dag/diff`, `dag/diff part 2` … `part 40`): 79
 * pages of up to 64,535 bytes, about 5 MB of diff (some 2,300 typical objects). Past it, the
 * last part lists by name every file and object whose diff is in no part.
 */
export const MAX_CHECK_RUNS = 40;

/** What the names of the parts after the first start with. */
export const PART_PREFIX = `${DIFF_CHECK} part `;

/** `dag/diff` for part 1, `dag/diff part N` after it: the same names on every run of `/diff`. */
export function checkRunName(part: number): string {
  return part <= 1 ? DIFF_CHECK : `${PART_PREFIX}${part}`;
}

/** What a part no longer used by the latest preview says (a check run cannot be deleted). */
export const RETIRED_CHECK = {
  title: 'Not used by the latest preview',
  summary:
    'The latest diff preview of this commit needs fewer check runs: this part holds nothing. See the **dag/diff** check run.',
} as const;

/** Bytes of a page of diffs (at most; tests use smaller pages); the rest is the part's header. */
const PAGE_BYTES = CHECK_RUN_TEXT_LIMIT - 1_000;
/**
 * The most diff text the check runs of one preview can show (79 pages): diffs past this much
 * in an environment are never shown, so a preview need not keep them (see `keepDiffsWithin`).
 */
export const SHOWABLE_DIFF_CHARS = (1 + 2 * (MAX_CHECK_RUNS - 1)) * PAGE_BYTES;
/** A diff larger than a page starts on the current page only if this much room is left. */
const MIN_PIECE_ROOM = 4_000;
/** Room for a piece's fence growing (backtick runs) and its notes. */
const PIECE_SLACK = 64;
/** Longest `holds` text of a part. */
const MAX_HOLDS_CHARS = 300;

export type CheckRunOutput = { title: string; summary: string; text: string };
export type CheckRunPart = CheckRunOutput & { name: string; holds: string };

/** A preview as check runs: `dag/diff` (summary from `mainOutput`) and its further parts. */
export type CheckRunSet = {
  /** `dag/diff`'s title and text (the first page of diffs), and what it holds. */
  main: { title: string; text: string; holds: string };
  /** Parts 2 … N, in order. */
  parts: CheckRunPart[];
  unshown: number;
  unlisted: number;
};

const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

type Page = {
  texts: string[];
  bytes: number;
  /** Environment name → [first, last] name of the files and objects shown (or begun) here. */
  holds: Map<string, [string, string]>;
};

/** Page index (0-based) → part: page 0 is `dag/diff`'s text, then two pages (summary, text) a part. */
function partOf(page: number): number {
  return page === 0 ? 1 : Math.floor((page + 1) / 2) + 1;
}

/**
 * The whole preview spread over check runs, each summary and text within GitHub's limit: every
 * file's and object's diff in order, whole on one page when it fits there, else split between
 * lines over as many pages as it takes, each piece saying where it goes on. With more than
 * `maxRuns` check runs needed, the last holds instead the list of every file and object whose
 * diff is in no part (and a count of those even the list cannot name).
 */
export function checkRunSet(
  model: DiffCommentModel,
  options: CheckRunSetOptions = {},
): CheckRunSet {
  const steps = checkRunSteps(model, options);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

export type CheckRunSetOptions = { maxRuns?: number; pageBytes?: number };

/**
 * `checkRunSet` on the event loop's thread, giving the loop a turn whenever it has held it for
 * `sliceMs`: the work is bounded by what the check runs hold (at most 79 pages of text; the
 * blocks past them are only listed), a few milliseconds a thousand objects, where sending the
 * preview to a worker thread and its pages back (two-byte strings, twice the model's size) costs
 * more than the layout itself.
 */
export async function checkRunSetInTurns(
  model: DiffCommentModel,
  options: CheckRunSetOptions & { sliceMs?: number } = {},
): Promise<CheckRunSet> {
  const sliceMs = options.sliceMs ?? 5;
  const steps = checkRunSteps(model, options);
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
    if (performance.now() - since >= sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}

/** Blocks handled between two points where the layout may pause. */
const STEP_BLOCKS = 64;

/** `checkRunSet`'s work, pausing (`yield`) every STEP_BLOCKS blocks and after each page's text. */
function* checkRunSteps(
  model: DiffCommentModel,
  options: CheckRunSetOptions,
): Generator<void, CheckRunSet, undefined> {
  const maxRuns = options.maxRuns ?? MAX_CHECK_RUNS;
  const pageBytes = Math.min(PAGE_BYTES, options.pageBytes ?? PAGE_BYTES);
  const blocks: Block[] = [];
  for (const environment of model.environments) {
    for (const block of eachEnvironmentBlock(environment, (lines) => `… ${lines} lines omitted`)) {
      blocks.push(block);
      if (blocks.length % STEP_BLOCKS === 0) yield;
    }
  }
  const capacity = 1 + 2 * (Math.max(2, maxRuns) - 1);
  let layout = yield* layoutPages(blocks, capacity, pageBytes);
  let listed: Page[] = [];
  let unshown = 0;
  let unlisted = 0;
  if (layout.stop < blocks.length) {
    layout = yield* layoutPages(blocks, capacity - 2, pageBytes);
    const rest = blocks.slice(layout.stop).filter((block) => block.listing !== null);
    unshown = rest.length;
    const list = yield* listPages(rest, 2, pageBytes);
    listed = list.pages;
    unlisted = list.unlisted;
  }
  const pages = [...layout.pages, ...listed];
  if (pages.length === 0) pages.push(newPage());
  const runs = partOf(pages.length - 1);
  const sha = escapeInline(model.headSha.slice(0, 12), 12);
  const parts: CheckRunPart[] = [];
  for (let part = 2; part <= runs; part++) {
    const summaryPage = pages[2 * part - 3];
    const textPage = pages[2 * part - 2];
    const isList = listed.length > 0 && part === runs;
    const header = isList
      ? `_Part ${part} of ${runs} of DAG's diff preview for <code>${sha}</code>. The preview needs more than ${runs} check runs: the diffs of these ${unshown} files and objects are shown in no part._\n\n`
      : `_Part ${part} of ${runs} of DAG's diff preview for <code>${sha}</code>; the summary and every part are linked from the **${DIFF_CHECK}** check run._\n\n`;
    const holds = isList
      ? `the names of the ${unshown} files and objects not shown${unlisted > 0 ? ` (${unlisted} only counted)` : ''}`
      : holdsOf([summaryPage, textPage]);
    parts.push({
      name: checkRunName(part),
      title: clip(`Part ${part} of ${runs}: ${holds}`, 200),
      summary: header + (summaryPage?.texts.join('\n') ?? ''),
      text: textPage?.texts.join('\n') ?? '',
      holds,
    });
    yield;
  }
  return {
    main: {
      title: checkRunTitle(model),
      text: pages[0]?.texts.join('\n') ?? '',
      holds: holdsOf([pages[0]]),
    },
    parts,
    unshown,
    unlisted,
  };
}

function newPage(): Page {
  return { texts: [], bytes: 0, holds: new Map() };
}

/**
 * Lays `blocks` out on at most `maxPages` pages; `stop` is the index of the first block not
 * wholly on them (`blocks.length` when all are).
 */
function* layoutPages(
  blocks: readonly Block[],
  maxPages: number,
  pageBytes: number,
): Generator<void, { pages: Page[]; stop: number }, undefined> {
  const pages: Page[] = [];
  let page = newPage();
  const room = () => pageBytes - page.bytes;
  const minPieceRoom = Math.min(MIN_PIECE_ROOM, pageBytes / 4);
  const add = (block: Block, text: string, size = bytes(text)) => {
    page.texts.push(text);
    page.bytes += size + 1;
    if (block.kind === 'environment') return;
    const seen = page.holds.get(block.environment);
    if (seen) seen[1] = block.name;
    else page.holds.set(block.environment, [block.name, block.name]);
  };
  /** Starts a new page, going on with `block`'s environment; false when no page is left. */
  const turn = (block: Block): boolean => {
    pages.push(page);
    page = newPage();
    if (pages.length >= maxPages) return false;
    if (block.kind !== 'environment') {
      const heading = continuationHeading(block.environment);
      page.texts.push(heading);
      page.bytes += bytes(heading) + 1;
    }
    return true;
  };
  for (let index = 0; index < blocks.length; index++) {
    if (index % STEP_BLOCKS === STEP_BLOCKS - 1) yield;
    const block = blocks[index]!;
    const size = block.bytes + 1;
    if (block.kind === 'environment') {
      // Keep a heading with the start of what follows it.
      const next = blocks[index + 1];
      const ahead = next && next.kind !== 'environment' ? Math.min(next.bytes, 3_000) : 0;
      if (size + ahead > room() && page.texts.length > 0 && !turn(block)) {
        return { pages, stop: index };
      }
      add(block, block.text, block.bytes);
      continue;
    }
    if (size <= room()) {
      add(block, block.text, block.bytes);
      continue;
    }
    if (size <= pageBytes - 200 || room() < minPieceRoom) {
      if (!turn(block)) return { pages, stop: index };
      if (size <= room()) {
        add(block, block.text, block.bytes);
        continue;
      }
    }
    // Larger than a page: split between lines, each piece saying where the diff goes on.
    const lines = block.lines();
    let start = 0;
    while (start < lines.length) {
      const here = pages.length;
      const before =
        start === 0
          ? ''
          : `_Continued from ${partOf(here - 1) === partOf(here) ? 'above' : `**${checkRunName(partOf(here - 1))}**`}._\n\n`;
      const onward = `_Continued in **${checkRunName(partOf(here + 1))}**._\n\n`;
      let used = bytes(block.piece(start, start, before, onward)) + 1 + PIECE_SLACK;
      let end = start;
      while (end < lines.length && used + bytes(lines[end]!) + 1 <= room()) {
        used += bytes(lines[end]!) + 1;
        end++;
      }
      // A line longer than what is left of a page that already holds something: next page.
      if (end === start && page.texts.length > 1) {
        if (!turn(block)) return { pages, stop: index };
        continue;
      }
      if (end === start) end = start + 1;
      const after =
        end >= lines.length
          ? ''
          : partOf(here + 1) === partOf(here)
            ? '_Continued below._\n\n'
            : onward;
      add(block, block.piece(start, end, before, after));
      start = end;
      yield;
      if (start < lines.length && !turn(block)) return { pages, stop: index };
    }
  }
  if (page.texts.length > 0) pages.push(page);
  return { pages, stop: blocks.length };
}

/** The blocks' list items (with their environment) on at most `count` pages. */
function* listPages(
  blocks: readonly Block[],
  count: number,
  pageBytes: number,
): Generator<void, { pages: Page[]; unlisted: number }, undefined> {
  const pages: Page[] = [];
  let index = 0;
  for (let p = 0; p < count && index < blocks.length; p++) {
    const page = newPage();
    const last = p === count - 1;
    // The last page keeps room for the count of the names that do not fit.
    const budget = pageBytes - (last ? 100 : 0);
    for (; index < blocks.length; index++) {
      if (index % STEP_BLOCKS === STEP_BLOCKS - 1) yield;
      const block = blocks[index]!;
      const line = `- ${escapeInline(block.environment, 100)}: ${block.listing?.slice(2) ?? ''}`;
      const size = bytes(line) + 1;
      if (page.bytes + size > budget) break;
      page.texts.push(line);
      page.bytes += size;
    }
    pages.push(page);
  }
  const unlisted = blocks.length - index;
  if (unlisted > 0) {
    pages.at(-1)?.texts.push(`- … and ${unlisted} more, not named for want of room`);
  }
  return { pages, unlisted };
}

function holdsOf(pages: (Page | undefined)[]): string {
  const spans = new Map<string, [string, string]>();
  for (const page of pages) {
    for (const [environment, [first, last]] of page?.holds ?? []) {
      const span = spans.get(environment);
      if (span) span[1] = last;
      else spans.set(environment, [first, last]);
    }
  }
  if (spans.size === 0) return 'environment summaries';
  const text = [...spans]
    .map(([environment, [first, last]]) =>
      first === last ? `${environment}: ${first}` : `${environment}: ${first} … ${last}`,
    )
    .join('; ');
  return clip(text, MAX_HOLDS_CHARS);
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/**
 * `dag/diff`'s summary: the outdated warning, the summary table, and the links to every part
 * (with what was left out past the cap); always within the limit.
 */
export function mainSummary(model: DiffCommentModel): string {
  const outdated = model.outdated
    ? `> ⚠️ **Outdated:** the ${model.changeRequest ?? 'pull request'} head has moved on; an updated preview is on its way.\n\n`
    : '';
  const index = renderCheckRunIndex(model.checkRuns);
  let summary = `${outdated}${renderSummaryTable(model)}${index ? `\n${index}` : ''}`;
  if (bytes(summary) > CHECK_RUN_TEXT_LIMIT) {
    summary = `${outdated}${model.environments.length} environments: the table is too large to show.\n${index ? `\n${index}` : ''}`;
  }
  return bytes(summary) > CHECK_RUN_TEXT_LIMIT ? outdated : summary;
}

/**
 * Where the whole diff is: one line per check run with its link and what it holds, and what
 * is in none of them. Empty with fewer than two parts (the comment links `dag/diff` anyway).
 */
export function renderCheckRunIndex(index: CheckRunIndex | undefined): string {
  if (!index || index.parts.length < 2) return '';
  const lines = index.parts.map(
    (part) => `- ${link(part)}: ${escapeInline(part.holds, MAX_HOLDS_CHARS)}`,
  );
  const out = [`**Full diff**, spread over ${index.parts.length} check runs:`, '', ...lines, ''];
  if (index.unshown > 0) {
    const last = index.parts.at(-1);
    out.push(
      `> ⚠️ **Cut:** the preview needs more than ${index.parts.length} check runs (DAG's cap): the diffs of ${index.unshown} files and objects are shown nowhere; ${last ? link(last) : 'the last part'} names them${index.unlisted > 0 ? `, all but ${index.unlisted} (only counted)` : ''}.`,
      '',
    );
  }
  return out.join('\n');
}

function link(part: CheckRunLink): string {
  return part.url ? `[${part.name}](${part.url})` : `**${part.name}**`;
}

/** The one-line title of `dag/diff`: counts, errors, failed validations. */
export function checkRunTitle(model: DiffCommentModel): string {
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
