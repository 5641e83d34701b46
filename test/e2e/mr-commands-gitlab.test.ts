import { writeFileSync } from 'node:fs';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeKubeApiserver } from '../helpers/fake-kube-apiserver.ts';
import { GitLabContract } from '../helpers/gitlab-contract.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';
import { waitFor } from '../helpers/wait.ts';
import { BOT_TOKEN, deliverGitlab, GITLAB } from './gitlab.ts';
import { startHarness, waitForQueueSettled, type Harness } from './harness.ts';
import { startFluxCluster, stopAll } from './promotion.ts';

/** GitLab's documented merge request note: project 5 (gitlab-org/gitlab-test), MR !1, by root (1). */
const NOTE = gitlabExample('note-hook-merge-request') as Record<string, unknown> & {
  object_attributes: Record<string, unknown>;
  project: Record<string, unknown>;
};
const PROJECT = '/api/v4/projects/5';
const MR = `${PROJECT}/merge_requests/1`;
const HEAD = 'e5'.repeat(20);
const NEXT_HEAD = 'f6'.repeat(20);
/** The user DAG's token acts as. */
const DAG_USER = { id: 900, username: 'dag-bot' };
const SA_TOKEN = `sa-token-${Math.random().toString(36).slice(2)}`;

let h: Harness;
let kube: FakeKubeApiserver;
/** Every request DAG sends GitLab is checked against GitLab's documented contract. */
const contract = new GitLabContract();

/**
 * GitLab's side of the merge request, as state the mocks below read and change: its notes (DAG's
 * and people's), the award emoji on each note, the commit statuses and deployments DAG posts.
 */
const gitlab = {
  head: HEAD,
  notes: [] as { id: number; body: string; author: { id: number }; system: boolean }[],
  /** Each edit of a note, its new body. */
  edits: [] as string[],
  awards: [] as string[],
  statuses: [] as { name: string; state: string; sha: string }[],
  deployments: [] as { environment: string; sha: string; status: string }[],
};

/** A note delivery: `body` by root (id 1) on MR !1. */
function noteHook(id: number, body: string): typeof NOTE {
  return { ...NOTE, object_attributes: { ...NOTE.object_attributes, id, note: body } };
}

/** GitLab's documented Merge Request Hook, for MR !1 of project 5, with `attributes`. */
function mergeRequestHook(attributes: Record<string, unknown>) {
  const p = gitlabExample('merge-request-hook') as Record<string, unknown> & {
    object_attributes: Record<string, unknown>;
  };
  return {
    ...p,
    project: NOTE.project,
    object_attributes: {
      ...p.object_attributes,
      iid: 1,
      source_branch: 'feature',
      target_branch: 'main',
      source_project_id: 5,
      target_project_id: 5,
      last_commit: { id: gitlab.head },
      ...attributes,
    },
  };
}

const deliver = (event: string, body: object, uuid: string) =>
  deliverGitlab(h, body, uuid, { 'x-gitlab-event': event });

/** The JSON body DAG sent (read from a copy: the contract reads it too). */
async function sent(req: Request): Promise<Record<string, string | undefined>> {
  return (await req.clone().json()) as Record<string, string | undefined>;
}

/** A segment of the request's path, counted from the end with a negative index. */
function segment(req: Request, index: number): string {
  return new URL(req.url).pathname.split('/').at(index) ?? '';
}

/** The stand-in's answers: persisted, so each test sets what GitLab holds, not a call order. */
function mockGitlab(): nock.Scope {
  let nextNote = 5000;
  return (
    contract
      .nock(GITLAB, { reqheaders: { 'private-token': BOT_TOKEN } })
      .persist()
      .get('/api/v4/user')
      .reply(200, { ...DAG_USER, name: 'DAG', state: 'active' })
      .get(MR)
      .reply(200, () => ({
        iid: 1,
        sha: gitlab.head,
        source_branch: 'feature',
        target_branch: 'main',
        source_project_id: 5,
        target_project_id: 5,
        state: 'opened',
      }))
      // root is a Developer of the project.
      .get(`${PROJECT}/members/all/1`)
      .reply(200, { id: 1, username: 'root', access_level: 30, state: 'active' })
      .get(`${MR}/approvals`)
      .reply(200, { iid: 1, approved: true, approvals_left: 0, approved_by: [{ user: { id: 7 } }] })
      .get(/\/api\/v4\/projects\/5\/repository\/commits\/[0-9a-f]{40}\/statuses$/)
      .reply(200, (req: Request) => [
        { name: 'test', status: 'success', allow_failure: false },
        ...gitlab.statuses
          .filter((s) => req.url.includes(s.sha))
          .map((s) => ({ name: s.name, status: s.state, description: '' })),
      ])
      .post(/\/api\/v4\/projects\/5\/merge_requests\/1\/notes\/\d+\/award_emoji/)
      .reply(201, async (req: Request) => {
        const { name } = await sent(req);
        gitlab.awards.push(`${segment(req, -2)}:${name}`);
        return { id: gitlab.awards.length, name };
      })
      .get(`${MR}/notes`)
      .query(true)
      .reply(200, () => gitlab.notes)
      .post(`${MR}/notes`)
      .reply(201, async (req: Request) => {
        const note = {
          id: nextNote++,
          body: (await sent(req)).body ?? '',
          author: { id: DAG_USER.id },
          system: false,
        };
        gitlab.notes.push(note);
        return note;
      })
      .put(/\/api\/v4\/projects\/5\/merge_requests\/1\/notes\/\d+$/)
      .reply(200, async (req: Request) => {
        const { body = '' } = await sent(req);
        const note = gitlab.notes.find((n) => n.id === Number(segment(req, -1)));
        if (note) note.body = body;
        gitlab.edits.push(body);
        return note;
      })
      .post(/\/api\/v4\/projects\/5\/statuses\/[0-9a-f]{40}$/)
      .reply(201, async (req: Request) => {
        const { name = '', state = '' } = await sent(req);
        gitlab.statuses.push({ name, state, sha: segment(req, -1) });
        return { name, status: state };
      })
      .get(/\/api\/v4\/projects\/5\/repository\/files\/deploy%2Fvalues\.yaml\/raw/)
      .query(true)
      .reply(200, 'replicaCount: 2\ndatabase:\n  password: hunter2-very-secret\n', {
        'content-type': 'text/plain',
      })
      .get(/\/api\/v4\/projects\/5\/repository\/files\/deploy%2Fvalues-staging\.yaml\/raw/)
      .query(true)
      .reply(404, { message: '404 File Not Found' })
      .post(`${PROJECT}/deployments`)
      .reply(201, async (req: Request) => {
        const { environment = '', sha = '', status = '' } = await sent(req);
        gitlab.deployments.push({ environment, sha, status });
        return { id: gitlab.deployments.length, status };
      })
      .put(/\/api\/v4\/projects\/5\/deployments\/\d+$/)
      .reply(200, async (req: Request) => {
        const deployment = gitlab.deployments[Number(segment(req, -1)) - 1];
        if (deployment) deployment.status = (await sent(req)).status ?? '';
        return { id: Number(segment(req, -1)) };
      })
  );
}

/** DAG's note of `topic` (its body after the marker), if any. */
function dagNote(topic: string): string | undefined {
  const marker = `<!-- dag:${topic}:0 -->\n`;
  return gitlab.notes.find((n) => n.body.startsWith(marker))?.body.slice(marker.length);
}

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect('127.0.0.1');
  h = await startHarness({ GITLAB_URL: GITLAB, GITLAB_TOKEN: BOT_TOKEN });
  kube = await startFluxCluster(h, 'staging', SA_TOKEN);
  await h.dag.db.query(
    'INSERT INTO iacs (name, repo_url, access_token, git_provider) VALUES ($1, $2, $3, $4)',
    ['iac', h.git.url('iac'), h.iacToken, 'gitlab'],
  );
  // Staging asks for an approved merge request with green pipelines: GitLab's approvals and
  // commit statuses are read for /deploy.
  await h.dag.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('gitlab', 'http://example.com/gitlab-org/gitlab-test');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, helm_name, name, deploy_requires_approval, deploy_requires_green_checks)
      VALUES (1, 'main', 1, 'clusters/staging/my-app', 1, 'flux', 'apps', 'my-app', 'staging', true, true);
  `);
  mockGitlab();
});

afterAll(async () => {
  if (process.env.DAG_E2E_TRACE) writeFileSync(process.env.DAG_E2E_TRACE, h.dag.logs.join(''));
  // Every route the stand-in offers was asked for: none is left unused.
  expect(nock.pendingMocks()).toEqual([]);
  await stopAll(h, kube);
  contract.assertKept();
});

describe('merge-request commands and previews on GitLab, end to end', () => {
  it('previews a merge request when it is opened, on its own', async () => {
    const res = await deliver('Merge Request Hook', mergeRequestHook({ action: 'open' }), 'mr-1');
    expect(res.status).toBe(202);
    await waitFor(() => dagNote('diff') !== undefined, {
      timeoutMs: 30_000,
      what: 'the automatic preview',
    });
    await waitForQueueSettled(h);
    const preview = dagNote('diff') ?? '';
    expect(preview).toContain('## DAG diff preview for <code>e5e5e5e5e5e5</code>');
    expect(preview).toContain('HelmRelease');
    expect(preview).toContain('clusters/staging/my-app/helmrelease.yaml');
    expect(preview).not.toContain('hunter2-very-secret');
    expect(preview).not.toContain(SA_TOKEN);
    // GitLab has no check runs: the commit status dag/diff carries the preview's outcome.
    expect(gitlab.statuses.filter((s) => s.name === 'dag/diff').map((s) => s.state)).toEqual([
      'running',
      'success',
    ]);
    expect(gitlab.awards).toEqual([]);
  });

  it('answers /diff in the same sticky preview note, acknowledged with award emoji', async () => {
    const res = await deliver('Note Hook', noteHook(1244, '/diff staging'), 'note-1244');
    expect(res.status).toBe(202);
    await waitFor(() => gitlab.awards.includes('1244:thumbsup'), {
      timeoutMs: 30_000,
      what: 'the diff preview',
    });
    await waitForQueueSettled(h);
    expect(gitlab.awards).toEqual(['1244:eyes', '1244:thumbsup']);
    expect(dagNote('command')).toContain("@root's commands:");
    expect(dagNote('command')).toContain('- `/diff`: preview of `staging` for `e5e5e5e`');
    expect(gitlab.notes.filter((n) => n.body.startsWith('<!-- dag:diff:0 -->'))).toHaveLength(1);
  });

  it('deploys on /deploy staging to the IAC repository, and says so in the merge request', async () => {
    const before = await h.git.head('iac', 'main');
    await deliver('Note Hook', noteHook(1245, '/deploy staging'), 'note-1245');
    await waitFor(() => dagNote('deploy-staging') !== undefined, {
      timeoutMs: 30_000,
      what: 'the deploy note',
    });
    await waitForQueueSettled(h);
    expect(gitlab.awards).toEqual(['1244:eyes', '1244:thumbsup', '1245:eyes', '1245:thumbsup']);
    // One command note, edited in place.
    expect(gitlab.notes.filter((n) => n.body.startsWith('<!-- dag:command:0 -->'))).toHaveLength(1);
    expect(dagNote('command')).toContain(
      "- `/deploy staging`: deploying `e5e5e5e` of !1. staging runs this merge request's code until the next deploy to it.",
    );
    expect(dagNote('deploy-staging')).toMatch(
      /^\*\*DAG\*\* deployed `e5e5e5e` of !1 to \*\*staging\*\*/,
    );
    expect(dagNote('deploy-staging')).toContain(
      "staging now runs this merge request's code until the next deploy to it.",
    );
    expect(await h.git.head('iac', 'main')).not.toBe(before);
    const files = await h.git.files('iac', 'main');
    expect(files['clusters/staging/my-app/helmrelease.yaml']).toContain(HEAD);
    expect(gitlab.deployments).toEqual([{ environment: 'staging', sha: HEAD, status: 'success' }]);
  });

  it("ignores DAG's own notes and GitLab's system notes", async () => {
    const notes = JSON.stringify(gitlab.notes);
    const awards = gitlab.awards.length;
    const own = {
      ...noteHook(1246, '/deploy staging'),
      user: { id: DAG_USER.id, username: 'dag-bot' },
    };
    expect((await deliver('Note Hook', own, 'note-1246')).status).toBe(202);
    const system = noteHook(1247, '/deploy staging');
    system.object_attributes.system = true;
    expect(await (await deliver('Note Hook', system, 'note-1247')).json()).toMatchObject({
      status: 'ignored',
    });
    await waitForQueueSettled(h);
    expect(JSON.stringify(gitlab.notes)).toBe(notes);
    expect(gitlab.awards).toHaveLength(awards);
  });

  it('previews a merge request pushed to, the old preview marked outdated first', async () => {
    gitlab.head = NEXT_HEAD;
    gitlab.edits.length = 0;
    await deliver(
      'Merge Request Hook',
      mergeRequestHook({ action: 'update', oldrev: HEAD }),
      'mr-update-1',
    );
    await waitFor(() => (dagNote('diff') ?? '').includes('f6f6f6f6f6f6'), {
      timeoutMs: 30_000,
      what: 'the automatic preview of the new head',
    });
    await waitForQueueSettled(h);
    expect(gitlab.edits[0]).toContain(
      '**Outdated:** <code>e5e5e5e5e5e5</code> is no longer the head of this merge request',
    );
    expect(dagNote('diff')).toContain('## DAG diff preview for <code>f6f6f6f6f6f6</code>');
    expect(gitlab.notes.filter((n) => n.body.startsWith('<!-- dag:diff:0 -->'))).toHaveLength(1);
  });
});
