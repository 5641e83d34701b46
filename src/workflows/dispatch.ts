import { normalizeGithubPush, normalizeGitlabPush } from '../events/push.ts';
import type { Normalized, PushEvent } from '../events/types.ts';
import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import type { ConfigStore } from '../store/types.ts';
import { planDeploys, type DeployRequest } from './deploy-plan.ts';

export type WorkflowDeps = {
  log: Logger;
  store: ConfigStore;
  enqueueDeploy: (request: DeployRequest) => Promise<{ status: 'queued' | 'duplicate' }>;
};
export type Workflow = (delivery: Delivery, deps: WorkflowDeps) => Promise<void>;

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
 * Workflows by provider and event. A delivery whose event has no workflow completes with a
 * debug line: it was verified and recorded, and there is nothing DAG does with it.
 */
const WORKFLOWS: Partial<Record<`${Delivery['provider']}:${string}`, Workflow>> = {
  'github:push': onPush(normalizeGithubPush),
  'gitlab:Push Hook': onPush(normalizeGitlabPush),
};

export async function handleDelivery(delivery: Delivery, deps: WorkflowDeps): Promise<void> {
  const workflow = WORKFLOWS[`${delivery.provider}:${delivery.event}`];
  if (!workflow) {
    deps.log.debug(
      { provider: delivery.provider, event: delivery.event, deliveryId: delivery.deliveryId },
      'no workflow for this event',
    );
    return;
  }
  await workflow(delivery, deps);
}
