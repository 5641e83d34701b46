// The deployment card: one sticky comment (topic `deployments`) on the change request that
// shipped an app commit, following that commit across the app's environments (committed to the
// IAC repository, rolling out, healthy or failed, or waiting in an open promotion), edited in
// place as it moves. The request is the one whose merge made the commit (asked of the provider
// once per commit); a commit no request shipped (a direct push) gets no card. A production
// reached through a promotion request in the IAC repository shows on the same card: the
// promotion's merge records a deploy of the same app commit.

import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type { App, Environment, Iac } from '../model.ts';
import type { Platform, PullRequests, RequestNames } from '../platform/types.ts';
import type { SqlDeploymentCards } from '../store/deployment-cards.ts';
import type { ConfigStore, DeployRecord, PromotionStore } from '../store/types.ts';
import { iacCommitUrl, type ForgeUrls } from '../util/commit-url.ts';
import { escapeMarkdown, fitComment } from './markdown.ts';

export const CARD_TOPIC = 'deployments';

/** What asks for a card: an app commit deployed from a branch of its repository. */
export type CardRequest = { appId: number; sha: string; branch: string; repo: RepoRef };

export type CardDeps = {
  config: Pick<ConfigStore, 'getApp' | 'listEnvironments' | 'getIac'> &
    Pick<PromotionStore, 'listRoutes' | 'currentPromotion'>;
  cards: SqlDeploymentCards;
  platform: Platform & PullRequests;
  log: Logger;
  forges?: ForgeUrls | undefined;
};

export type CardStage =
  | { kind: 'none' }
  | { kind: 'promotion'; number: number; url: string }
  | { kind: 'deploying' }
  | { kind: 'deploy-failed'; reason: string }
  | { kind: 'committed' }
  | { kind: 'rolling-out' }
  | { kind: 'healthy' }
  | { kind: 'rollout-failed'; reason: string }
  | { kind: 'superseded'; reason: string };

export type CardRow = {
  environment: string;
  stage: CardStage;
  /** The IAC commit holding the release, and its page. */
  iacCommit: { sha: string; url: string | undefined } | null;
  since: Date | null;
};

export type CardModel = { sha: string; number: number; rows: CardRow[] };

/** Where a deploy of the commit stands. */
function stageOf(deploy: DeployRecord): CardStage {
  if (deploy.state === 'queued' || deploy.state === 'in_progress') return { kind: 'deploying' };
  if (deploy.state === 'failure') {
    return { kind: 'deploy-failed', reason: deploy.error ?? 'the deploy failed' };
  }
  switch (deploy.rollout) {
    case null:
      return { kind: 'committed' };
    case 'pending':
      return { kind: 'rolling-out' };
    case 'healthy':
      return { kind: 'healthy' };
    case 'failed':
      return { kind: 'rollout-failed', reason: deploy.rolloutReason ?? 'the rollout failed' };
    case 'superseded':
      return { kind: 'superseded', reason: deploy.rolloutReason ?? 'a newer commit came first' };
  }
}

const minute = (date: Date) => `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

function stageText(stage: CardStage, names: RequestNames): string {
  switch (stage.kind) {
    case 'none':
      return 'not deployed';
    case 'promotion':
      return `promotion open: [${names.changeRequestRef(stage.number)}](${stage.url})`;
    case 'deploying':
      return 'committing to the IAC repository';
    case 'deploy-failed':
      return `**deploy failed**: ${escapeMarkdown(stage.reason)}`;
    case 'committed':
      return 'committed to the IAC repository';
    case 'rolling-out':
      return 'committed; rolling out';
    case 'healthy':
      return 'healthy';
    case 'rollout-failed':
      return `**rollout failed**: ${escapeMarkdown(stage.reason)}`;
    case 'superseded':
      return `superseded: ${escapeMarkdown(stage.reason)}`;
  }
}

/** The card's text (golden: test/golden/comments/deployment-card-*.md). */
export function renderCard(
  model: CardModel,
  names: RequestNames & { changeRequestNoun: string },
): string {
  const lines = [
    `**DAG** — where this ${names.changeRequestNoun} runs: \`${model.sha.slice(0, 7)}\`, the commit its merge made.`,
    '',
    '| Environment | Stage | IAC commit | Since |',
    '| --- | --- | --- | --- |',
    ...model.rows.map((row) => {
      const commit = row.iacCommit
        ? row.iacCommit.url
          ? `[\`${row.iacCommit.sha.slice(0, 7)}\`](${row.iacCommit.url})`
          : `\`${row.iacCommit.sha.slice(0, 7)}\``
        : '';
      return `| ${escapeMarkdown(row.environment)} | ${stageText(row.stage, names)} | ${commit} | ${row.since ? minute(row.since) : ''} |`;
    }),
    '',
    '_DAG edits this card as the change moves: committed to the IAC repository, rolling out, then healthy or failed._',
  ];
  return lines.join('\n');
}

/** The rows of the app's environments for the commit, in the environments' order. */
async function rowsOf(app: App, sha: string, deps: CardDeps): Promise<CardRow[]> {
  const { config } = deps;
  const environments = (await config.listEnvironments()).filter((e) => e.appId === app.id);
  const deploys = new Map(
    (await deps.cards.deploysOf(app.id, sha)).map((d) => [d.environmentId, d]),
  );
  const routes = (await config.listRoutes()).filter((r) => r.appId === app.id);
  const iacs = new Map<number, Iac | undefined>();
  const iacOf = async (env: Environment) => {
    if (!iacs.has(env.iacId)) iacs.set(env.iacId, await config.getIac(env.iacId));
    return iacs.get(env.iacId);
  };
  const rows: CardRow[] = [];
  for (const env of environments.toSorted((a, b) => a.id - b.id)) {
    const deploy = deploys.get(env.id);
    if (deploy) {
      const iac = await iacOf(env);
      rows.push({
        environment: env.name,
        stage: stageOf(deploy),
        iacCommit:
          deploy.iacCommit && iac
            ? { sha: deploy.iacCommit, url: iacCommitUrl(iac, deploy.iacCommit, deps.forges) }
            : null,
        since: deploy.rolloutAt ?? deploy.updatedAt,
      });
      continue;
    }
    let stage: CardStage = { kind: 'none' };
    for (const route of routes.filter((r) => r.toEnvironmentId === env.id)) {
      const promotion = await config.currentPromotion(route.id);
      if (
        promotion?.state === 'open' &&
        promotion.sourceSha === sha &&
        promotion.number !== null &&
        promotion.url !== null
      ) {
        stage = { kind: 'promotion', number: promotion.number, url: promotion.url };
      }
    }
    rows.push({ environment: env.name, stage, iacCommit: null, since: null });
  }
  return rows;
}

/**
 * Brings the card of the request that shipped `request.sha` up to date; the request's number,
 * or undefined when no request shipped the commit (or the provider cannot tell).
 */
export async function updateDeploymentCard(
  request: CardRequest,
  deps: CardDeps,
): Promise<number | undefined> {
  const { platform, cards } = deps;
  const app = await deps.config.getApp(request.appId);
  if (!app || !platform.shippedBy) return undefined;
  let number = await cards.shippedBy(app.id, request.sha);
  if (number === undefined) {
    number = (await platform.shippedBy(request.repo, request.sha, request.branch)) ?? null;
    await cards.remember(app.id, request.sha, number);
  }
  if (number === null) return undefined;
  const model: CardModel = {
    sha: request.sha,
    number,
    rows: await rowsOf(app, request.sha, deps),
  };
  await platform.upsertComments(request.repo, number, CARD_TOPIC, [
    fitComment(renderCard(model, platform), request.repo.provider),
  ]);
  deps.log.info({ number, sha: request.sha.slice(0, 7) }, 'deployment card updated');
  return number;
}
