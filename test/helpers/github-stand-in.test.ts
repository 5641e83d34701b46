// The GitHub stand-in, driven the way DAG drives GitHub: Probot's Octokit (its real auth, retry
// and throttling plugins) and DAG's own GitHubPlatform, against real git repositories.

import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { Probot, ProbotOctokit } from 'probot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RepoRef } from '../../src/events/types.ts';
import { createProbot } from '../../src/server/github.ts';
import { createLogger } from '../../src/log.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import { startGitHubStandIn, type GitHubStandIn, type RequestRecord } from './github-stand-in.ts';

const exec = promisify(execFile);
const APP_ID = 4242;
const INSTALLATION = 4711;
const key = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
const privateKey = key();

let gh: GitHubStandIn;
let probot: Probot;
const probotLog: string[] = [];
/** Probot's installation Octokit: JWT, token minting, retry and throttling all on. */
let octokit: Awaited<ReturnType<Probot['auth']>>;
/** The same installation token without throttling or retries, for tests about answers only. */
let plain: InstanceType<typeof ProbotOctokit>;
let first: string;
let second: string;

const app: RepoRef = {
  provider: 'github',
  fullName: 'org/app',
  urls: [],
  installationId: INSTALLATION,
  webUrl: '',
};

/** The error an Octokit request was refused with (status and GitHub's body). */
async function refusal(promise: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  try {
    await promise;
  } catch (error) {
    // DAG's platform wraps Octokit's error: GitHub's answer is its cause.
    const e = error as { status: number; response?: { data: unknown }; cause?: unknown };
    const http = (e.response ? e : (e.cause ?? e)) as typeof e;
    return { status: http.status, data: http.response?.data };
  }
  throw new Error('the request was not refused');
}

const since = (from: number) => gh.requests.slice(from);

/**
 * An installation token from the App (`octokit.auth()` itself would ask github.com: auth-app
 * only takes the Enterprise base URL from the request it hooks).
 */
async function mintToken(): Promise<string> {
  const appOctokit = await probot.auth();
  const { data } = await appOctokit.request(
    'POST /app/installations/{installation_id}/access_tokens',
    { installation_id: INSTALLATION },
  );
  return data.token;
}

beforeAll(async () => {
  gh = await startGitHubStandIn({ appId: APP_ID, privateKey });
  await gh.createRepo('org/app', {
    files: {
      'deploy/values.yaml': 'replicaCount: 1\n',
      'chart/Chart.yaml': 'apiVersion: v2\nname: app\nversion: 1.0.0\n',
      'chart/templates/cm.yaml': 'kind: ConfigMap\n',
    },
  });
  await gh.createRepo('org/elsewhere', { files: { 'README.md': 'not installed\n' } });
  gh.install(INSTALLATION, 'org', ['app']);
  first = await gh.git.head('org/app', 'main');
  second = await gh.commit('org/app', 'main', { 'deploy/values.yaml': 'replicaCount: 2\n' });

  probot = new Probot({
    appId: APP_ID,
    privateKey,
    baseUrl: gh.apiUrl,
    log: createLogger({
      level: 'warn',
      destination: new Writable({
        write(chunk, _encoding, done) {
          probotLog.push(String(chunk));
          done();
        },
      }),
    }),
  });
  octokit = await probot.auth(INSTALLATION);
  const token = await mintToken();
  plain = new ProbotOctokit({
    auth: { token },
    baseUrl: gh.apiUrl,
    throttle: { enabled: false },
    retry: { enabled: false },
  });
});

afterAll(async () => {
  await gh?.stop();
});

describe('GitHub stand-in: authentication', () => {
  it("mints installation tokens for the App's JWT, and refuses a JWT another key signed", async () => {
    const from = gh.requests.length;
    const fresh = await probot.auth(INSTALLATION);
    const { data, headers } = await fresh.request('GET /repos/{owner}/{repo}', {
      owner: 'org',
      repo: 'app',
    });
    expect(data.full_name).toBe('org/app');
    expect(headers['x-ratelimit-limit']).toBe('5000');
    expect(headers['x-ratelimit-resource']).toBe('core');
    expect(Number(headers['x-ratelimit-remaining'])).toBeLessThan(5000);

    const appOctokit = await probot.auth();
    const minted = await appOctokit.request(
      'POST /app/installations/{installation_id}/access_tokens',
      { installation_id: INSTALLATION },
    );
    expect(minted.status).toBe(201);
    expect(minted.data.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(Date.parse(minted.data.expires_at) - Date.now()).toBeGreaterThan(3500_000);
    const seen = since(from).map((r) => [r.route, r.status, r.identity]);
    expect(seen).toContainEqual([
      'POST /app/installations/{installation_id}/access_tokens',
      201,
      'app',
    ]);
    expect(seen).toContainEqual(['GET /repos/{owner}/{repo}', 200, `installation:${INSTALLATION}`]);

    const impostor = new Probot({ appId: APP_ID, privateKey: key(), baseUrl: gh.apiUrl });
    const refused = await refusal(
      impostor.auth(INSTALLATION).then((o) => o.request('GET /repos/org/app')),
    );
    expect(refused.status).toBe(401);
    expect(refused.data).toMatchObject({ message: 'A JSON web token could not be decoded' });
  });

  it('shows an installation only its repositories, and the App where it is installed', async () => {
    expect((await refusal(octokit.request('GET /repos/org/elsewhere'))).status).toBe(404);
    const appOctokit = await probot.auth();
    const { data } = await appOctokit.request('GET /repos/{owner}/{repo}/installation', {
      owner: 'org',
      repo: 'app',
    });
    expect(data.id).toBe(INSTALLATION);
    const missing = await refusal(
      appOctokit.request('GET /repos/{owner}/{repo}/installation', {
        owner: 'org',
        repo: 'elsewhere',
      }),
    );
    expect(missing.status).toBe(404);
  });
});

describe('GitHub stand-in: contents from the real repository', () => {
  it('reads a file at each commit, raw as DAG asks and base64 by default', async () => {
    const platform = new GitHubPlatform(octokit);
    expect(await platform.readFile(app, first, 'deploy/values.yaml')).toBe('replicaCount: 1\n');
    expect(await platform.readFile(app, second, 'deploy/values.yaml')).toBe('replicaCount: 2\n');
    expect(await platform.readFile(app, second, 'deploy/values-prod.yaml')).toBeUndefined();

    const { data } = await octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
      owner: 'org',
      repo: 'app',
      path: 'deploy/values.yaml',
      ref: first,
    });
    const file = data as { type: string; encoding: string; content: string; sha: string };
    expect(file.type).toBe('file');
    expect(file.encoding).toBe('base64');
    expect(Buffer.from(file.content, 'base64').toString('utf8')).toBe('replicaCount: 1\n');
    expect(file.sha).toBe(
      await gh.git.git('org/app', ['rev-parse', `${first}:deploy/values.yaml`]),
    );

    const unknown = await refusal(
      octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
        owner: 'org',
        repo: 'app',
        path: 'deploy/values.yaml',
        ref: 'f'.repeat(40),
      }),
    );
    expect(unknown).toMatchObject({
      status: 404,
      data: { message: `No commit found for the ref ${'f'.repeat(40)}` },
    });
  });

  it('lists a folder through the trees API, as DAG reads a chart', async () => {
    const platform = new GitHubPlatform(octokit);
    expect(await platform.readFolder(app, second, 'chart')).toEqual({
      'Chart.yaml': 'apiVersion: v2\nname: app\nversion: 1.0.0\n',
      'templates/cm.yaml': 'kind: ConfigMap\n',
    });
  });
});

describe('GitHub stand-in: deployments', () => {
  it('keeps a deployment and its statuses in order; a later success makes the earlier inactive', async () => {
    const platform = new GitHubPlatform(octokit);
    const ids: string[] = [];
    for (const sha of [first, second]) {
      const id = await platform.createDeployment(app, {
        sha,
        ref: 'main',
        environment: 'staging',
        description: `deploy ${sha.slice(0, 7)}`,
      });
      ids.push(id);
      const deployment = { id, sha, ref: 'main', environment: 'staging' };
      for (const state of ['queued', 'in_progress', 'success'] as const) {
        await platform.setDeploymentState(app, deployment, {
          state,
          description: state,
          ...(state === 'success' ? { logUrl: `${gh.url}/org/iac/commit/${'a'.repeat(40)}` } : {}),
        });
      }
    }
    const [older, newer] = gh.deployments('org/app').filter((d) => ids.includes(String(d.id)));
    expect(newer).toMatchObject({
      sha: second,
      ref: second,
      environment: 'staging',
      autoMerge: false,
      requiredContexts: [],
      productionEnvironment: false,
      payload: { dag: { ref: 'main' } },
      creator: { login: 'dag[bot]', type: 'Bot' },
    });
    expect(newer?.statuses.map((s) => s.state)).toEqual(['queued', 'in_progress', 'success']);
    expect(newer?.statuses[2]?.logUrl).toMatch(/\/org\/iac\/commit\/a{40}$/);
    expect(older?.statuses.map((s) => s.state)).toEqual([
      'queued',
      'in_progress',
      'success',
      'inactive',
    ]);
    const times = newer?.statuses.map((s) => s.at) ?? [];
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it("answers 422 in GitHub's shape for a missing ref, an unknown state, a long description", async () => {
    const missing = await refusal(
      octokit.request('POST /repos/{owner}/{repo}/deployments', {
        owner: 'org',
        repo: 'app',
        environment: 'staging',
      } as never),
    );
    expect(missing).toEqual({
      status: 422,
      data: {
        message: 'Validation Failed',
        errors: [{ resource: 'Deployment', code: 'missing_field', field: 'ref' }],
        documentation_url: expect.stringContaining('#create-a-deployment'),
        status: '422',
      },
    });

    const id = gh.deployments('org/app')[0]?.id as number;
    const status = (body: Record<string, unknown>) =>
      refusal(
        plain.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
          owner: 'org',
          repo: 'app',
          deployment_id: id,
          ...body,
        } as never),
      );
    expect(await status({ state: 'done' })).toMatchObject({
      status: 422,
      data: { errors: [{ resource: 'DeploymentStatus', code: 'invalid', field: 'state' }] },
    });
    expect(await status({ state: 'success', description: 'x'.repeat(141) })).toMatchObject({
      status: 422,
      data: {
        errors: [
          {
            code: 'custom',
            field: 'description',
            message: 'description is too long (maximum is 140 characters)',
          },
        ],
      },
    });
    const unknownRef = await refusal(
      plain.request('POST /repos/{owner}/{repo}/deployments', {
        owner: 'org',
        repo: 'app',
        ref: 'no-such-branch',
        auto_merge: false,
        required_contexts: [],
      }),
    );
    expect(unknownRef).toMatchObject({
      status: 422,
      data: { message: 'No ref found for: no-such-branch' },
    });
  });
});

describe('GitHub stand-in: comments, checks, pull requests', () => {
  it("keeps DAG's sticky comments and refuses bodies over 65,536 characters", async () => {
    const number = gh.openIssue('org/app', { title: 'a pull request stand-in' });
    const command = gh.addComment('org/app', number, '/diff');
    const platform = new GitHubPlatform(plain);
    await platform.react(app, { number, id: command.id }, 'eyes');
    await platform.upsertComments(app, number, 'diff', ['one', 'two']);
    await platform.upsertComments(app, number, 'diff', ['only']);
    const bodies = gh.comments('org/app', number).map((c) => c.body);
    expect(bodies).toEqual(['/diff', '<!-- dag:diff:0 -->\nonly']);
    // Read back without the markers; a person's comment that copies one is not DAG's.
    gh.addComment('org/app', number, '<!-- dag:diff:1 -->\nnot DAG');
    expect(await platform.readComments(app, number, 'diff')).toEqual(['only']);
    expect(await platform.readComments(app, number, 'command')).toEqual([]);
    expect(gh.state.comments.get(command.id)?.reactions.map((r) => r.content)).toEqual(['eyes']);

    const post = (body: string) =>
      plain.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
        owner: 'org',
        repo: 'app',
        issue_number: number,
        body,
      });
    expect((await post('x'.repeat(65536))).status).toBe(201);
    expect(await refusal(post('x'.repeat(65537)))).toMatchObject({
      status: 422,
      data: { errors: [{ resource: 'IssueComment', code: 'custom', field: 'body' }] },
    });
  });

  it('refuses check run output over 65,535 characters and a completed run without conclusion', async () => {
    const create = (body: Record<string, unknown>) =>
      plain.request('POST /repos/{owner}/{repo}/check-runs', {
        owner: 'org',
        repo: 'app',
        name: 'dag/diff',
        head_sha: second,
        ...body,
      } as never);
    const platform = new GitHubPlatform(plain);
    const check = { name: 'dag/diff', sha: second, title: 'Diff', status: 'completed' as const };
    await platform.publishCheck(app, { ...check, conclusion: 'neutral', summary: 'first' });
    await platform.publishCheck(app, { ...check, conclusion: 'success', summary: 'second' });
    expect(gh.state.checkRuns.map((r) => [r.conclusion, r.output.summary])).toEqual([
      ['success', 'second'],
    ]);
    expect(
      await refusal(create({ output: { title: 't', summary: 'x'.repeat(65536) } })),
    ).toMatchObject({
      status: 422,
      data: { errors: [{ field: 'output.summary', code: 'custom' }] },
    });
    expect(await refusal(create({ status: 'completed' }))).toMatchObject({
      status: 422,
      data: { errors: [{ field: 'conclusion', code: 'missing_field' }] },
    });
  });

  it('opens one pull request per head and base, found again by owner:branch', async () => {
    await gh.createBranch('org/app', 'dag/promote', 'main');
    await gh.commit('org/app', 'dag/promote', { 'deploy/values.yaml': 'replicaCount: 3\n' });
    const platform = new GitHubPlatform(plain);
    const input = {
      head: 'dag/promote',
      base: 'main',
      title: 'Promote',
      body: 'b',
      labels: ['dag'],
    };
    const opened = await platform.createChangeRequest(app, input);
    expect(opened).toMatchObject({ state: 'open', headRef: 'dag/promote', baseRef: 'main' });
    expect(await platform.findOpenChangeRequest(app, 'dag/promote', 'main')).toMatchObject({
      number: opened.number,
    });
    const again = await refusal(platform.createChangeRequest(app, input));
    expect(JSON.stringify(again)).toContain('A pull request already exists for org:dag/promote.');
    expect(gh.pulls('org/app')[0]?.labels).toEqual(['dag']);
    await platform.closeChangeRequest(app, opened.number, 'nothing left to promote');
    expect(await platform.findOpenChangeRequest(app, 'dag/promote', 'main')).toBeUndefined();
  });

  it("writes DAG's branch through the Git Data API with GitHub's rules on references", async () => {
    const platform = new GitHubPlatform(plain);
    const base = await gh.git.head('org/app', 'main');
    const files = { 'deploy/values-staging.yaml': { content: 'a: 1\n', existsAtBase: false } };
    const input = { branch: 'dag/fix/app/staging', base, message: 'Fix\n', files };
    const { sha } = await platform.commitFiles(app, { ...input, expectedHead: null });
    expect(await gh.git.git('org/app', ['log', '-1', '--format=%P %an', sha])).toBe(
      `${base} dag[bot]`,
    );
    expect(
      (await gh.git.files('org/app', 'dag/fix/app/staging'))['deploy/values-staging.yaml'],
    ).toBe('a: 1\n');
    // A second commit on the same base replaces DAG's (a forced move), the file deleted.
    const next = await platform.commitFiles(app, {
      ...input,
      expectedHead: sha,
      files: { 'deploy/values-staging.yaml': { content: null, existsAtBase: false } },
    });
    expect(await gh.git.git('org/app', ['rev-parse', 'dag/fix/app/staging'])).toBe(next.sha);
    // GitHub refuses a reference that exists, and a move that is not a fast-forward unforced.
    const where = { owner: 'org', repo: 'app' };
    const exists = await refusal(
      plain.request('POST /repos/{owner}/{repo}/git/refs', {
        ...where,
        ref: 'refs/heads/dag/fix/app/staging',
        sha: base,
      }),
    );
    expect(exists).toMatchObject({ status: 422, data: { message: 'Reference already exists' } });
    const unforced = await refusal(
      plain.request('PATCH /repos/{owner}/{repo}/git/refs/{ref}', {
        ...where,
        ref: 'heads/dag/fix/app/staging',
        sha: first,
      }),
    );
    expect(unforced).toMatchObject({
      status: 422,
      data: { message: 'Update is not a fast forward' },
    });
    const missing = await refusal(
      plain.request('POST /repos/{owner}/{repo}/git/commits', {
        ...where,
        message: 'm',
        tree: '0'.repeat(40),
      }),
    );
    expect(missing.status).toBe(422);
  });

  it("answers the reads DAG's commands and promotions make from the repository and its records", async () => {
    const platform = new GitHubPlatform(plain);
    const comparison = await platform.compare(app, 'main', 'dag/promote', 20);
    expect(comparison).toMatchObject({ totalCommits: 1, files: ['deploy/values.yaml'] });
    expect(comparison.commits[0]).toMatchObject({ title: 'a commit', author: 'A Human' });

    gh.setPermission('org/app', 'maintainer', 'maintain');
    expect(await platform.permissionOf(app, 'maintainer')).toBe('maintain');
    expect(await platform.permissionOf(app, 'stranger')).toBe('none');

    const number = (
      await platform.createChangeRequest(app, {
        head: 'dag/promote',
        base: 'main',
        title: 'Promote again',
        body: '',
        labels: [],
      })
    ).number;
    gh.addReview('org/app', number, 'alice', 'APPROVED');
    expect(await platform.isApproved(app, number)).toBe(true);
    gh.addReview('org/app', number, 'bob', 'CHANGES_REQUESTED');
    expect(await platform.isApproved(app, number)).toBe(false);

    const head = await gh.git.head('org/app', 'dag/promote');
    expect(await platform.checksPassed(app, head, [])).toBe(true);
    await plain.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
      owner: 'org',
      repo: 'app',
      sha: head,
      state: 'failure',
      context: 'ci',
    });
    expect(await platform.checksPassed(app, head, [])).toBe(false);
    expect(await platform.checksPassed(app, head, ['ci'])).toBe(true);
  });
});

describe('GitHub stand-in: rate limits and faults', () => {
  /** A deployment to report on, made before any limit is set. */
  const deployment = async () => ({
    id: await new GitHubPlatform(plain).createDeployment(app, {
      sha: second,
      ref: 'main',
      environment: 'staging',
      description: 'throttled',
    }),
    sha: second,
    ref: 'main',
    environment: 'staging',
  });

  /**
   * Two status writes on `target` through `octokit` under a secondary limit of one write per
   * `windowMs`: the second is refused once (403, secondary), then sent again unchanged no sooner
   * than Retry-After said. The refused request.
   */
  async function writesUnderSecondaryLimit(
    octokit: ConstructorParameters<typeof GitHubPlatform>[0],
    target: Awaited<ReturnType<typeof deployment>>,
    windowMs: number,
  ): Promise<RequestRecord> {
    gh.configure({ secondary: { limit: 1, windowMs } });
    try {
      const from = gh.requests.length;
      const platform = new GitHubPlatform(octokit);
      await platform.setDeploymentState(app, target, { state: 'in_progress', description: 'a' });
      await platform.setDeploymentState(app, target, { state: 'success', description: 'b' });

      const writes = since(from).filter((r) => r.write);
      expect(writes.map((r) => [r.status, r.limited ?? null])).toEqual([
        [201, null],
        [403, 'secondary'],
        [201, null],
      ]);
      const [, limited, retried] = writes as [RequestRecord, RequestRecord, RequestRecord];
      expect(retried.body).toEqual(limited.body);
      // Octokit waited at least Retry-After seconds before it sent the write again.
      expect(retried.startedAt - limited.finishedAt).toBeGreaterThanOrEqual(
        (limited.retryAfter ?? 0) * 1000 - 20,
      );
      return limited;
    } finally {
      gh.configure({ secondary: null });
    }
  }

  it("answers a secondary rate limit with 403 and Retry-After; ProbotOctokit's throttling waits it out", async () => {
    const target = await deployment();
    // The token client DAG builds for an IAC repository without the App: ProbotOctokit with
    // its default throttle handlers, which retry after Retry-After.
    const warnings: string[] = [];
    const tokenClient = new ProbotOctokit({
      auth: { token: await mintToken() },
      baseUrl: gh.apiUrl,
      log: {
        debug: () => {},
        info: () => {},
        warn: (m: string) => warnings.push(m),
        error: () => {},
      },
    });
    const limited = await writesUnderSecondaryLimit(tokenClient, target, 4000);
    expect(limited.retryAfter).toBeGreaterThanOrEqual(1);
    expect(warnings.join('\n')).toContain(`retrying in ${limited.retryAfter} seconds`);
  }, 20_000);

  it("DAG's App Octokit waits out a secondary limit within the call (Probot's own handler only logs)", async () => {
    const target = await deployment();
    const lines: string[] = [];
    const dagProbot = createProbot(
      {
        appId: String(APP_ID),
        privateKey,
        webhookSecret: 'stand-in-secret',
        webhookPath: '/api/github/webhooks',
        baseUrl: gh.apiUrl,
      },
      createLogger({
        level: 'warn',
        destination: new Writable({
          write(chunk, _encoding, done) {
            lines.push(String(chunk));
            done();
          },
        }),
      }),
    );
    const dagOctokit = await dagProbot.auth(INSTALLATION);
    const limited = await writesUnderSecondaryLimit(dagOctokit, target, 3000);
    expect(lines.join('')).toContain(
      `GitHub secondary rate limit: sending the request again in ${limited.retryAfter} s`,
    );
  }, 20_000);

  it("Probot's own App Octokit only logs a secondary limit: the 403 reaches the caller", async () => {
    const target = await deployment();
    gh.configure({ secondary: { limit: 1, windowMs: 60_000 } });
    try {
      const from = gh.requests.length;
      const platform = new GitHubPlatform(octokit);
      await platform.setDeploymentState(app, target, { state: 'in_progress', description: 'a' });
      const refused = await platform
        .setDeploymentState(app, target, { state: 'success', description: 'b' })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      // Probot 14 passes its own throttle handlers to the App's Octokit; the secondary one
      // returns nothing, so the throttling plugin does not retry: why createProbot sets its own.
      expect(refused).toMatchObject({ kind: 'transient', status: 403 });
      expect(
        since(from)
          .filter((r) => r.write)
          .map((r) => r.status),
      ).toEqual([201, 403]);
      expect(probotLog.join('')).toContain('Secondary quota detected');
    } finally {
      gh.configure({ secondary: null });
    }
  }, 20_000);

  it('fails the same writes for the same seed, and a lost answer still leaves the write done', async () => {
    const run = async () => {
      gh.configure({ faults: { seed: 42, rate: 0.3, kinds: ['bad-gateway', 'secondary'] } });
      const outcomes: number[] = [];
      for (let i = 0; i < 20; i++) {
        const answer = await plain
          .request('POST /repos/{owner}/{repo}/statuses/{sha}', {
            owner: 'org',
            repo: 'app',
            sha: second,
            state: 'success',
            context: `c${i}`,
          })
          .then((r) => r.status)
          .catch((e: { status: number }) => e.status);
        outcomes.push(answer);
      }
      return outcomes;
    };
    try {
      const once = await run();
      expect(await run()).toEqual(once);
      expect(once.filter((s) => s === 201).length).toBeGreaterThan(5);
      expect(once.some((s) => s === 502)).toBe(true);
      expect(once.some((s) => s === 403)).toBe(true);

      gh.configure({ faults: { seed: 1, rate: 1, kinds: ['lost-bad-gateway'] } });
      const before = gh.state.commitStatuses.length;
      const lost = await refusal(
        plain.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
          owner: 'org',
          repo: 'app',
          sha: second,
          state: 'pending',
        }),
      );
      expect(lost.status).toBe(502);
      expect(gh.state.commitStatuses.length).toBe(before + 1);
    } finally {
      gh.configure({ faults: null });
    }
  });
});

describe('GitHub stand-in: git and unknown routes', () => {
  it('serves the real repository over git with installation tokens, and refuses others', async () => {
    const token = await mintToken();
    const dir = await mkdtemp(path.join(tmpdir(), 'stand-in-clone-'));
    const env = (secret: string) => ({
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_CONFIG_VALUE_0: `Authorization: Basic ${Buffer.from(`x-access-token:${secret}`).toString('base64')}`,
    });
    try {
      await exec('git', ['clone', '-q', gh.cloneUrl('org/app'), path.join(dir, 'ok')], {
        env: env(token),
      });
      const head = await exec('git', ['rev-parse', 'HEAD'], { cwd: path.join(dir, 'ok') });
      expect(head.stdout.trim()).toBe(await gh.git.head('org/app', 'main'));
      await expect(
        exec('git', ['clone', '-q', gh.cloneUrl('org/app'), path.join(dir, 'no')], {
          env: env('ghs_wrong'),
        }),
      ).rejects.toThrow();
      await expect(
        exec('git', ['clone', '-q', gh.cloneUrl('org/elsewhere'), path.join(dir, 'other')], {
          env: env(token),
        }),
      ).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const git = gh.requests.filter((r) => r.kind === 'git').map((r) => r.status);
    expect(git).toContain(200);
    expect(git).toContain(401);
    expect(git).toContain(404);
  });

  it('answers an unknown route 404 and records it as unexpected', async () => {
    expect(gh.unexpected()).toEqual([]);
    const answer = await refusal(
      octokit.request('GET /repos/{owner}/{repo}/branches', { owner: 'org', repo: 'app' }),
    );
    expect(answer.status).toBe(404);
    expect(gh.unexpected()).toMatchObject([
      { method: 'GET', path: '/repos/org/app/branches', route: null, status: 404 },
    ]);
  });

  it("saw only fields GitHub documents in every body DAG's platform sent", () => {
    // GitHub ignores an unknown field silently; the stand-in records it, so a misspelt one
    // (a `log_url` that never reaches GitHub) shows here.
    expect(gh.requests.filter((r) => r.ignoredFields)).toEqual([]);
    expect(gh.requests.filter((r) => r.kind === 'api').length).toBeGreaterThan(50);
  });
});
