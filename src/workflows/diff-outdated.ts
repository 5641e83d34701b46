import type { RepoRef } from '../events/types.ts';
import { markOutdated } from '../diff/comment-read.ts';
import { outdatedWarning } from '../diff/comment.ts';
import type { PullRequests } from '../platform/types.ts';

/**
 * The pull request moved to `headSha`: DAG's diff comment, if it previews an older head, says
 * so (its visible warning and its hidden state), without recomputing anything. `coming`: a new
 * preview is queued; otherwise the warning says how to ask for one. Writes only when a part
 * changes; true when it did.
 */
export async function markDiffOutdated(
  platform: Pick<PullRequests, 'readComments' | 'upsertComments' | 'changeRequestNoun'>,
  repo: RepoRef,
  number: number,
  headSha: string,
  coming: boolean,
): Promise<boolean> {
  const bodies = await platform.readComments(repo, number, 'diff');
  const marked = bodies.map((body) =>
    markOutdated(body, headSha, (old) => outdatedWarning(old, coming, platform.changeRequestNoun)),
  );
  if (marked.every((body) => body === null)) return false;
  await platform.upsertComments(
    repo,
    number,
    'diff',
    bodies.map((body, i) => marked[i] ?? body),
  );
  return true;
}
