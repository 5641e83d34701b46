import type { PullRequestStateEvent } from '../events/types.ts';
import { IAC_FIX_BRANCH_PREFIX, parseFixMetadata } from '../fix/pr-body.ts';
import type { Logger } from '../log.ts';
import type { FixProposalPullRequests, FixProposalState } from '../store/fix-proposals.ts';
import type { ConfigStore } from '../store/types.ts';
import { repoKey } from '../util/repo-url.ts';

/**
 * A fix pull request's state, carried to the proposals it holds: merged → `merged`, closed
 * without merge → `closed`, reopened → the closed ones `open` again (a later revision updates it
 * as before). Only proposals DAG recorded on that pull request of that repository (the app's, or
 * for a fix to IAC files, the environment's IAC repository) move, and only
 * when the pull request's metadata names one of them: metadata alone proves nothing (anyone who
 * can edit a description can paste it).
 */

/** The states each change moves proposals from, and to. */
const MOVES = {
  merged: { from: ['open', 'updated'], to: 'merged' },
  closed: { from: ['open', 'updated'], to: 'closed' },
  reopened: { from: ['closed'], to: 'open' },
} as const satisfies Record<
  PullRequestStateEvent['state'],
  { from: readonly FixProposalState[]; to: FixProposalState }
>;

export type FixStateDeps = {
  proposals: FixProposalPullRequests;
  store: Pick<ConfigStore, 'listApps' | 'listIacs' | 'listEnvironments'>;
  log: Logger;
  /** Counts each proposal moved, by its new state (dag_fix_proposals_total). */
  onOutcome?: (outcome: 'merged' | 'closed' | 'reopened') => void;
};

/** Moves the proposals of the fix pull request `event` names; the ids moved. */
export async function followFixPullRequest(
  event: PullRequestStateEvent,
  deps: FixStateDeps,
): Promise<number[]> {
  const metadata = parseFixMetadata(event.body);
  if (!metadata) return [];
  const where = { repo: event.repo.fullName, number: event.number };
  const keys = new Set([event.repo.webUrl, ...event.repo.urls].map(repoKey));
  const [allApps, iacs, environments] = await Promise.all([
    deps.store.listApps(),
    deps.store.listIacs(),
    deps.store.listEnvironments(),
  ]);
  const apps = new Set(allApps.filter((a) => keys.has(repoKey(a.repoUrl))).map((a) => a.id));
  // A fix to IAC files DAG does not render is a pull request on the environment's IAC repository.
  const iacIds = new Set(iacs.filter((i) => keys.has(repoKey(i.repoUrl))).map((i) => i.id));
  const iacEnvironments = new Set(environments.filter((e) => iacIds.has(e.iacId)).map((e) => e.id));
  const records = (await deps.proposals.listOnPullRequest(event.number)).filter((r) =>
    r.branch?.startsWith(IAC_FIX_BRANCH_PREFIX)
      ? r.environmentId !== null && iacEnvironments.has(r.environmentId)
      : r.appId !== null && apps.has(r.appId),
  );
  if (!records.some((r) => r.id === metadata.proposal)) {
    deps.log.warn(
      { ...where, proposal: metadata.proposal },
      'pull request carries fix metadata DAG has no record of: ignored',
    );
    return [];
  }
  const move = MOVES[event.state];
  const moved = await deps.proposals.moveState(
    records.map((r) => r.id),
    move.from,
    move.to,
  );
  moved.forEach(() => deps.onOutcome?.(event.state));
  deps.log.info({ ...where, state: move.to, proposals: moved }, `fix pull request ${event.state}`);
  return moved;
}
