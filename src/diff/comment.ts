import { Buffer } from 'node:buffer';
import type {
  ChangeRequestNoun,
  DiffCommentModel,
  EnvironmentDiff,
  FullDiffAt,
  IacFileDiff,
  ObjectDiff,
  Validation,
} from './comment-model.ts';
import { environmentCounts } from './comment-model.ts';
import type { CommentPart } from './comment-state.ts';
import { renderMarkers } from './comment-state.ts';
import { escapeInline, fenced, sanitizeCode, trimTrailingNewlines } from './markdown.ts';
import { maskDiffText, maskText } from './mask-text.ts';
import { shownDiff, type ShownDiff } from './shown-diff.ts';

export type {
  CheckRunIndex,
  CheckRunLink,
  DiffCommentModel,
  EnvironmentCounts,
  EnvironmentDiff,
  FileChange,
  FullDiffAt,
  IacFileDiff,
  ObjectChange,
  ObjectDiff,
  Validation,
  ValidationResult,
} from './comment-model.ts';
export { environmentCounts } from './comment-model.ts';
export type { CommentPart, DiffCommentLevel, DiffCommentState } from './comment-state.ts';

/** The line that replaces the end of a diff cut to fit, inside its code fence. */
export type TruncationNote = (omittedLines: number) => string;

/**
 * The `dag/diff` check runs: where pull-request previews keep everything (`dag/diff`, and with a
 * large preview `dag/diff part 2` …, linked from the comment under "Full diff").
 */
export const CHECK_RUN_AT: FullDiffAt = {
  text: 'the dag/diff check runs',
  markdown: 'the **dag/diff** check runs (linked under **Full diff**)',
  html: 'the <b>dag/diff</b> check runs',
};

/**
 * A provider without check-run pages (GitLab): the comments are the whole preview, and what
 * does not fit in them is read from the bundle DAG renders.
 */
export const NO_CHECK_RUNS_AT: FullDiffAt = {
  text: 'the rendered bundle (dag render; GitLab has no check-run pages to hold the rest)',
  markdown: 'the rendered bundle (`dag render`; GitLab has no check-run pages to hold the rest)',
  html: 'the rendered bundle (<code>dag render</code>; GitLab has no check-run pages to hold the rest)',
};

/** Where the model's full diff is: the check run unless the model says otherwise. */
export function fullDiffAt(model: DiffCommentModel): FullDiffAt {
  return model.fullDiffAt ?? CHECK_RUN_AT;
}

/** The truncation line of a comment whose full diff is at `at`. */
export function commentTruncationNote(at: FullDiffAt): TruncationNote {
  return (lines) => `… ${lines} lines omitted, see ${at.text}`;
}

/**
 * One unit of a rendered preview, never split between comments: an environment's heading, an IAC
 * file's diff, or an object's diff (each a `<details>` section with its own code fence).
 */
export type Block = {
  environment: string;
  kind: 'environment' | 'iac-file' | 'object';
  /** The whole block, ending with a newline. */
  text: string;
  /** `text`'s length in UTF-8 bytes (what GitHub's check-run limit counts), without reading it. */
  bytes: number;
  /**
   * The block in at most `maxChars` characters, its diff cut inside the fence and ended by the
   * truncation note; null when not even the frame fits.
   */
  fit(maxChars: number): string | null;
  /** One Markdown list item naming the file or object; null for an environment heading. */
  listing: string | null;
  /** The file's path or the object's `Kind namespace/name`, as plain text ('' for a heading). */
  name: string;
  /** The diff's lines, as shown (masked, sanitized); none for an environment heading. */
  lines(): readonly string[];
  /**
   * The section with only `lines[start..end)` of the diff (a diff spread over several check
   * runs), `before` and `after` as notes around the fence; the error only with the last lines.
   */
  piece(start: number, end: number, before: string, after: string): string;
};

const MAX_REASON_CHARS = 1_000;
const MAX_NOTES = 20;
const MAX_NOTE_CHARS = 500;
const MAX_ERROR_CHARS = 4_000;

/**
 * The warning on a preview of a commit that is no longer the pull request's head: `coming` when
 * DAG is computing the new head's preview, else how to ask for it.
 */
export function outdatedWarning(
  headSha: string,
  coming: boolean,
  noun: ChangeRequestNoun = 'pull request',
): string {
  const sha = escapeInline(headSha.slice(0, 12), 12);
  const next = coming
    ? 'an updated preview is on its way'
    : 'comment `/diff` for a preview of the new head';
  return `> ⚠️ **Outdated:** <code>${sha}</code> is no longer the head of this ${noun}; ${next}.`;
}

/** The visible top of a comment: markers, title, part and level notes, the outdated warning. */
export function renderHeader(model: DiffCommentModel, part: CommentPart): string {
  const sha = escapeInline(model.headSha.slice(0, 12), 12);
  const lines = [`${renderMarkers(model, part)}## DAG diff preview for <code>${sha}</code>`];
  if (model.outdated) lines.push(outdatedWarning(model.headSha, true, model.changeRequest));
  const note = levelNote(part, fullDiffAt(model));
  if (note) lines.push(note);
  return `${lines.join('\n\n')}\n`;
}

function levelNote({ level, part, parts }: CommentPart, at: FullDiffAt): string | null {
  switch (level) {
    case 'single':
      return null;
    case 'split':
      return parts > 1
        ? `_Part ${part} of ${parts}: the preview is split at object boundaries._`
        : null;
    case 'per-environment':
      return `_Part ${part} of ${parts}: one comment per environment. Objects that do not fit are listed by name; ${at.markdown} has more._`;
    case 'summary':
      return `_The diff is too large for comments: this lists what changes. See ${at.markdown} for the diffs._`;
  }
}

/** The table every preview starts with: one row per environment. */
export function renderSummaryTable(model: DiffCommentModel): string {
  if (model.environments.length === 0) {
    return `_This ${model.changeRequest ?? 'pull request'} changes no environment._\n`;
  }
  const rows = model.environments.map((environment) => {
    const counts = environmentCounts(environment);
    return `| ${escapeInline(environment.environment, 100)} | ${counts.iacFiles} | ${counts.created} | ${counts.changed} | ${counts.deleted} | ${counts.unchanged} | ${validationText(environment.validation, counts.errors, 200)} |`;
  });
  return [
    '| Environment | IAC files | Created | Changed | Deleted | Unchanged | Server-side validation |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
    '',
  ].join('\n');
}

/**
 * The validation's status with the objects that errored: a dry-run that "passed" while objects
 * could not be applied (a missing namespace) did not pass, so it reads as incomplete.
 */
export function validationText(validation: Validation, errors: number, maxChars: number): string {
  const reason = validation.reason
    ? `: ${escapeInline(maskText(validation.reason), maxChars)}`
    : '';
  const errored = `${errors} object${errors === 1 ? '' : 's'} could not be dry-run`;
  switch (validation.result) {
    case 'passed':
      return errors > 0 ? `⚠️ incomplete: ${errored}` : `✅ passed${reason}`;
    case 'failed':
      return `❌ failed${reason}${errors > 0 ? ` · ⚠️ ${errored}` : ''}`;
    case 'skipped':
      return `⏭️ skipped${reason}${errors > 0 ? ` · ⚠️ ${errored}` : ''}`;
  }
}

/** `### staging`: an environment's heading line. */
export function environmentHeading(environment: string): string {
  return `### ${escapeInline(environment, 100)}\n`;
}

/** `### staging (continued)`: opens a part that goes on with an environment. */
export function continuationHeading(environment: string): string {
  return `### ${escapeInline(environment, 100)} (continued)\n`;
}

/**
 * An environment's blocks in order: its heading (validation, counts, notes), then each IAC file's
 * diff, then each object that is not unchanged (or has an error).
 */
export function environmentBlocks(environment: EnvironmentDiff, note: TruncationNote): Block[] {
  return [...eachEnvironmentBlock(environment, note)];
}

/** `environmentBlocks` one at a time, for a caller that pauses between them. */
export function* eachEnvironmentBlock(
  environment: EnvironmentDiff,
  note: TruncationNote,
): Generator<Block, void, undefined> {
  const name = environment.environment;
  yield headingBlock(environment);
  for (const file of environment.iacFiles) yield fileBlock(name, file, note);
  for (const object of environment.objects) {
    if (object.change !== 'unchanged' || object.error) yield objectBlock(name, object, note);
  }
}

function headingBlock(environment: EnvironmentDiff): Block {
  const counts = environmentCounts(environment);
  const lines = [
    environmentHeading(environment.environment).trimEnd(),
    `**Server-side validation:** ${validationText(environment.validation, counts.errors, MAX_REASON_CHARS)}`,
    `**Objects:** ${counts.created} created, ${counts.changed} changed, ${counts.deleted} deleted, ${counts.unchanged} unchanged · **IAC files:** ${counts.iacFiles}`,
  ];
  const notes = environment.notes.slice(0, MAX_NOTES);
  if (notes.length > 0) {
    const more = environment.notes.length - notes.length;
    lines.push(
      [
        ...notes.map((note) => `- ${escapeInline(maskText(note), MAX_NOTE_CHARS)}`),
        ...(more > 0 ? [`- … and ${more} more notes`] : []),
      ].join('\n'),
    );
  }
  const text = `${lines.join('\n\n')}\n`;
  return {
    environment: environment.environment,
    kind: 'environment',
    text,
    bytes: Buffer.byteLength(text, 'utf8'),
    fit: (maxChars) => (text.length <= maxChars ? text : null),
    listing: null,
    name: '',
    lines: () => [],
    piece: () => text,
  };
}

const CHANGE_LABEL = {
  created: '<b>created</b>',
  changed: '<b>changed</b>',
  deleted: '<b>deleted</b>',
  unchanged: '<b>unchanged</b>',
} as const;

function fileBlock(environment: string, file: IacFileDiff, note: TruncationNote): Block {
  const title = `📄 ${CHANGE_LABEL[file.change]} <code>${escapeInline(file.path)}</code>`;
  return detailsBlock({
    environment,
    kind: 'iac-file',
    title,
    name: file.path,
    // A file's diff is masked here (files are few and small); an object's was masked, and its
    // code block worked out, where it was made (`objectChange`), once for every renderer.
    shown: shownDiff(maskDiffText(file.diff)),
    error: undefined,
    note,
  });
}

function objectBlock(environment: string, object: ObjectDiff, note: TruncationNote): Block {
  const where = object.namespace === null ? object.name : `${object.namespace}/${object.name}`;
  const title = `${CHANGE_LABEL[object.change]} ${escapeInline(object.kind, 100)} <code>${escapeInline(where)}</code>${object.error ? ' ⚠️' : ''}`;
  return detailsBlock({
    environment,
    kind: 'object',
    title,
    name: `${object.kind} ${where}`,
    shown:
      object.diff === undefined
        ? NO_DIFF
        : object.shown
          ? { code: object.diff, ...object.shown }
          : shownDiff(object.diff),
    error: object.error,
    note,
    ...(object.diffOmitted === undefined ? {} : { omitted: object.diffOmitted }),
  });
}

const NO_DIFF: ShownDiff = { code: '', added: 0, removed: 0, fence: '```', codeBytes: 0 };

/** `12,345`, as `toLocaleString('en-US')` writes it, without a formatter made on every call. */
const THOUSANDS = new Intl.NumberFormat('en-US');

type DetailsInput = {
  environment: string;
  kind: 'iac-file' | 'object';
  /** Safe HTML for the `<summary>`. */
  title: string;
  name: string;
  /** The diff, masked, as its code block shows it. */
  shown: ShownDiff;
  error: string | undefined;
  note: TruncationNote;
  /** Characters of a diff DAG did not keep (ObjectDiff.diffOmitted). */
  omitted?: number;
};

/**
 * `<details><summary>title (+a −r)</summary>`, a blank line (so GitHub renders Markdown again),
 * the diff in a fence longer than any backtick run in it, the error in its own fence, `</details>`.
 */
function detailsBlock(input: DetailsInput): Block {
  const { code, added, removed, fence, codeBytes } = input.shown;
  const stats = code === '' ? '' : ` (+${added} −${removed})`;
  const open = `<details><summary>${input.title}${stats}</summary>\n\n`;
  const errorText =
    input.error === undefined || input.error === ''
      ? ''
      : `**Error:**\n\n${fenced(trimTrailingNewlines(sanitizeCode(maskText(clamp(input.error, MAX_ERROR_CHARS)))), 'text')}\n\n`;
  const empty =
    input.omitted === undefined
      ? '_No diff available._'
      : `_Diff not kept (${THOUSANDS.format(input.omitted)} characters): the diffs before it fill every check run a preview may have._`;
  const render = (diff: string) =>
    `${open}${diff === '' ? (errorText ? '' : `${empty}\n\n`) : `${fenced(diff, 'diff', diff === code ? fence : undefined)}\n\n`}${errorText}</details>\n`;
  const text = render(code);
  // The frame's bytes and the code's, which is counted where it was made: the text itself, a
  // rope of its parts, is not flattened to be measured.
  const bytes =
    Buffer.byteLength(open, 'utf8') +
    (code === ''
      ? errorText
        ? 0
        : Buffer.byteLength(empty, 'utf8') + 2
      : 2 * fence.length + FENCE_FRAME_BYTES + codeBytes) +
    (errorText ? Buffer.byteLength(errorText, 'utf8') : 0) +
    CLOSE_BYTES;
  const fit = (maxChars: number): string | null => {
    if (text.length <= maxChars) return text;
    const lines = code.split('\n');
    const frame = render(input.note(lines.length)).length + 2 * (fence.length - 3);
    const budget = maxChars - frame;
    if (budget < 0) return null;
    let kept = 0;
    let used = 0;
    while (kept < lines.length && used + (lines[kept]?.length ?? 0) + 1 <= budget) {
      used += (lines[kept]?.length ?? 0) + 1;
      kept++;
    }
    for (; kept >= 0; kept = kept > 8 ? Math.floor(kept * 0.9) : kept - 1) {
      const shown = [...lines.slice(0, kept), input.note(lines.length - kept)].join('\n');
      const out = render(shown);
      if (out.length <= maxChars) return out;
    }
    return null;
  };
  const listing = `- ${input.title}${stats}`;
  let split: string[] | undefined;
  const all = (): string[] => (split ??= code === '' ? [] : code.split('\n'));
  const piece = (start: number, end: number, before: string, after: string): string => {
    const shown = all().slice(start, end).join('\n');
    const last = end >= all().length;
    const range = ` · lines ${start + 1}–${end} of ${all().length}`;
    return `<details><summary>${input.title}${stats}${range}</summary>\n\n${before}${fenced(shown, 'diff')}\n\n${after}${last ? errorText : ''}</details>\n`;
  };
  return {
    environment: input.environment,
    kind: input.kind,
    text,
    bytes,
    fit,
    listing,
    name: input.name,
    lines: all,
    piece,
  };
}

/** `diff\n` after the opening fence, `\n` before the closing one and `\n\n` after it. */
const FENCE_FRAME_BYTES = 8;
/** `</details>\n`. */
const CLOSE_BYTES = 11;

function clamp(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars - 1)}…`;
}

/**
 * The whole preview as one comment body, whatever its size (see `renderDiffComments` in
 * `split.ts` for the size-controlled comments DAG posts).
 */
export function renderDiffComment(model: DiffCommentModel): string {
  const blocks = model.environments.flatMap((environment) =>
    environmentBlocks(environment, commentTruncationNote(fullDiffAt(model))),
  );
  return [
    renderHeader(model, { level: 'single', part: 1, parts: 1 }),
    renderSummaryTable(model),
    ...blocks.map((block) => block.text),
  ].join('\n');
}
