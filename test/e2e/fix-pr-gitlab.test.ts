// A fix proposal's merge request through its life on GitLab, end to end: a running DAG
// (`node src/main.ts`, GitLab mode, embedded database) against the GitLab stand-in of
// real-dag.ts, which keeps GitLab's request contract and serves the app's project from a real
// git repository (gitlab-project-stand-in.ts). An agent's proposal opens a bot merge request on
// DAG's branch, a revision updates it, a person's push stops DAG (one note), and the merge,
// announced by the Merge Request Hook, marks the proposals merged; the push deploys the fix.

import path from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import {
  gitlabProjectStandIn,
  type GitLabProjectStandIn,
} from '../helpers/gitlab-project-stand-in.ts';
import { masterPush, startRealDagStand, type Dag, type RealDagStand } from '../helpers/real-dag.ts';

const BRANCH = 'dag/fix/diaspora/production';

let stand: RealDagStand;
let project: GitLabProjectStandIn;
let dag: Dag;
let secret: string;

beforeAll(async () => {
  stand = await startRealDagStand('dag-fix-gitlab');
  await stand.git.createRepo('diaspora', {
    defaultBranch: 'master',
    files: {
      'deploy/values.yaml':
        'image:\n  repository: registry.example.com/mike/diaspora\nresources:\n  limits:\n    memory: 128Mi\n',
    },
  });
  project = gitlabProjectStandIn({
    id: 15,
    pathWithNamespace: 'mike/diaspora',
    webUrl: 'http://example.com/mike/diaspora',
    dir: await stand.git.git('diaspora', ['rev-parse', '--absolute-git-dir']),
  });
  stand.gitlab.serveProject(project);
  const dataDir = path.join(stand.dir, 'data');
  await stand.seed(dataDir);
  const db = await stand.openDag(dataDir);
  try {
    const tokens = new SqlApiTokenStore(db, {
      findApp: async () => undefined,
      listApps: async () => [],
      listEnvironments: async () => [],
    });
    ({ secret } = await tokens.create({
      name: 'sre-agent',
      permission: 'propose',
      scope: { all: true },
      lifetimeMs: 3_600_000,
    }));
  } finally {
    await db.close();
  }
  dag = await stand.startDag(dataDir);
}, 180_000);

afterAll(async () => {
  stand?.killAll();
  project?.git.close();
  await stand?.stop();
});

type View = { id: number; state: string; reasons: { message: string }[] };

const api = (suffix: string, init: RequestInit = {}) =>
  fetch(`http://127.0.0.1:${dag.port}/api/v1/fix-proposals${suffix}`, {
    ...init,
    headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
  });

async function view(id: number): Promise<View> {
  return (await (await api(`/${id}`)).json()) as View;
}

/** Sends a proposal raising the memory limit to `memory`; its id. */
async function propose(memory: string): Promise<number> {
  const res = await api('', {
    method: 'POST',
    body: JSON.stringify({
      target: { app: 'diaspora', environment: 'production' },
      change: { kind: 'values-patch', patch: { resources: { limits: { memory } } } },
      title: `Raise the memory limit to ${memory}`,
      rationale: 'The pod was OOMKilled three times in the last hour.',
      evidence: [{ kind: 'event', text: 'OOMKilled: container diaspora' }],
      agent: { name: 'sre-agent', model: 'test-model' },
    }),
  });
  const body = (await res.json()) as { id: number };
  expect(res.status, JSON.stringify(body)).toBe(202);
  return body.id;
}

async function settled(id: number, state: string): Promise<View> {
  await dag.until(async () => (await view(id)).state === state, `proposal ${id} to be ${state}`);
  return view(id);
}

async function productionValues(ref: string): Promise<unknown> {
  return parse((await stand.git.files('diaspora', ref))['deploy/values-production.yaml'] ?? '');
}

const commitsAhead = (branch: string) =>
  stand.git.git('diaspora', ['rev-list', '--count', `master..${branch}`]).then(Number);

describe('a fix proposal merge request on GitLab, end to end', () => {
  let first: number;
  let revision: number;
  let late: number;

  it('opens a bot merge request on DAG branch with one commit and its labels', async () => {
    first = await propose('256Mi');
    await settled(first, 'open');
    const [mr] = project.mergeRequests();
    expect(mr).toMatchObject({
      iid: 1,
      state: 'opened',
      sourceBranch: BRANCH,
      targetBranch: 'master',
      labels: ['dag', 'ai-proposal'],
    });
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await productionValues(BRANCH)).toEqual({ resources: { limits: { memory: '256Mi' } } });
  });

  it('updates the same merge request with a revised proposal, superseding the first', async () => {
    revision = await propose('384Mi');
    await settled(revision, 'updated');
    expect((await view(first)).state).toBe('superseded');
    expect(project.mergeRequests()).toHaveLength(1);
    expect(project.mergeRequests()[0]?.title).toBe('Raise the memory limit to 384Mi');
    expect(await commitsAhead(BRANCH)).toBe(1);
    expect(await productionValues(BRANCH)).toEqual({ resources: { limits: { memory: '384Mi' } } });
  });

  it('leaves a branch a person pushed to alone, and says so once', async () => {
    const personal = await stand.git.commitOutside(
      'diaspora',
      BRANCH,
      'deploy/values-production.yaml',
      'resources:\n  limits:\n    memory: 512Mi\n',
      'Make it 512Mi',
    );
    late = await propose('1Gi');
    const record = await dag
      .until(
        async () => (await view(late)).reasons.length > 0,
        `proposal ${late} to be left to the person`,
      )
      .then(() => view(late));
    expect(record.state).toBe('open');
    expect(record.reasons.map((r) => r.message).join(' ')).toMatch(/did not push/);
    expect(await stand.git.head('diaspora', BRANCH)).toBe(personal);
    expect(project.mergeRequests()[0]?.notes.map((n) => n.body)).toEqual([
      expect.stringContaining('did not push'),
    ]);
  });

  it('marks the proposals merged on the merge, and deploys the fixed values through the push', async () => {
    const merge = await project.merge(1);
    const hook = await stand.deliver(
      dag.port,
      JSON.stringify(project.mergeRequestHook(1, 'merge')),
      undefined,
      'Merge Request Hook',
    );
    expect(hook.status).toBe(202);
    const push = masterPush(merge);
    expect((await stand.deliver(dag.port, push.body)).status).toBe(202);
    await dag.until(
      async () => (await stand.git.log('iac', 'main'))[0] === push.commit,
      'the deploy of the merge',
    );
    await dag.until(
      async () => (await view(late)).state === 'merged',
      'the proposals to be merged',
    );
    expect([(await view(first)).state, (await view(revision)).state]).toEqual([
      'superseded',
      'merged',
    ]);
    // The person's value, merged, over the default chart's own values.
    const values = parse(
      (await stand.git.files('iac', 'main'))['clusters/production/my-app/values.yaml'] ?? '',
    ) as unknown;
    expect(values).toMatchObject({ resources: { limits: { memory: '512Mi' } } });
    await dag.until(
      () => stand.gitlab.statuses(merge).includes('success'),
      'the commit status of the deploy',
    );
  });
});
