import type { Delivery } from '../jobs/queue.ts';
import type { Logger } from '../log.ts';
import type { ConfigStore } from '../store/types.ts';

export type WorkflowDeps = { log: Logger; store: ConfigStore };
export type Workflow = (delivery: Delivery, deps: WorkflowDeps) => Promise<void>;

/**
 * Workflows by provider and event. A delivery whose event has no workflow completes with a
 * debug line: it was verified and recorded, and there is nothing DAG does with it.
 */
const WORKFLOWS: Partial<Record<`${Delivery['provider']}:${string}`, Workflow>> = {};

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
