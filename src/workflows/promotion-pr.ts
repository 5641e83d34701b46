// The life of a route's promotion pull request: find DAG's open one (recording a merge or a
// close since the last look), open or update it, close it when nothing is left, and report the
// target's deploy after the merge.

import { ConfigError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { ChangeRequest } from '../platform/types.ts';
import type { Environment, PromotionRecord } from '../store/types.ts';
import { iacCommitUrl } from '../util/commit-url.ts';
import { escapeMarkdown, fitComment } from './markdown.ts';
import {
  PROMOTION_LABELS,
  parsePromotionMetadata,
  type PromotionMetadata,
} from './promotion-body.ts';
import type { ChangeRequestHost, PromoteDeps, PromotionOutcome, Route } from './promotion-types.ts';

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
 * environment on the promoted commit, recorded like any deploy. (A branch promotion in the app
 * repository needs none: its merge is a push, which deploys.)
 */
async function reportMerge(
  route: Route,
  record: PromotionRecord,
  request: ChangeRequest,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<PromotionRecord> {
  const { store, appPlatform } = deps;
  const sha = record.sourceSha;
  if (route.route.strategy !== 'app-branch' && sha) {
    const { iac } = await iacOf(store, route.to);
    const merge = request.mergeCommitSha;
    let deploy = await store.beginDeploy({
      environmentId: route.to.id,
      sha,
      ref: route.to.branch,
      pusher: `promotion #${record.number}`,
    });
    if (deploy.state !== 'success') {
      const id =
        deploy.providerDeploymentId ??
        (await appPlatform.createDeployment(appRepo, {
          sha,
          ref: route.to.branch,
          environment: route.to.name,
          description: `DAG promotes ${sha.slice(0, 7)} from ${route.from.name}`,
        }));
      deploy = await store.updateDeploy(deploy.id, { providerDeploymentId: id });
      await appPlatform.setDeploymentState(
        appRepo,
        { id, sha, ref: route.to.branch, environment: route.to.name },
        {
          state: 'success',
          description: merge
            ? `Promoted from ${route.from.name}: ${iac.name} merge ${merge.slice(0, 7)} (#${record.number})`
            : `Promoted from ${route.from.name} by #${record.number}`,
          logUrl: merge ? iacCommitUrl(iac, merge, deps.forges) : request.url,
        },
      );
      await store.updateDeploy(deploy.id, { state: 'success', iacCommit: merge });
    }
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
 * DAG last looked is recorded (a merge reported, DAG's branch removed) and no longer open.
 */
export async function openPromotion(
  route: Route,
  host: ChangeRequestHost,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<{ record: PromotionRecord; request: ChangeRequest } | undefined> {
  let record = await deps.store.currentPromotion(route.route.id);
  if (!record) return undefined;
  if (record.state === 'open') {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    if (request.state === 'open') return { record, request };
    if (request.state === 'merged') {
      await reportMerge(route, record, request, deps, appRepo);
      return undefined;
    }
    record = await deps.store.savePromotion({ ...record, state: 'closed' });
    if (route.route.strategy === 'folder') await deleteDagBranch(route, record, deps);
    return undefined;
  }
  if (record.state === 'merged' && !record.reported) {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    await reportMerge(route, record, request, deps, appRepo);
  }
  return undefined;
}

/**
 * Opens DAG's promotion pull request, or updates the one already open (found by its record,
 * else by its branches and DAG's metadata in its body). Someone else's pull request between the
 * same branches is answered with, never touched.
 */
export async function publish(
  host: ChangeRequestHost,
  open: { record: PromotionRecord; request: ChangeRequest } | undefined,
  route: Route,
  input: {
    head: string;
    base: string;
    body: (maxChars: number) => string;
    pushedHead: string | null;
    sourceSha: string | null;
  },
  deps: PromoteDeps,
): Promise<{ outcome: PromotionOutcome; request?: ChangeRequest }> {
  const { platform, repo } = host;
  const body = deps.mask(input.body(platform.maxBodyLength));
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
  let existing = open?.request;
  let recordId = open?.record.id;
  if (!existing) {
    existing = await platform.findOpenChangeRequest(repo, input.head, input.base);
    if (existing && parsePromotionMetadata(existing.body)?.route !== route.route.id) {
      return {
        outcome: {
          status: 'refused',
          reason: `pull request #${existing.number} from ${input.head} into ${input.base} is already open (not DAG's): ${existing.url}`,
        },
      };
    }
    if (existing) {
      recordId = (await deps.store.findPromotionByPullRequest(repo.webUrl, existing.number))?.id;
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
      outcome: { status: 'updated', number: updated.number, url: updated.url },
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
  await deps.store.savePromotion({ ...fields, number: created.number, url: created.url });
  return {
    outcome: { status: 'opened', number: created.number, url: created.url },
    request: created,
  };
}

export async function closeNothingLeft(
  host: ChangeRequestHost,
  open: { record: PromotionRecord } | undefined,
  route: Route,
  reason: string,
  deps: PromoteDeps,
): Promise<PromotionOutcome> {
  if (!open) return { status: 'nothing', reason };
  const { record } = open;
  await host.platform.closeChangeRequest(
    host.repo,
    record.number,
    fitComment(`**DAG** closes this promotion: ${escapeMarkdown(reason)}.`, host.platform.provider),
  );
  const closed = await deps.store.savePromotion({ ...record, state: 'closed' });
  if (route.route.strategy === 'folder') await deleteDagBranch(route, closed, deps);
  return { status: 'nothing', reason, closed: { number: record.number, url: record.url } };
}
