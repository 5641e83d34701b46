import type { GithubEvent, GitlabEvent } from '../events/handled.ts';
import {
  normalizeGithubComment,
  normalizeGithubMerge,
  normalizeGithubPullRequest,
  normalizeGithubPullRequestState,
  normalizeGitlabMerge,
  normalizeGitlabMergeRequestState,
} from '../events/pull-request.ts';
import {
  isGitlabMerge,
  normalizeGitlabMergeRequest,
  normalizeGitlabNote,
} from '../events/gitlab-merge-request.ts';
import { normalizeGithubPush, normalizeGitlabPush } from '../events/push.ts';
import type {
  CommentEvent,
  MergedPullRequestEvent,
  Normalized,
  PullRequestEvent,
  PullRequestStateEvent,
  PushEvent,
  RepoRef,
} from '../events/types.ts';
import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequests } from '../platform/types.ts';
import type { FixProposalPullRequests } from '../store/fix-proposals.ts';
import type { ConfigStore, PromotionStore } from '../store/types.ts';
import { repoKey } from '../util/repo-url.ts';
import { planDeploys, type DeployRequest } from './deploy-plan.ts';
import { markDiffOutdated } from './diff-outdated.ts';
import type { DiffRequest } from './diff-request.ts';
import { followFixPullRequest, type FixStateDeps } from './fix-state.ts';
import { handleCommentCommands } from './pr-command.ts';
import type { PromotionRequest } from './promote.ts';
import { parsePromotionMetadata } from './promotion-body.ts';
import type { EnvironmentStatus } from '../monitor/status.ts';

type Queued = Promise<{ status: 'queued' | 'duplicate' }>;

export type WorkflowDeps = {
  log: Logger;
  store: ConfigStore & PromotionStore;
  /** `current`: a request's environment runs its commit already; nothing was queued. */
  enqueueDeploy: (
    request: DeployRequest,
  ) => Promise<{ status: 'queued' | 'duplicate' | 'current' }>;
  enqueueDiff: (request: DiffRequest) => Queued;
  enqueuePromotion: (request: PromotionRequest) => Queued;
  /** The provider of an event's repository: workflows here need its pull-request side. */
  platformFor: (repo: RepoRef) => Promise<Platform & PullRequests>;
  /** Fix proposals, moved as their pull request is merged, closed or reopened. */
  proposals: FixProposalPullRequests;
  /** What cluster monitoring last saw of an environment (/status). */
  status: (environmentId: number) => Promise<EnvironmentStatus>;
  onFixOutcome?: FixStateDeps['onOutcome'];
};

/** A new comment (GitHub) or note (GitLab) and its commands: one workflow for both providers. */
async function onComment(normalized: Normalized<CommentEvent>, deps: WorkflowDeps): Promise<void> {
  if ('ignored' in normalized) return;
  const event = normalized.event;
  const platform = await deps.platformFor(event.repo);
  await handleCommentCommands(event, {
    store: deps.store,
    platform,
    log: deps.log,
    status: deps.status,
    deploy: deps.enqueueDeploy,
    diff: async ({ app, pr, environments, commentId }) => {
      await deps.enqueueDiff({
        repo: event.repo,
        appId: app.id,
        pr,
        environmentIds: environments.map((e) => e.id),
        origin: 'command',
        commentId,
      });
    },
    promote: async ({ route, commentId, author }) => {
      await deps.enqueuePromotion({
        routeId: route.id,
        appRepo: event.repo,
        origin: {
          kind: 'command',
          number: event.number,
          thread: event.isPullRequest ? 'request' : 'issue',
          commentId,
          author,
        },
      });
    },
  });
}

/**
 * A merged pull request that is one of DAG's promotions (its metadata, checked against DAG's
 * record of that pull request and the route's app): report the target environment's deploy.
 */
const onMerge =
  (normalize: (payload: unknown) => Normalized<MergedPullRequestEvent>): Workflow =>
  async (delivery, deps) => {
    const normalized = normalize(delivery.payload);
    if ('ignored' in normalized) return;
    const event = normalized.event;
    const metadata = parsePromotionMetadata(event.body);
    if (!metadata) return;
    const record = await deps.store.findPromotionByPullRequest(event.repo.webUrl, event.number);
    const route = record ? await deps.store.getRoute(record.routeId) : undefined;
    const app = route ? await deps.store.getApp(route.appId) : undefined;
    if (
      !record ||
      !app ||
      record.routeId !== metadata.route ||
      repoKey(app.repoUrl) !== repoKey(metadata.appRepo.webUrl)
    ) {
      deps.log.warn(
        { repo: event.repo.fullName, number: event.number },
        'merged pull request carries promotion metadata DAG has no record of: ignored',
      );
      return;
    }
    const { status } = await deps.enqueuePromotion({
      routeId: record.routeId,
      appRepo: { ...metadata.appRepo, urls: [metadata.appRepo.webUrl] },
      origin: { kind: 'merged', repoUrl: event.repo.webUrl, number: event.number },
    });
    deps.log.info({ route: record.routeId, number: event.number, status }, 'promotion merged');
  };

/** A fix pull request merged, closed or reopened: its proposals follow (src/workflows/fix-state.ts). */
const onFixState =
  (normalize: (payload: unknown) => Normalized<PullRequestStateEvent>): Workflow =>
  async (delivery, deps) => {
    const normalized = normalize(delivery.payload);
    if ('ignored' in normalized) return;
    await followFixPullRequest(normalized.event, {
      proposals: deps.proposals,
      store: deps.store,
      log: deps.log,
      onOutcome: deps.onFixOutcome,
    });
  };

/**
 * Opened, reopened or pushed to: preview the environments merging would deploy (unless the app
 * turned automatic previews off). Whatever it says, DAG's diff comment of an older head is
 * marked outdated at once. One workflow for pull requests and merge requests.
 */
async function onPullRequest(
  normalized: Normalized<PullRequestEvent>,
  deps: WorkflowDeps,
): Promise<void> {
  if ('ignored' in normalized) return;
  const event = normalized.event;
  const app = await deps.store.findAppByRepoUrls(event.repo.urls);
  if (!app) return;
  const envs = app.autoDiff
    ? (await deps.store.listEnvironments(String(app.id))).filter((e) => e.branch === event.baseRef)
    : [];
  const coming = envs.length > 0;
  // A new pull request has no comment of DAG's yet.
  if (event.action !== 'opened') {
    const platform = await deps.platformFor(event.repo);
    try {
      await markDiffOutdated(platform, event.repo, event.number, event.headSha, coming);
    } catch (error) {
      // The preview on its way replaces the comment anyway: do not hold it back.
      if (!coming) throw error;
      deps.log.warn({ err: error, pr: event.number }, 'could not mark the diff comment outdated');
    }
  }
  if (!coming) return;
  await deps.enqueueDiff({
    repo: event.repo,
    appId: app.id,
    pr: {
      number: event.number,
      headSha: event.headSha,
      headRef: event.headRef,
      baseRef: event.baseRef,
      fork: event.fork,
      open: true,
    },
    environmentIds: envs.map((e) => e.id),
    origin: 'auto',
  });
}
export type Workflow = (delivery: Delivery, deps: WorkflowDeps) => Promise<void>;

/**
 * A closed pull request is a possible promotion merge; any other action a possible preview. A
 * closed or reopened one may also end or revive a fix pull request (its proposals' state).
 */
const onGithubPullRequest: Workflow = async (delivery, deps) => {
  const action = (delivery.payload as { action?: unknown }).action;
  if (action === 'closed' || action === 'reopened') {
    await onFixState(normalizeGithubPullRequestState)(delivery, deps);
  }
  if (action === 'closed') await onMerge(normalizeGithubMerge)(delivery, deps);
  else await onPullRequest(normalizeGithubPullRequest(delivery.payload), deps);
};

/**
 * A merged merge request is a possible promotion merge; any other action a possible preview;
 * a merge, close or reopen may also move a fix merge request's proposals.
 */
const onGitlabMergeRequest: Workflow = async (delivery, deps) => {
  await onFixState(normalizeGitlabMergeRequestState)(delivery, deps);
  if (isGitlabMerge(delivery.payload)) await onMerge(normalizeGitlabMerge)(delivery, deps);
  else await onPullRequest(normalizeGitlabMergeRequest(delivery.payload), deps);
};

function onPush(normalize: (payload: unknown) => Normalized<PushEvent>): Workflow {
  return async (delivery, deps) => {
    const normalized = normalize(delivery.payload);
    if ('ignored' in normalized) {
      deps.log.debug({ reason: normalized.ignored }, 'push ignored');
      return;
    }
    const push = normalized.event;
    const plan = await planDeploys(push, deps.store);
    if ('ignored' in plan) {
      deps.log.debug({ reason: plan.ignored, repo: push.repo.fullName }, 'push ignored');
      return;
    }
    for (const request of plan.requests) {
      const { status } = await deps.enqueueDeploy(request);
      deps.log.info(
        { app: plan.app.name, environmentId: request.environmentId, sha: push.sha, status },
        'deploy queued',
      );
    }
  };
}

/**
 * Workflows by provider and event: one for each event of src/events/handled.ts, and none for
 * any other (the type says so). A delivery whose event has no workflow (queued before an
 * upgrade dropped its event) completes with a debug line.
 */
const WORKFLOWS: Record<`github:${GithubEvent}` | `gitlab:${GitlabEvent}`, Workflow> = {
  'github:push': onPush(normalizeGithubPush),
  'github:issue_comment': (delivery, deps) =>
    onComment(normalizeGithubComment(delivery.payload), deps),
  'github:pull_request': onGithubPullRequest,
  'gitlab:Push Hook': onPush(normalizeGitlabPush),
  'gitlab:Merge Request Hook': onGitlabMergeRequest,
  'gitlab:Note Hook': (delivery, deps) => onComment(normalizeGitlabNote(delivery.payload), deps),
};

export async function handleDelivery(delivery: Delivery, deps: WorkflowDeps): Promise<void> {
  const workflows: Partial<Record<string, Workflow>> = WORKFLOWS;
  const workflow = workflows[`${delivery.provider}:${delivery.event}`];
  if (!workflow) {
    deps.log.debug(
      { provider: delivery.provider, event: delivery.event },
      'no workflow for this event',
    );
    return;
  }
  await workflow(delivery, deps);
}
