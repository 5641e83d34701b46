// Promotion jobs: one route's promotion pull request opened, updated or closed (the strategies
// are in promotion-strategies.ts, the pull request's life in promotion-pr.ts), the answer to a
// /promote, and which promotions a deploy starts.

import { DagError, reasonOf } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { PromotionStore } from '../store/types.ts';
import { errorBlock, escapeMarkdown, fitComment } from './markdown.ts';
import { iacOf, openPromotion } from './promotion-pr.ts';
import { promoteBranch, promoteFolder } from './promotion-strategies.ts';
import type { PromoteDeps, PromotionOutcome, PromotionRequest, Route } from './promotion-types.ts';

export type { PromoteDeps, PromotionOutcome, PromotionRequest } from './promotion-types.ts';

async function loadRoute(id: number, store: PromoteDeps['store']): Promise<Route | undefined> {
  const route = await store.getRoute(id);
  if (!route) return undefined;
  const [app, from, to] = await Promise.all([
    store.getApp(route.appId),
    store.getEnvironment(route.fromEnvironmentId),
    store.getEnvironment(route.toEnvironmentId),
  ]);
  return app && from && to ? { route, app, from, to } : undefined;
}

/** DAG's answer to a /promote (its `promote` comment), and whether the command did its job. */
export function promotionAnswer(
  outcome: PromotionOutcome,
  route: Route,
): { ok: boolean; text: string } {
  const what = `${escapeMarkdown(route.app.name)} from **${escapeMarkdown(route.from.name)}** to **${escapeMarkdown(route.to.name)}**`;
  switch (outcome.status) {
    case 'opened':
      return { ok: true, text: `**DAG** opened the promotion of ${what}: ${outcome.url}` };
    case 'updated':
      return { ok: true, text: `**DAG** updated the promotion of ${what}: ${outcome.url}` };
    case 'merged':
      return { ok: true, text: `**DAG** reported the merged promotion of ${what}: ${outcome.url}` };
    case 'hands-off':
      return {
        ok: false,
        text: `**DAG** leaves the promotion of ${what} as it is: a person pushed to its branch. Merge or close ${outcome.url} first.`,
      };
    case 'nothing':
      return {
        ok: true,
        text: `**DAG**: nothing to promote ${what}: ${escapeMarkdown(outcome.reason)}.${outcome.closed ? ` It closed ${outcome.closed.url}.` : ''}`,
      };
    case 'refused':
      return {
        ok: false,
        text: `**DAG** cannot promote ${what}:\n\n${errorBlock(outcome.reason)}`,
      };
  }
}

async function reply(
  request: PromotionRequest,
  deps: PromoteDeps,
  result: { ok: boolean; text: string },
): Promise<void> {
  const { origin } = request;
  const platform = deps.appPlatform;
  if (origin.kind !== 'command') return;
  const kind = origin.thread ?? 'request';
  await platform.upsertComments(
    request.appRepo,
    origin.number,
    'promote',
    [fitComment(result.text, request.appRepo.provider)],
    kind,
  );
  await platform.react(
    request.appRepo,
    { number: origin.number, id: origin.commentId, kind },
    result.ok ? '+1' : '-1',
  );
}

/**
 * Opens or updates the promotion pull request of one route, or closes it when nothing is left
 * to promote; records a merge since the last look and reports the target's deploy. Run per
 * route one at a time (the promote queue groups by route). A /promote gets its answer here.
 */
export async function runPromotion(
  request: PromotionRequest,
  deps: PromoteDeps & { lastAttempt: boolean },
): Promise<PromotionOutcome> {
  const route = await loadRoute(request.routeId, deps.store);
  if (!route) {
    deps.log.info({ route: request.routeId }, 'promotion route removed; nothing to promote');
    return { status: 'refused', reason: 'the promotion route was removed' };
  }
  let outcome: PromotionOutcome;
  try {
    if (request.origin.kind === 'merged') {
      const host =
        route.route.strategy === 'app-branch'
          ? { platform: deps.appPlatform, repo: request.appRepo }
          : await (async () => {
              const { iac, token } = await iacOf(deps.store, route.to);
              return deps.iacHost(iac, token);
            })();
      await openPromotion(route, host, deps, request.appRepo);
      outcome = { status: 'merged', number: request.origin.number, url: '' };
    } else {
      outcome =
        route.route.strategy === 'folder'
          ? await promoteFolder(route, request.appRepo, deps)
          : await promoteBranch(route, request.appRepo, deps);
    }
  } catch (error) {
    const permanent =
      error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
    deps.log.warn({ err: error, route: route.route.id, permanent }, 'promotion failed');
    if (permanent || deps.lastAttempt) {
      const reason = deps.mask(reasonOf(error));
      await reply(request, deps, promotionAnswer({ status: 'refused', reason }, route));
      if (permanent) return { status: 'refused', reason };
    }
    throw error;
  }
  deps.log.info(
    { route: route.route.id, status: outcome.status, origin: request.origin.kind },
    'promotion done',
  );
  await reply(request, deps, promotionAnswer(outcome, route));
  return outcome;
}

/** One job per route and reason: a redelivered webhook or a repeated deploy is the same job. */
export function promotionJobKey(request: PromotionRequest): string {
  const { origin } = request;
  const why =
    origin.kind === 'command'
      ? `comment-${origin.commentId}`
      : origin.kind === 'deploy'
        ? `deploy-${origin.sha}`
        : `merged-${origin.repoUrl}#${origin.number}`;
  return `route-${request.routeId}:${why}`;
}

/**
 * The promotions a successful deploy starts: one per automatic route leaving its environment.
 * A /deploy of a pull request starts none: its commit is not merged, and what an automatic
 * route carries on is what the environment's branch delivers.
 */
export async function automaticPromotions(
  store: PromotionStore,
  deployed: { environmentId: number; sha: string; repo: RepoRef; pullRequest?: number | undefined },
): Promise<PromotionRequest[]> {
  if (deployed.pullRequest !== undefined) return [];
  const routes = await store.listRoutes();
  return routes
    .filter((route) => route.automatic && route.fromEnvironmentId === deployed.environmentId)
    .map((route) => ({
      routeId: route.id,
      appRepo: deployed.repo,
      origin: { kind: 'deploy', sha: deployed.sha },
    }));
}
