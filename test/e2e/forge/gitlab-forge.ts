// The scenario table's GitLab: a GitLab-only DAG (no GitHub App configured: GITLAB_URL and
// GITLAB_TOKEN alone) against the GitLab stand-in, which keeps GitLab's documented request
// contract and serves the app and IAC projects as real git repositories; webhooks in GitLab's
// documented shapes (Push, Merge Request and Note Hooks), with its token and event headers.

import { expect } from 'vitest';
import { commentMarker } from '../../../src/platform/types.ts';
import { startGitLabStandIn, type GitLabStandIn } from '../../helpers/gitlab-stand-in.ts';
import type { GitLabProjectStandIn } from '../../helpers/gitlab-project-stand-in.ts';
import { FLUX_LAYOUT, fixtureFiles, startHarness, type Harness } from '../harness.ts';
import type {
  Acknowledgement,
  Delivery,
  Forge,
  RequestView,
  Role,
  StartedForge,
  Thread,
} from './forge.ts';

const APP = 'org/shop';
const IAC = 'org/iac';
/** People: a Developer and a Maintainer of the app's project (GitLab's access levels). */
const PEOPLE: Record<string, { id: number; level: Record<Role, number> }> = {
  dev: { id: 11, level: { developer: 30, maintainer: 40 } },
  lead: { id: 12, level: { developer: 30, maintainer: 40 } },
};
/** GitLab's award emoji, in GitHub's reaction names. */
const EMOJI: Record<string, Acknowledgement> = {
  eyes: 'eyes',
  thumbsup: '+1',
  thumbsdown: '-1',
  confused: 'confused',
};

/** GitLab's commit status states in GitHub's deployment state names. */
const GITHUB_STATE: Record<string, string> = {
  pending: 'queued',
  running: 'in_progress',
  failed: 'failure',
  canceled: 'inactive',
};

export async function startGitlabForge(options: {
  appFiles: Record<string, string>;
  /** Settings for DAG beyond the stand-in's. */
  env?: Record<string, string>;
}): Promise<StartedForge> {
  const gl: GitLabStandIn = await startGitLabStandIn();
  const app = await gl.createProject({
    id: 21,
    path: APP,
    defaultBranch: 'main',
    files: options.appFiles,
  });
  const iac = await gl.createProject({
    id: 22,
    path: IAC,
    defaultBranch: 'main',
    files: await fixtureFiles(FLUX_LAYOUT),
    dagBranches: true,
  });
  for (const [username, { id }] of Object.entries(PEOPLE)) gl.addUser({ id, username });
  // The IAC's own token (a project access token): DAG pushes and opens merge requests with it.
  const iacUser = gl.addUser({ id: 950, username: 'project_22_bot_1a2b3c' });
  const iacToken = 'glpat-iacprojecttoken00000';
  gl.addToken(iacToken, iacUser.id);
  iac.setAccessLevel(iacUser.id, 40);
  app.setAccessLevel(gl.bot.id, 40);
  // A GitLab-only install: no GitHub App (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET unset).
  const h: Harness = await startHarness({
    APP_ID: '',
    PRIVATE_KEY: '',
    WEBHOOK_SECRET: '',
    GITLAB_URL: gl.url,
    GITLAB_TOKEN: gl.botToken,
    ...options.env,
  });
  const project = (repo: 'app' | 'iac'): GitLabProjectStandIn => (repo === 'app' ? app : iac);
  const path = (repo: 'app' | 'iac') => (repo === 'app' ? APP : IAC);

  async function deliver(event: string, payload: object, id?: string): Promise<Delivery> {
    const delivery = { event, payload, id: id ?? crypto.randomUUID() };
    const answer = await gl.deliver(h.dag.url, h.dag.secrets.gitlab, event, payload, delivery.id);
    expect(answer.status, answer.body).toBeLessThan(300);
    return delivery;
  }

  /** DAG's notes are the bot token's user's (DAG opened the IAC's requests with the IAC token). */
  const dagNotes = (repo: 'app' | 'iac', thread: Thread, topic: string) => {
    const marker = commentMarker(topic, 0);
    const served = project(repo);
    // GitLab numbers issues and merge requests apart, each with its own notes.
    const notes =
      typeof thread === 'number' ? served.notes(thread) : served.issueNotes(thread.issue);
    return notes
      .filter((n) => n.authorId === gl.bot.id && n.body.startsWith(marker))
      .map((n) => n.body.slice(marker.length).replace(/^\n/, ''));
  };

  const forge: Forge = {
    provider: 'gitlab',
    words: { request: 'merge request', ref: (n) => `!${n}` },
    harness: h,
    app: APP,
    iac: IAC,

    commit: (branch, files, message) => app.commit(branch, files, message),
    head: (repo, branch) => gl.git.head(path(repo), branch),
    files: (repo, branch) => gl.git.files(path(repo), branch),
    async announcePush(branch, before) {
      const after = await gl.git.head(APP, branch);
      await app.refresh();
      return deliver(
        'Push Hook',
        await app.pushHook({ branch, before, after, userId: PEOPLE.dev?.id }),
      );
    },
    async openRequest(head, base, title) {
      const iid = await app.openMergeRequest({
        source: head,
        target: base,
        title,
        author: PEOPLE.dev?.id ?? 0,
      });
      await deliver('Merge Request Hook', app.mergeRequestHook(iid, 'open'));
      return iid;
    },
    async announceRequestPushed(number, before) {
      await app.refresh();
      return deliver(
        'Merge Request Hook',
        app.mergeRequestHook(number, 'update', { oldrev: before }),
      );
    },
    openIssue: async (title) => app.openIssue({ title, author: PEOPLE.dev?.id ?? 0 }),
    async comment(thread, body, user) {
      const person = PEOPLE[user];
      if (!person) throw new Error(`no person ${user}`);
      const note =
        typeof thread === 'number'
          ? app.addNote(thread, body, person.id)
          : app.addIssueNote(thread.issue, body, person.id);
      return { id: note.id, delivery: await deliver('Note Hook', note.hook) };
    },
    async redeliver(delivery) {
      const answer = await gl.deliver(
        h.dag.url,
        h.dag.secrets.gitlab,
        delivery.event,
        delivery.payload,
        delivery.id,
      );
      return answer.status;
    },
    setRole(user, role) {
      const person = PEOPLE[user];
      if (!person) throw new Error(`no person ${user}`);
      app.setAccessLevel(person.id, person.level[role]);
    },
    async merge(repo, number) {
      const served = project(repo);
      const mr = served.mergeRequests().find((m) => m.iid === number);
      if (!mr) throw new Error(`no merge request !${number} in ${path(repo)}`);
      const before = await gl.git.head(path(repo), mr.targetBranch);
      const sha = await served.merge(number);
      const lead = PEOPLE.lead?.id;
      await deliver(
        'Merge Request Hook',
        served.mergeRequestHook(number, 'merge', { userId: lead }),
      );
      await deliver(
        'Push Hook',
        await served.pushHook({ branch: mr.targetBranch, before, after: sha, userId: lead }),
      );
      return sha;
    },

    dagComment: (repo, thread, topic) => dagNotes(repo, thread, topic)[0],
    dagCommentCount: (repo, thread, topic) => dagNotes(repo, thread, topic).length,
    acknowledgements: (noteId) => app.awards(noteId).map((name) => EMOJI[name] ?? 'confused'),
    deployments: (environment) =>
      app
        .deployments()
        .filter((d) => d.environment === environment)
        .map((d) => ({ sha: d.sha, state: d.status === 'failed' ? 'failure' : d.status })),
    deployStatuses: (environment, sha) =>
      app
        .statusRecords(sha)
        .filter((s) => s.name === `dag/deploy/${environment}`)
        .map((s) => ({
          state: GITHUB_STATE[s.state] ?? s.state,
          description: s.description ?? '',
        })),
    previewStatus(sha) {
      const state = app
        .statuses(sha)
        .filter((s) => s.name === 'dag/diff')
        .at(-1)?.state;
      if (state === undefined) return undefined;
      if (state === 'running' || state === 'pending') return 'running';
      return state === 'success' ? 'passed' : 'failed';
    },
    requests: (repo) =>
      project(repo)
        .mergeRequests()
        .toSorted((a, b) => a.iid - b.iid)
        .map((mr): RequestView => ({
          number: mr.iid,
          state: mr.state === 'opened' ? 'open' : mr.state,
          title: mr.title,
          body: mr.description,
          head: mr.sourceBranch,
          base: mr.targetBranch,
          labels: mr.labels,
          byDag: mr.author.id === gl.bot.id || mr.author.id === iacUser.id,
        })),

    async stop() {
      await h.stop();
      // Fails when DAG sent GitLab anything its documented API refuses.
      await gl.stop();
    },
  };

  return { forge, appUrl: gl.webUrl(APP), iacUrl: gl.cloneUrl(IAC), iacToken };
}
