// Reading DAG's diff comments back (their hidden state) and marking them outdated: on the event
// loop only. Kept apart from comment-state.ts, which the preview pool's threads load to render
// comments, so that those threads do not load zod.

import { z } from 'zod';
import {
  MARKER,
  MAX_STATE_CHARS,
  renderState,
  STATE,
  type DiffCommentState,
  type EnvironmentState,
} from './comment-state.ts';

const environmentState = z.object({
  name: z.string(),
  created: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  deleted: z.number().int().nonnegative(),
  unchanged: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  iacFiles: z.number().int().nonnegative(),
  validation: z.enum(['passed', 'failed', 'skipped']),
}) satisfies z.ZodType<EnvironmentState>;

const stateSchema = z.object({
  v: z.literal(1),
  headSha: z.string().max(200),
  outdated: z.boolean(),
  level: z.enum(['single', 'split', 'per-environment', 'summary']),
  environments: z.array(environmentState),
});

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
