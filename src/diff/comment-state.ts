import { z } from 'zod';
import type { DiffCommentModel } from './comment-model.ts';
import { environmentCounts } from './comment-model.ts';

/** How much of the diff the comments hold, from everything to a list of names. */
export type DiffCommentLevel = 'single' | 'split' | 'per-environment' | 'summary';

const environmentState = z.object({
  name: z.string(),
  created: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  deleted: z.number().int().nonnegative(),
  unchanged: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  iacFiles: z.number().int().nonnegative(),
  validation: z.enum(['passed', 'failed', 'skipped']),
});

const stateSchema = z.object({
  v: z.literal(1),
  headSha: z.string().max(200),
  outdated: z.boolean(),
  level: z.enum(['single', 'split', 'per-environment', 'summary']),
  environments: z.array(environmentState),
});

/** What DAG keeps in its own comment to read back later (which head it describes, and counts). */
export type DiffCommentState = {
  pr: number;
  /** 1-based part of `parts` comments. */
  part: number;
  parts: number;
  headSha: string;
  outdated: boolean;
  level: DiffCommentLevel;
  environments: z.infer<typeof environmentState>[];
};

export type CommentPart = { level: DiffCommentLevel; part: number; parts: number };

/** Hidden state larger than this drops the per-environment list (thousands of environments). */
const MAX_STATE_CHARS = 8_000;

const MARKER = /^<!-- dag:diff pr=(\d{1,12})(?: part=(\d{1,4})\/(\d{1,4}))? -->\r?\n/;
const STATE = /^<!-- dag:state (\{[^\n]*\}) -->\r?$/;

/**
 * The first lines of every diff comment: `<!-- dag:diff pr=12 part=1/2 -->` (the topic DAG finds
 * its comment by) and `<!-- dag:state {...} -->` (JSON, with `<`, `>`, `&` and `-` escaped so
 * the HTML comment cannot be closed early).
 */
export function renderMarkers(model: DiffCommentModel, part: CommentPart): string {
  const pr = Number.isSafeInteger(model.pr) && model.pr >= 0 ? model.pr : 0;
  return `<!-- dag:diff pr=${pr} part=${part.part}/${part.parts} -->\n${renderState({
    headSha: model.headSha,
    outdated: model.outdated === true,
    level: part.level,
    environments: model.environments.map((environment) => ({
      name: environment.environment,
      ...environmentCounts(environment),
      validation: environment.validation.result,
    })),
  })}\n`;
}

/** The `<!-- dag:state {...} -->` line. */
function renderState(
  state: Pick<DiffCommentState, 'headSha' | 'outdated' | 'level' | 'environments'>,
): string {
  const full = {
    v: 1,
    headSha: state.headSha.slice(0, 200),
    outdated: state.outdated,
    level: state.level,
    environments: state.environments,
  };
  let json = JSON.stringify(full);
  if (json.length > MAX_STATE_CHARS) json = JSON.stringify({ ...full, environments: [] });
  const safe = json.replace(
    /[<>&-]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return `<!-- dag:state ${safe} -->`;
}

/**
 * The comment with its state saying outdated and `warning(its head)` as a paragraph after its
 * title; null when it is no diff comment of DAG's, describes `headSha`, or says outdated already.
 */
export function markOutdated(
  body: string,
  headSha: string,
  warning: (commentHeadSha: string) => string,
): string | null {
  const state = parseDiffComment(body);
  if (!state || state.outdated || state.headSha === headSha.slice(0, 200)) return null;
  const lines = body.split('\n');
  if (!lines[2]?.startsWith('## ')) return null;
  lines[1] = renderState({ ...state, outdated: true });
  lines.splice(3, 0, '', warning(state.headSha));
  return lines.join('\n');
}

/**
 * Reads back a comment DAG wrote: null for any other comment, or one whose state is damaged.
 * (Only trust it when the comment's author is DAG itself: anyone can type the marker.)
 */
export function parseDiffComment(body: string): DiffCommentState | null {
  const marker = MARKER.exec(body);
  if (!marker) return null;
  const head = body.slice(marker[0].length, marker[0].length + MAX_STATE_CHARS + 100);
  const json = STATE.exec(head.split('\n', 1)[0] ?? '')?.[1];
  if (json === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return null;
  }
  const parsed = stateSchema.safeParse(value);
  if (!parsed.success) return null;
  const part = Number(marker[2] ?? 1);
  const parts = Number(marker[3] ?? 1);
  if (part < 1 || part > parts) return null;
  const { headSha, outdated, level, environments } = parsed.data;
  return { pr: Number(marker[1]), part, parts, headSha, outdated, level, environments };
}
