import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Metrics, type JobStats } from '../../src/metrics/registry.ts';

/** The value of one series in the text exposition, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const QUEUES = ['dag.events', 'dag.deploy'];
const STATES = ['created', 'retry', 'active', 'completed', 'cancelled', 'failed'];

describe('Metrics', () => {
  it('keeps a registry per instance, apart from prom-client global one', async () => {
    const a = new Metrics({ defaultMetrics: false });
    const b = new Metrics({ defaultMetrics: false });
    a.webhook('gitlab', 'Push Hook', 'queued');
    a.webhook('gitlab', 'Push Hook', 'queued');
    b.webhook('github', 'push', 'duplicate');
    const textA = await a.render();
    const textB = await b.render();
    expect(
      sample(
        textA,
        'dag_webhook_deliveries_total{provider="gitlab",event="Push Hook",outcome="queued"}',
      ),
    ).toBe(2);
    expect(textA).not.toContain('outcome="duplicate"');
    expect(
      sample(
        textB,
        'dag_webhook_deliveries_total{provider="github",event="push",outcome="duplicate"}',
      ),
    ).toBe(1);
    expect(await globalRegistry.metrics()).not.toContain('dag_');
  });

  it("includes Node's process metrics unless told not to", async () => {
    expect(await new Metrics().render()).toContain('process_cpu_user_seconds_total');
    expect(await new Metrics({ defaultMetrics: false }).render()).not.toContain('process_');
  });

  it('bounds the webhook event label to the events DAG handles', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.webhook('github', 'push', 'queued');
    m.webhook('github', 'x'.repeat(500), 'rejected_signature');
    m.webhook('gitlab', 'Whatever Hook', 'ignored');
    const text = await m.render();
    expect(text).toContain('event="push"');
    expect(text).toContain('{provider="github",event="other",outcome="rejected_signature"} 1');
    expect(text).toContain('{provider="gitlab",event="other",outcome="ignored"} 1');
    expect(text).not.toContain('xxxx');
  });

  it('reads the job gauges from the job table once per scrape, every queue and state', async () => {
    const m = new Metrics({ defaultMetrics: false });
    let reads = 0;
    const stats: JobStats = {
      counts: [
        { queue: 'dag.deploy', state: 'created', count: 3 },
        { queue: 'dag.deploy', state: 'retry', count: 2 },
        { queue: 'dag.deploy', state: 'completed', count: 40 },
        { queue: 'dag.unknown', state: 'created', count: 9 },
      ],
      oldestWaiting: [{ queue: 'dag.deploy', createdOn: new Date(Date.now() - 90_000) }],
    };
    m.watchJobs({
      queues: QUEUES,
      states: STATES,
      waiting: ['created', 'retry'],
      read: async () => {
        reads += 1;
        return stats;
      },
    });
    const text = await m.render();
    expect(reads).toBe(1);
    for (const queue of QUEUES) {
      for (const state of STATES) {
        expect(sample(text, `dag_jobs{queue="${queue}",state="${state}"}`)).toBeTypeOf('number');
      }
    }
    expect(sample(text, 'dag_jobs{queue="dag.deploy",state="completed"}')).toBe(40);
    expect(sample(text, 'dag_jobs{queue="dag.events",state="created"}')).toBe(0);
    expect(text).not.toContain('dag.unknown');
    expect(sample(text, 'dag_queue_depth{queue="dag.deploy"}')).toBe(5);
    expect(sample(text, 'dag_queue_depth{queue="dag.events"}')).toBe(0);
    const age = sample(text, 'dag_queue_oldest_waiting_seconds{queue="dag.deploy"}') ?? 0;
    expect(age).toBeGreaterThanOrEqual(90);
    expect(age).toBeLessThan(120);
    expect(sample(text, 'dag_queue_oldest_waiting_seconds{queue="dag.events"}')).toBe(0);
    await m.render();
    expect(reads).toBe(2);
  });

  it('still answers when the job table cannot be read, without the job gauges', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const errors: unknown[] = [];
    m.watchJobs({
      queues: QUEUES,
      states: STATES,
      waiting: ['created', 'retry'],
      read: () => Promise.reject(new Error('database unreachable')),
      onError: (error) => errors.push(error),
    });
    m.gitPushRetry();
    const text = await m.render();
    expect(text).toContain('dag_git_push_retries_total 1');
    expect(text).not.toMatch(/^dag_jobs\{/m);
    expect(text).not.toMatch(/^dag_queue_depth\{/m);
    expect(errors).toHaveLength(1);
  });

  it('counts deploys, and times those whose webhook receive time is known', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.deploy('staging', 'success', 12.5);
    m.deploy('staging', 'failure', undefined);
    const text = await m.render();
    expect(sample(text, 'dag_deploys_total{environment="staging",outcome="success"}')).toBe(1);
    expect(sample(text, 'dag_deploys_total{environment="staging",outcome="failure"}')).toBe(1);
    expect(
      sample(text, 'dag_deploy_duration_seconds_count{environment="staging",outcome="success"}'),
    ).toBe(1);
    expect(
      sample(text, 'dag_deploy_duration_seconds_sum{environment="staging",outcome="success"}'),
    ).toBe(12.5);
    expect(text).not.toContain(
      'dag_deploy_duration_seconds_count{environment="staging",outcome="failure"}',
    );
  });

  it('counts provider requests by route and status, and keeps the last rate limit heard', async () => {
    const m = new Metrics({ defaultMetrics: false });
    const base = { provider: 'github', host: 'api.github.com', route: 'GET /user' } as const;
    m.providerRequest({
      ...base,
      status: 200,
      seconds: 0.2,
      rateLimit: { resource: 'core', remaining: 10 },
    });
    m.providerRequest({ ...base, status: 'error', seconds: 1 });
    m.providerRequest({
      ...base,
      status: 200,
      seconds: 0.1,
      rateLimit: { resource: 'core', remaining: 8 },
    });
    const text = await m.render();
    const labels = 'provider="github",host="api.github.com",route="GET /user"';
    expect(sample(text, `dag_provider_requests_total{${labels},status="200"}`)).toBe(2);
    expect(sample(text, `dag_provider_requests_total{${labels},status="error"}`)).toBe(1);
    expect(sample(text, `dag_provider_request_duration_seconds_count{${labels}}`)).toBe(3);
    expect(
      sample(
        text,
        'dag_provider_ratelimit_remaining{provider="github",host="api.github.com",resource="core"}',
      ),
    ).toBe(8);
  });
});
