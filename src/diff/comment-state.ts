import type { DiffCommentModel, EnvironmentCounts, ValidationResult } from './comment-model.ts';
import { environmentCounts } from './comment-model.ts';

/** How much of the diff the comments hold, from everything to a list of names. */
export type DiffCommentLevel = 'single' | 'split' | 'per-environment' | 'summary';

/** One environment's counts, as the hidden state keeps them. */
export type EnvironmentState = EnvironmentCounts & { name: string; validation: ValidationResult };

/** What DAG keeps in its own comment to read back later (which head it describes, and counts). */
export type DiffCommentState = {
  pr: number;
  /** 1-based part of `parts` comments. */
  part: number;
  parts: number;
  headSha: string;
  outdated: boolean;
  level: DiffCommentLevel;
  environments: EnvironmentState[];
};

export type CommentPart = { level: DiffCommentLevel; part: number; parts: number };

/** Hidden state larger than this drops the per-environment list (thousands of environments). */
export const MAX_STATE_CHARS = 8_000;

export const MARKER = /^<!-- dag:diff pr=(\d{1,12})(?: part=(\d{1,4})\/(\d{1,4}))? -->\r?\n/;
export const STATE = /^<!-- dag:state (\{[^\n]*\}) -->\r?$/;

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
export function renderState(
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
