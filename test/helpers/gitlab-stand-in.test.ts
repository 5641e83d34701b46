// The GitLab stand-in, driven the way DAG drives GitLab: DAG's own GitLabPlatform (gitbeaker with
// DAG's requester) and plain fetch, git over HTTP through the stand-in, and the webhooks it
// builds read by DAG's own normalizers.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Gitlab } from '@gitbeaker/rest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  normalizeGitlabMergeRequest,
  normalizeGitlabNote,
} from '../../src/events/gitlab-merge-request.ts';
import { normalizeGitlabMerge } from '../../src/events/pull-request.ts';
import { normalizeGitlabPush } from '../../src/events/push.ts';
import type { RepoRef } from '../../src/events/types.ts';
import { GitLabPlatform } from '../../src/platform/gitlab/gitlab-platform.ts';
import type { GitLabProjectStandIn } from './gitlab-project-stand-in.ts';
import { startGitLabStandIn, type GitLabStandIn } from './gitlab-stand-in.ts';

const exec = promisify(execFile);
const ALICE = { id: 7, username: 'alice', name: 'Alice' };
const ALICE_TOKEN = 'glpat-alice';

let gitlab: GitLabStandIn;
let shop: GitLabProjectStandIn;
let dag: GitLabPlatform;
let repo: RepoRef;
let work: string;

/** The API as a user (`token`), JSON in and out. */
async function api(method: string, route: string, token?: string, body?: unknown) {
  const response = await fetch(`${gitlab.url}/api/v4/${route}`, {
    method,
    headers: {
      ...(token ? { 'PRIVATE-TOKEN': token } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    headers: response.headers,
    json: text ? (JSON.parse(text) as unknown) : null,
  };
}

function git(args: string[], cwd = work) {
  return exec('git', args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: work,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_AUTHOR_NAME: 'Alice',
      GIT_AUTHOR_EMAIL: 'alice@example.com',
      GIT_COMMITTER_NAME: 'Alice',
      GIT_COMMITTER_EMAIL: 'alice@example.com',
    },
  });
}

beforeAll(async () => {
  gitlab = await startGitLabStandIn();
  gitlab.addUser(ALICE);
  gitlab.addToken(ALICE_TOKEN, ALICE.id);
  shop = await gitlab.createProject({
    id: 5,
    path: 'org/shop',
    defaultBranch: 'main',
    files: { 'deploy/values.yaml': 'replicaCount: 2\n' },
  });
  dag = new GitLabPlatform({ url: gitlab.url, token: gitlab.botToken });
  repo = {
    provider: 'gitlab',
    fullName: 'org/shop',
    urls: [gitlab.webUrl('org/shop')],
    projectId: 5,
    webUrl: gitlab.webUrl('org/shop'),
  };
  work = await mkdtemp(path.join(tmpdir(), 'gitlab-stand-in-test-'));
});

afterAll(async () => {
  await gitlab.stop();
  await rm(work, { recursive: true, force: true });
});

describe('the GitLab stand-in', () => {
  it('asks for a known token, and names its user', async () => {
    expect(await api('GET', 'user')).toMatchObject({
      status: 401,
      json: { message: '401 Unauthorized' },
    });
    expect((await api('GET', 'user', 'glpat-unknown')).status).toBe(401);
    expect((await api('GET', 'user', gitlab.botToken)).json).toMatchObject({
      id: 900,
      username: 'dag-bot',
    });
    expect((await api('GET', 'users?username=alice', ALICE_TOKEN)).json).toMatchObject([{ id: 7 }]);
    expect(await dag.isOwnAccount(900)).toBe(true);
    // A route outside GitLab's contract: 404, and a violation stop() would report.
    expect((await api('GET', 'projects/5/issues', gitlab.botToken)).status).toBe(404);
    gitlab.contract.expectViolation(/projects\/5\/issues/);
  });

  it('serves files by project id or path', async () => {
    expect(await dag.readFile(repo, 'main', 'deploy/values.yaml')).toBe('replicaCount: 2\n');
    expect(
      await dag.readFile({ ...repo, projectId: undefined }, 'main', 'deploy/values.yaml'),
    ).toBe('replicaCount: 2\n');
    expect(await dag.readFile(repo, 'main', 'missing.yaml')).toBeUndefined();
  });

  it("keeps a person's merge request, notes by their authors, and award emoji once per user", async () => {
    const head = await shop.commit(
      'feature',
      { 'deploy/values.yaml': 'replicaCount: 3\n' },
      'More',
    );
    const iid = await shop.openMergeRequest({
      source: 'feature',
      target: 'main',
      title: 'More',
      author: ALICE.id,
    });
    expect(await dag.getPullRequest(repo, iid)).toMatchObject({
      headSha: head,
      headRef: 'feature',
      open: true,
    });
    const mr = await api('GET', `projects/5/merge_requests/${iid}`, gitlab.botToken);
    expect(mr.json).toMatchObject({ author: { id: 7, username: 'alice' }, sha: head });

    const labelled = await dag
      .createChangeRequest(repo, {
        head: 'feature',
        base: 'release',
        title: 'Labelled',
        body: '',
        labels: ['dag', 'promotion'],
      })
      .catch((error: unknown) => String(error));
    // No release branch: GitLab refuses (404), and nothing is opened.
    expect(labelled).toMatch(/404/);
    await shop.commit('release', {}, 'Release branch');
    await dag.createChangeRequest(repo, {
      head: 'feature',
      base: 'release',
      title: 'Labelled',
      body: '',
      labels: ['dag', 'promotion'],
    });
    const byLabel = await api('GET', 'projects/5/merge_requests?labels=promotion', gitlab.botToken);
    expect(byLabel.json).toMatchObject([{ title: 'Labelled', author: { username: 'dag-bot' } }]);

    const command = shop.addNote(iid, '/diff', ALICE.id);
    await dag.upsertComments(repo, iid, 'diff', ['first']);
    await dag.upsertComments(repo, iid, 'diff', ['second']);
    expect(await dag.readComments(repo, iid, 'diff')).toEqual(['second']);
    const notes = shop.notes(iid);
    expect(notes.map((n) => [n.author, n.edits])).toEqual([
      ['alice', 0],
      ['dag-bot', 1],
    ]);
    // GitLab lists the newest first unless asked otherwise.
    const listed = await api(
      'GET',
      `projects/5/merge_requests/${iid}/notes?per_page=1`,
      ALICE_TOKEN,
    );
    expect(listed.json).toMatchObject([
      { author: { username: 'dag-bot' }, noteable_type: 'MergeRequest', system: false },
    ]);
    expect([listed.headers.get('x-total'), listed.headers.get('x-next-page')]).toEqual(['2', '2']);
    // gitbeaker follows the Link header's next page, and the contract accepts its requests.
    const all = await new Gitlab({ host: gitlab.url, token: ALICE_TOKEN }).MergeRequestNotes.all(
      5,
      iid,
      {
        perPage: 1,
        sort: 'asc',
        orderBy: 'created_at',
      },
    );
    expect(all.map((n) => n.author.username)).toEqual(['alice', 'dag-bot']);
    // Only the author edits a note.
    const edit = await api(
      'PUT',
      `projects/5/merge_requests/${iid}/notes/${command.id}`,
      gitlab.botToken,
      { body: 'x' },
    );
    expect(edit).toMatchObject({ status: 403 });

    await dag.react(repo, { number: iid, id: command.id }, 'eyes');
    await dag.react(repo, { number: iid, id: command.id }, 'eyes');
    const again = await api(
      'POST',
      `projects/5/merge_requests/${iid}/notes/${command.id}/award_emoji`,
      gitlab.botToken,
      {
        name: 'eyes',
      },
    );
    expect(again).toMatchObject({
      status: 404,
      json: { message: '404 Award Emoji Name has already been taken' },
    });
    await api(
      'POST',
      `projects/5/merge_requests/${iid}/notes/${command.id}/award_emoji`,
      ALICE_TOKEN,
      { name: 'eyes' },
    );
    expect(shop.awards(command.id)).toEqual(['eyes', 'eyes']);

    // A surplus part is deleted; a person's note only by its author or a Maintainer.
    await dag.upsertComments(repo, iid, 'diff', []);
    expect(shop.notes(iid).map((n) => n.author)).toEqual(['alice']);
    const removal = await api(
      'DELETE',
      `projects/5/merge_requests/${iid}/notes/${command.id}`,
      gitlab.botToken,
    );
    expect(removal.status).toBe(403);

    expect(await dag.isApproved(repo, iid)).toBe(false);
    shop.approve(iid, ALICE.id);
    expect(await dag.isApproved(repo, iid)).toBe(true);
  });

  it('answers members by access level, and 404 for others', async () => {
    expect(await api('GET', 'projects/5/members/all/7', gitlab.botToken)).toMatchObject({
      status: 404,
      json: { message: '404 Not found' },
    });
    expect(await dag.permissionOf(repo, 'alice', 7)).toBe('none');
    shop.setAccessLevel(ALICE.id, 30);
    expect(await dag.permissionOf(repo, 'alice', 7)).toBe('write');
    expect(await dag.permissionOf(repo, 'alice')).toBe('write');
    expect((await api('GET', 'projects/5/members/all/7', gitlab.botToken)).json).toMatchObject({
      id: 7,
      username: 'alice',
      state: 'active',
      access_level: 30,
    });
  });

  it('lists the latest commit status of each name, and keeps their history', async () => {
    const sha = await gitlab.git.head('org/shop', 'main');
    shop.setPipelineStatus(sha, 'test', 'running', ALICE.id);
    await dag.publishCheck(repo, {
      name: 'dag/diff',
      sha,
      status: 'in_progress',
      title: 'Rendering',
    } as never);
    expect(await dag.checksPassed(repo, sha, [])).toBe(false);
    shop.setPipelineStatus(sha, 'test', 'success', ALICE.id);
    await dag.publishCheck(repo, {
      name: 'dag/diff',
      sha,
      status: 'completed',
      conclusion: 'neutral',
      title: 'Changes',
    } as never);
    expect(await dag.checksPassed(repo, sha, [])).toBe(true);
    const listed = await api(
      'GET',
      `projects/5/repository/commits/${sha}/statuses`,
      gitlab.botToken,
    );
    expect(listed.json).toMatchObject([
      { name: 'test', status: 'success', allow_failure: false },
      { name: 'dag/diff', status: 'success', description: 'Changes' },
    ]);
    expect(shop.statuses(sha)).toEqual([
      { name: 'test', state: 'running' },
      { name: 'dag/diff', state: 'running' },
      { name: 'test', state: 'success' },
      { name: 'dag/diff', state: 'success' },
    ]);
  });

  it('creates, finishes and lists deployments, newest first when asked, over pages', async () => {
    const sha = await gitlab.git.head('org/shop', 'main');
    const input = { sha, ref: 'main', environment: 'production', description: 'Deploying' };
    const first = await dag.createDeployment(repo, input);
    await dag.setDeploymentState(
      repo,
      { ...input, id: first },
      { state: 'success', description: 'Deployed' },
    );
    const second = await dag.createDeployment(repo, input);
    expect(await dag.findDeployment(repo, { sha, environment: 'production', attempt: 2 })).toBe(
      second,
    );
    expect(
      await dag.findDeployment(repo, { sha, environment: 'staging', attempt: 1 }),
    ).toBeUndefined();
    expect(shop.deployments().map((d) => [d.id, d.history])).toEqual([
      [Number(first), ['running', 'success']],
      [Number(second), ['running']],
    ]);
    const page = await api(
      'GET',
      'projects/5/deployments?environment=production&per_page=1&sort=desc',
      gitlab.botToken,
    );
    expect(page.json).toMatchObject([
      {
        id: Number(second),
        status: 'running',
        deployable: null,
        environment: { name: 'production' },
      },
    ]);
    expect(page.headers.get('link')).toContain('rel="next"');
    expect(
      (await api('GET', `projects/5/deployments/${first}`, gitlab.botToken)).json,
    ).toMatchObject({ status: 'success' });
    const since = (after: string) =>
      api(
        'GET',
        `projects/5/deployments?updated_after=${after}&order_by=updated_at`,
        gitlab.botToken,
      );
    expect((await since('2000-01-01T00:00:00Z')).json).toHaveLength(2);
    expect((await since('2999-01-01T00:00:00Z')).json).toEqual([]);
    // GitLab refuses to finish a deployment the same way twice (the contract): 400.
    const twice = await api('PUT', `projects/5/deployments/${first}`, gitlab.botToken, {
      status: 'success',
    });
    expect(twice.status).toBe(400);
    gitlab.contract.expectViolation(/Cannot transition status from :success to :success/);
  });

  it('serves git over HTTP with a known token, and records pushes', async () => {
    const anonymous = await fetch(
      `${gitlab.cloneUrl('org/shop')}/info/refs?service=git-upload-pack`,
    );
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic/);
    const withToken = new URL(gitlab.cloneUrl('org/shop'));
    withToken.username = 'oauth2';
    withToken.password = ALICE_TOKEN;
    await expect(
      git(['clone', '--quiet', gitlab.cloneUrl('org/shop'), 'refused']),
    ).rejects.toThrow();
    await git(['clone', '--quiet', withToken.href, 'shop']);
    const clone = path.join(work, 'shop');
    await writeFile(path.join(clone, 'README.md'), 'hello\n');
    await git(['add', 'README.md'], clone);
    await git(['commit', '--quiet', '-m', 'Hello'], clone);
    await git(['push', '--quiet', 'origin', 'HEAD:refs/heads/hello'], clone);
    const { stdout } = await git(['rev-parse', 'HEAD'], clone);
    expect(await gitlab.git.head('org/shop', 'hello')).toBe(stdout.trim());
    expect(gitlab.pushes).toEqual([{ project: 'org/shop', user: 'alice', status: 200 }]);
  });

  it("builds webhooks DAG's normalizers accept", async () => {
    const head = await shop.commit('change', { 'a.txt': 'a\n' }, 'A');
    const iid = await shop.openMergeRequest({
      source: 'change',
      target: 'main',
      title: 'A',
      author: ALICE.id,
    });
    const opened = normalizeGitlabMergeRequest(shop.mergeRequestHook(iid, 'open'));
    expect(opened).toMatchObject({
      event: { action: 'opened', headSha: head, number: iid, fork: false },
    });
    const next = await shop.commit('change', { 'a.txt': 'b\n' }, 'B');
    const updated = normalizeGitlabMergeRequest(
      shop.mergeRequestHook(iid, 'update', { oldrev: head }),
    );
    expect(updated).toMatchObject({ event: { action: 'synchronize', headSha: next } });

    const { id, hook } = shop.addNote(iid, '/deploy staging', ALICE.id);
    expect(normalizeGitlabNote(hook)).toMatchObject({
      event: {
        number: iid,
        commentId: id,
        body: '/deploy staging',
        author: 'alice',
        authorId: 7,
        byBot: false,
      },
    });

    // GitLab sends a Note Hook for DAG's own notes too: DAG tells them apart by the author's id.
    await dag.commentOnChangeRequest(repo, iid, 'Previewing');
    const own = shop.notes(iid).at(-1);
    expect(normalizeGitlabNote(shop.noteHook(iid, own?.id ?? 0))).toMatchObject({
      event: { body: 'Previewing', authorId: 900 },
    });

    const push = await shop.pushHook({
      branch: 'change',
      before: head,
      after: next,
      userId: ALICE.id,
    });
    expect(push).toMatchObject({
      total_commits_count: 1,
      commits: [{ id: next, modified: ['a.txt'] }],
    });
    expect(normalizeGitlabPush(push)).toMatchObject({
      event: { branch: 'change', sha: next, before: head, pusher: 'alice', repo: { projectId: 5 } },
    });

    await shop.merge(iid);
    const merged = normalizeGitlabMerge(shop.mergeRequestHook(iid, 'merge', { userId: ALICE.id }));
    expect(merged).toMatchObject({ event: { kind: 'merged', number: iid } });
  });
});
