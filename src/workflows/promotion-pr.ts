// The life of a route's promotion pull request: find DAG's open one (recording a merge or a
// close since the last look), open or update it, close it when nothing is left, and report the
// target's deploy after the merge.

import { ConfigError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { ChangeRequest, RequestNoun } from '../platform/types.ts';
import {
  hasPullRequest,
  type DeployRecord,
  type PromotionPullRequest,
  type PromotionRecord,
} from '../store/types.ts';
import { iacCommitUrl } from '../util/commit-url.ts';
import type { DeployRequest } from './deploy-plan.ts';
import { ensureDeployment, rolloutRequestOf } from './deploy.ts';
import { code, escapeMarkdown, fitComment } from './markdown.ts';
import {
  PROMOTION_LABELS,
  parsePromotionMetadata,
  type PromotionMetadata,
} from './promotion-body.ts';
import type { ChangeRequestHost, PromoteDeps, PromotionOutcome, Route } from './promotion-types.ts';
import type { Environment } from '../model.ts';

function title(route: Route, sha: string | null): string {
  const what = sha ? ` ${sha.slice(0, 7)}` : '';
  return `Promote ${route.app.name}${what} from ${route.from.name} to ${route.to.name}`;
}

export async function iacOf(store: PromoteDeps['store'], env: Environment) {
  const iac = await store.getIac(env.iacId);
  if (!iac) throw new ConfigError(`environment ${env.name} has no IAC repository`);
  return { iac, token: await store.iacToken(iac.id) };
}

export function metadataOf(
  route: Route,
  appRepo: RepoRef,
  source: string | null,
  target: string | null,
): PromotionMetadata {
  return {
    v: 1,
    route: route.route.id,
    strategy: route.route.strategy,
    from: route.from.name,
    to: route.to.name,
    source,
    target,
    appRepo: {
      provider: appRepo.provider,
      fullName: appRepo.fullName,
      webUrl: appRepo.webUrl,
      ...(appRepo.installationId === undefined ? {} : { installationId: appRepo.installationId }),
      ...(appRepo.projectId === undefined ? {} : { projectId: appRepo.projectId }),
    },
  };
}

/**
 * The target's deploy after a merge: the app repository's deployment for the target
 * environment on the promoted commit, recorded like any deploy and created exactly once however
 * many runs report the merge (the deploy's claim, as for a push). (A branch promotion in the
 * app repository needs none: its merge is a push, which deploys.)
 */
async function reportMerge(
  route: Route,
  record: PromotionPullRequest,
  request: ChangeRequest,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<PromotionRecord> {
  const { store, appPlatform } = deps;
  const sha = record.sourceSha;
  if (route.route.strategy !== 'app-branch' && sha) {
    const { iac } = await iacOf(store, route.to);
    const merge = request.mergeCommitSha;
    const pusher = `promotion #${record.number}`;
    let deploy = await store.beginDeploy({
      environmentId: route.to.id,
      sha,
      ref: route.to.branch,
      pusher,
    });
    if (deploy.state !== 'success') {
      const deployRequest: DeployRequest = {
        environmentId: route.to.id,
        target: { iacId: route.to.iacId, iacBranch: route.to.iacBranch },
        sha,
        branch: route.to.branch,
        pusher,
        repo: appRepo,
        commitUrl: `${appRepo.webUrl}/commit/${sha}`,
        attempt: deploy.attempt,
      };
      deploy = (await ensureDeployment(appPlatform, store, deployRequest, route.to.name, deploy, {
        wait: true,
      })) as DeployRecord;
      const id = deploy.providerDeploymentId as string;
      // Monitored: the deployment stays in progress until the target runs it (rollout-report.ts).
      const followed = (await deps.awaitsRollout?.(route.to)) ?? false;
      const description = merge
        ? `Promoted from ${route.from.name}: ${iac.name} merge ${merge.slice(0, 7)} (#${record.number})`
        : `Promoted from ${route.from.name} by #${record.number}`;
      await appPlatform.setDeploymentState(
        appRepo,
        { id, sha, ref: route.to.branch, environment: route.to.name },
        {
          state: followed ? 'in_progress' : 'success',
          description: followed ? `${description}; rolling out` : description,
          logUrl: merge ? iacCommitUrl(iac, merge, deps.forges) : request.url,
        },
      );
      deploy = await store.updateDeploy(deploy.id, {
        state: 'success',
        iacCommit: merge,
        reportedState: 'success',
        ...(followed ? { awaitRollout: rolloutRequestOf(deployRequest) } : {}),
      });
    }
    // Its rollout and the card of the request that shipped the commit follow (after a rerun too).
    await deps.onTargetDeployed?.(route.to, deploy, {
      environmentId: route.to.id,
      target: { iacId: route.to.iacId, iacBranch: route.to.iacBranch },
      sha,
      branch: route.from.branch,
      pusher,
      repo: appRepo,
      commitUrl: `${appRepo.webUrl}/commit/${sha}`,
    });
  }
  // Whatever the merge took (a person's commits too) is in the base now: the branch can go.
  if (route.route.strategy === 'folder')
    await deleteDagBranch(route, record, deps, request.headSha);
  deps.log.info(
    { route: route.route.id, number: record.number, sha },
    'promotion merged: target deploy reported',
  );
  return store.savePromotion({ ...record, state: 'merged', reported: true });
}

/** Deletes DAG's promotion branch if it still is at `expected` (by default DAG's own push). */
async function deleteDagBranch(
  route: Route,
  record: PromotionRecord,
  deps: PromoteDeps,
  expected: string | null = record.pushedHead,
): Promise<void> {
  const { iac, token } = await iacOf(deps.store, route.to);
  const result = await deps.iac.deleteBranch(
    { url: iac.repoUrl, token, branch: record.baseBranch },
    record.branch,
    expected,
  );
  deps.log.info({ branch: record.branch, result }, 'promotion branch cleaned up');
}

/**
 * The route's open promotion as the provider sees it now. A promotion merged or closed since
 * DAG last looked is recorded (a merge reported, DAG's branch removed) and no longer open. A
 * branch pushed whose pull request is not recorded yet is no open promotion: pendingPromotion.
 */
export async function openPromotion(
  route: Route,
  host: ChangeRequestHost,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<{ record: PromotionPullRequest; request: ChangeRequest } | undefined> {
  const record = await deps.store.currentPromotion(route.route.id);
  if (!record || !hasPullRequest(record)) return undefined;
  if (record.state === 'open') {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    if (request.state === 'open') return { record, request };
    if (request.state === 'merged') {
      await reportMerge(route, record, request, deps, appRepo);
      return undefined;
    }
    const closed = await deps.store.savePromotion({ ...record, state: 'closed' });
    if (route.route.strategy === 'folder') await deleteDagBranch(route, closed, deps);
    return undefined;
  }
  if (record.state === 'merged' && !record.reported) {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    await reportMerge(route, record, request, deps, appRepo);
  }
  return undefined;
}

/**
 * The route's promotion whose branch DAG pushed but whose pull request it has not recorded: a
 * run stopped between the push and the provider's answer (a rate limit, a 502, a crash).
 */
export async function pendingPromotion(
  store: PromoteDeps['store'],
  route: Route,
): Promise<PromotionRecord | undefined> {
  const record = await store.currentPromotion(route.route.id);
  return record?.state === 'open' && !hasPullRequest(record) ? record : undefined;
}

/**
 * Records the commit DAG just pushed to its branch, before any provider call that depends on
 * it: on the open promotion, else as a pending one (no pull request yet). A run that stops
 * after the push then finds the branch at a commit it knows as its own, and does not take it
 * for a person's. The pending record, if that is where it went.
 */
export async function recordPush(
  open: { record: PromotionPullRequest } | undefined,
  pending: PromotionRecord | undefined,
  route: Route,
  pushed: { repoUrl: string; head: string; base: string; pushedHead: string; sourceSha: string },
  deps: PromoteDeps,
): Promise<PromotionRecord | undefined> {
  if (open) {
    if (open.record.pushedHead !== pushed.pushedHead) {
      await deps.store.savePromotion({ ...open.record, pushedHead: pushed.pushedHead });
    }
    return undefined;
  }
  return deps.store.savePromotion({
    id: pending?.id,
    routeId: route.route.id,
    repoUrl: pushed.repoUrl,
    number: null,
    url: null,
    branch: pushed.head,
    baseBranch: pushed.base,
    pushedHead: pushed.pushedHead,
    sourceSha: pushed.sourceSha,
    state: 'open',
    handsOff: false,
    reported: false,
  });
}

/**
 * Opens DAG's promotion pull request, or updates the one already open (found by its record,
 * else by its branches and DAG's metadata in its body: one an earlier run opened without
 * recording it). The pending record (recordPush) becomes the pull request's. Someone else's
 * pull request between the same branches is answered with, never touched.
 */
export async function publish(
  host: ChangeRequestHost,
  open: { record: PromotionRecord; request: ChangeRequest } | undefined,
  route: Route,
  input: {
    head: string;
    base: string;
    /** The description, within the provider's limit, naming the request as it does. */
    body: (maxChars: number, noun: RequestNoun) => string;
    pushedHead: string | null;
    sourceSha: string | null;
    /** The route's pending promotion (pendingPromotion, recordPush), when there is no open one. */
    pending?: PromotionRecord | undefined;
  },
  deps: PromoteDeps,
): Promise<{ outcome: PromotionOutcome; request?: ChangeRequest }> {
  const { platform, repo } = host;
  const body = deps.mask(input.body(platform.maxBodyLength, platform.changeRequestNoun));
  const fields = {
    routeId: route.route.id,
    repoUrl: repo.webUrl,
    branch: input.head,
    baseBranch: input.base,
    pushedHead: input.pushedHead,
    sourceSha: input.sourceSha,
    state: 'open' as const,
    handsOff: false,
    reported: false,
  };
  const pending = open ? undefined : input.pending;
  let existing = open?.request;
  let recordId = open?.record.id ?? pending?.id;
  // A pull request DAG opened in an earlier run that stopped before recording it.
  let unrecorded = false;
  if (!existing) {
    existing = await platform.findOpenChangeRequest(repo, input.head, input.base);
    if (existing && parsePromotionMetadata(existing.body)?.route !== route.route.id) {
      return {
        outcome: {
          status: 'refused',
          reason: `${platform.changeRequestNoun} ${platform.changeRequestRef(existing.number)} from ${input.head} into ${input.base} is already open (not DAG's): ${existing.url}`,
        },
      };
    }
    if (existing) {
      const known = await deps.store.findPromotionByPullRequest(repo.webUrl, existing.number);
      if (known && pending && known.id !== pending.id) {
        // The pull request has a record of its own (reopened by a person): that one is open.
        await deps.store.savePromotion({ ...pending, state: 'closed' });
      }
      unrecorded = !known && pending !== undefined;
      recordId = known?.id ?? pending?.id;
    }
  }
  if (existing) {
    const updated = await platform.updateChangeRequest(repo, existing.number, {
      title: title(route, input.sourceSha),
      body,
    });
    await deps.store.savePromotion({
      ...fields,
      id: recordId,
      number: updated.number,
      url: updated.url,
    });
    return {
      outcome: {
        status: unrecorded ? 'opened' : 'updated',
        number: updated.number,
        url: updated.url,
      },
      request: updated,
    };
  }
  const created = await platform.createChangeRequest(repo, {
    head: input.head,
    base: input.base,
    title: title(route, input.sourceSha),
    body,
    labels: PROMOTION_LABELS,
  });
  await deps.store.savePromotion({
    ...fields,
    id: recordId,
    number: created.number,
    url: created.url,
  });
  return {
    outcome: { status: 'opened', number: created.number, url: created.url },
    request: created,
  };
}

/** The comment DAG closes its promotion pull request with: why nothing is left to promote. */
export function closeNote(reason: string): string {
  return `**DAG** closes this promotion: ${escapeMarkdown(reason)}.`;
}

/** The comment on a promotion pull request DAG stops rewriting: a person pushed to `head`. */
export function handsOffNote(head: string, noun: RequestNoun = 'pull request'): string {
  return (
    `**DAG** found commits on ${code(head)} that it did not push, so it no longer rewrites this branch. ` +
    `Merge or close this ${noun} by hand; the next promotion after that opens a new one.`
  );
}

/**
 * Closes DAG's open promotion (and removes its branch) when nothing is left to promote; a
 * pending one (a branch pushed, no pull request recorded) is closed the same way.
 */
export async function closeNothingLeft(
  host: ChangeRequestHost,
  open: { record: PromotionPullRequest } | undefined,
  route: Route,
  reason: string,
  deps: PromoteDeps,
  pending?: PromotionRecord | undefined,
): Promise<PromotionOutcome> {
  if (!open) {
    if (pending) {
      const closed = await deps.store.savePromotion({ ...pending, state: 'closed' });
      if (route.route.strategy === 'folder') await deleteDagBranch(route, closed, deps);
    }
    return { status: 'nothing', reason };
  }
  const { record } = open;
  await host.platform.closeChangeRequest(
    host.repo,
    record.number,
    fitComment(closeNote(reason), host.platform.provider),
  );
  const closed = await deps.store.savePromotion({ ...record, state: 'closed' });
  if (route.route.strategy === 'folder') await deleteDagBranch(route, closed, deps);
  return { status: 'nothing', reason, closed: { number: record.number, url: record.url } };
}
