import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitLabContract } from '../helpers/gitlab-contract.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  BOT_TOKEN,
  deliverGitlab,
  GITLAB,
  GITLAB_PUSH_SHA as SHA,
  gitlabPush as payload,
  startGitlabHarness,
  stopGitlabHarness,
} from './gitlab.ts';
import type { Harness } from './harness.ts';

const METRICS_TOKEN = 'scrape-token-9c1d';
const DELIVERY = '7b0e8f6a-3c1d-4e2f-9a8b-5c6d7e8f9a0b';
let h: Harness;
/** Every request DAG sends GitLab is checked against GitLab's documented contract. */
const contract = new GitLabContract();

function deliver(body: object, headers: Record<string, string> = {}) {
  return deliverGitlab(h, body, DELIVERY, headers);
}

async function scrape(): Promise<string> {
  const res = await fetch(`${h.dag.url}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series, or undefined when the scrape does not have it. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  h = await startGitlabHarness({ env: { DAG_METRICS_TOKEN: METRICS_TOKEN }, helmType: 'flux' });
});

afterAll(() => stopGitlabHarness(h, contract));

describe('/metrics of a running DAG', () => {
  it('asks for the bearer token DAG_METRICS_TOKEN sets', async () => {
    expect((await fetch(`${h.dag.url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${h.dag.url}/metrics`, { headers: { authorization: 'Bearer x' } });
    expect(wrong.status).toBe(401);
  });

  it('shows a push deployed: webhook, jobs, deploy, provider requests, git', async () => {
    const api = contract
      .nock(GITLAB, { reqheaders: { 'private-token': BOT_TOKEN } })
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues.yaml/raw')
      .query({ ref: SHA })
      .reply(200, 'image:\n  repository: registry.example.com/mike/diaspora\n', {
        'content-type': 'text/plain',
        'ratelimit-remaining': '1990',
      })
      .get('/api/v4/projects/15/repository/files/deploy%2Fvalues-production.yaml/raw')
      .query({ ref: SHA })
      .reply(404, { message: '404 File Not Found' })
      .post('/api/v4/projects/15/deployments')
      .reply(201, { id: 77 })
      // The final status, and up to two before it (reports coalesce).
      .post(`/api/v4/projects/15/statuses/${SHA}`)
      .reply(201, {})
      .post(`/api/v4/projects/15/statuses/${SHA}`)
      .times(2)
      .optionally()
      .reply(201, {})
      // Created running, the deployment is moved once: to its end.
      .put('/api/v4/projects/15/deployments/77')
      .reply(200, { id: 77 });

    expect((await deliver(payload)).status).toBe(202);
    await waitFor(() => api.isDone(), { what: 'the GitLab deploy to finish' });
    expect(await h.git.log('iac', 'main')).toContain(
      `deploy(diaspora): production ${SHA.slice(0, 7)}`,
    );
    // The deploy job ends (and is counted) just after its last request.
    let text = '';
    await waitFor(
      async () => {
        text = await scrape();
        return value(text, 'dag_job_runs_total{queue="dag.deploy",outcome="completed"}') === 1;
      },
      { what: 'the deploy job to complete' },
    );

    const webhook = 'dag_webhook_deliveries_total{provider="gitlab",event="Push Hook"';
    expect(value(text, `${webhook},outcome="queued"}`)).toBe(1);
    expect(value(text, 'dag_job_runs_total{queue="dag.events",outcome="completed"}')).toBe(1);
    expect(text).not.toMatch(/outcome="(retried|failed)"/);

    expect(value(text, 'dag_deploys_total{environment="production",outcome="success"}')).toBe(1);
    const duration =
      'dag_deploy_duration_seconds_{part}{environment="production",outcome="success"}';
    expect(value(text, duration.replace('{part}', 'count'))).toBe(1);
    const seconds = value(text, duration.replace('{part}', 'sum')) ?? -1;
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(60);

    const gitlab = (route: string, status: number) =>
      value(
        text,
        `dag_provider_requests_total{provider="gitlab",host="gitlab.example.com",route="${route}",status="${status}"}`,
      );
    expect(gitlab('GET /projects/{id}/repository/files/{file_path}/raw', 200)).toBe(1);
    expect(gitlab('GET /projects/{id}/repository/files/{file_path}/raw', 404)).toBe(1);
    expect(gitlab('POST /projects/{id}/deployments', 201)).toBe(1);
    // The final status, and the ones before it the report got to (reports coalesce).
    const statuses = gitlab('POST /projects/{id}/statuses/{sha}', 201) ?? 0;
    expect(statuses).toBeGreaterThanOrEqual(1);
    expect(statuses).toBeLessThanOrEqual(3);
    expect(gitlab('PUT /projects/{id}/deployments/{deployment_id}', 200)).toBe(1);
    expect(
      value(
        text,
        'dag_provider_request_duration_seconds_count{provider="gitlab",host="gitlab.example.com",route="POST /projects/{id}/statuses/{sha}"}',
      ),
    ).toBe(statuses);
    expect(
      value(
        text,
        'dag_provider_ratelimit_remaining{provider="gitlab",host="gitlab.example.com",resource="api"}',
      ),
    ).toBe(1990);

    expect(value(text, 'dag_git_operations_total{operation="clone",outcome="success"}')).toBe(1);
    expect(value(text, 'dag_git_operations_total{operation="commit-tree",outcome="success"}')).toBe(
      1,
    );
    expect(value(text, 'dag_git_operations_total{operation="push",outcome="success"}')).toBe(1);
    expect(value(text, 'dag_git_operation_duration_seconds_count{operation="push"}')).toBe(1);
    expect(value(text, 'dag_git_push_retries_total')).toBe(0);

    expect(value(text, 'dag_jobs{queue="dag.events",state="completed"}')).toBe(1);
    expect(value(text, 'dag_jobs{queue="dag.deploy",state="completed"}')).toBe(1);
    expect(value(text, 'dag_jobs{queue="dag.deploy",state="failed"}')).toBe(0);
    expect(value(text, 'dag_queue_depth{queue="dag.deploy"}')).toBe(0);
    expect(value(text, 'dag_queue_oldest_waiting_seconds{queue="dag.deploy"}')).toBe(0);
    expect(text).toContain('process_cpu_user_seconds_total');

    // No label holds a commit, a delivery id, a project path or a file name.
    for (const leak of [SHA, SHA.slice(0, 7), DELIVERY, 'diaspora', 'values.yaml']) {
      expect(text).not.toContain(leak);
    }
  });

  it("logs each job's lines with its job id and the delivery it came from, never the payload", () => {
    const lines = h.dag.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const deployLines = lines.filter((l) => l.queue === 'dag.deploy');
    expect(deployLines.map((l) => l.msg)).toEqual(
      expect.arrayContaining(['pushed to the IAC repository', 'deployed']),
    );
    const eventLines = lines.filter((l) => l.queue === 'dag.events');
    expect(eventLines.map((l) => l.msg)).toContain('deploy queued');
    for (const line of [...deployLines, ...eventLines]) {
      expect(line).toMatchObject({ deliveryId: DELIVERY, jobId: expect.any(String) });
    }
    // Every line about the IAC push belongs to the deploy job.
    for (const line of lines.filter((l) => l.msg === 'pushed to the IAC repository')) {
      expect(line.queue).toBe('dag.deploy');
    }
    const all = h.dag.logs.join('');
    expect(all).not.toContain('Update Catalan translation');
    expect(all).not.toContain('john@example.com');
  });

  it('counts refused and ignored deliveries by outcome', async () => {
    const before = await scrape();
    const series = (event: string, outcome: string) =>
      `dag_webhook_deliveries_total{provider="gitlab",event="${event}",outcome="${outcome}"}`;
    expect((await deliver(payload, { 'x-gitlab-token': 'wrong' })).status).toBe(401);
    expect((await deliver(payload)).status).toBe(202); // the same delivery again
    const tag = await deliver(payload, { 'x-gitlab-event': 'Tag Push Hook' });
    expect(tag.status).toBe(200);
    const text = await scrape();
    expect(value(text, series('Push Hook', 'rejected_signature'))).toBe(1);
    expect(value(text, series('Push Hook', 'duplicate'))).toBe(1);
    expect(value(text, series('other', 'ignored'))).toBe(1);
    expect(value(text, series('Push Hook', 'queued'))).toBe(
      value(before, series('Push Hook', 'queued')),
    );
  });
});
