import { Writable } from 'node:stream';
import Bottleneck from 'bottleneck';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger, type Logger } from '../../src/log.ts';
import {
  isContentWrite,
  sharedWriteLimit,
  unpacedWriteGroup,
} from '../../src/platform/github/write-limit.ts';
import { createProbot } from '../../src/server/github.ts';
import type { Queryable } from '../../src/store/db.ts';
import { openPostgres } from '../../src/store/postgres.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { testPrivateKey } from '../helpers/service.ts';

/** A logger at warn whose lines (parsed) land in `lines`. */
function capturingLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  });
  return { log, lines };
}

/** The database, with a promise for the rows of the next statement it answers. */
function watched(db: Queryable): { db: Queryable; nextAnswer(): Promise<unknown[]> } {
  const waiting: ((rows: unknown[]) => void)[] = [];
  return {
    db: {
      query: async <R>(text: string, values?: unknown[]) => {
        const result = await db.query<R>(text, values);
        waiting.shift()?.(result.rows);
        return result;
      },
    },
    nextAnswer: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

const WARNING = 'the shared GitHub write budget could not be read: writing anyway';

describe.each(LANES)('the shared GitHub write budget (%s)', (laneName) => {
  let lane: LaneDb;
  beforeEach(async () => {
    lane = await openLane(laneName);
  });
  afterEach(async () => {
    await lane.drop();
  });

  const row = async () => {
    const { rows } = await lane.db.query<{ points: number; expire: string }>(
      'SELECT points, expire FROM provider_write_limits WHERE key = $1',
      ['github:shared'],
    );
    expect(rows).toHaveLength(1);
    return { points: rows[0]!.points, expire: Number(rows[0]!.expire) };
  };

  it('is one budget for two DAG processes: the write past it waits for the next window', async () => {
    const budget = { points: 3, durationSeconds: 3, key: 'shared' };
    const one = sharedWriteLimit(lane.db, quiet, budget);
    const watch = watched(lane.db);
    const other = sharedWriteLimit(watch.db, quiet, budget);

    // Three writes, from both processes, go at once: all three in the same window.
    await Promise.all([one(), other(), one()]);
    const first = await row();
    expect(first.points).toBe(3);

    // The fourth, from the other process, is told by the database that the window is spent...
    const answered = watch.nextAnswer();
    let written = false;
    const fourth = other().then(() => {
      written = true;
    });
    expect(await answered).toEqual([{ points: 4, expire: String(first.expire) }]);
    // ...and, all that answer set in motion having run, it has not gone ahead.
    await new Promise((resolve) => setImmediate(resolve));
    expect(written).toBe(false);

    // It goes once the window rolls over, as the first write of the next one.
    await fourth;
    expect(written).toBe(true);
    const next = await row();
    expect(next.points).toBe(1);
    expect(next.expire).toBeGreaterThan(first.expire);
  }, 30_000);

  it('lets writes go ahead, logged, when the database is closed', async () => {
    const closed = await openPostgres(
      lane.url,
      laneName === 'embedded' ? { kind: 'embedded' } : {},
    );
    await closed.close();
    const { log, lines } = capturingLog();
    const take = sharedWriteLimit(closed, log, { points: 1 });

    await take();
    await take(); // a failure is not a spent budget: the next write does not wait either

    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ level: 40, msg: WARNING, err: { type: 'Error' } });
  });
});

describe('the shared GitHub write budget, unreadable', () => {
  it('lets writes go ahead, logged with the error, when a query fails', async () => {
    const { log, lines } = capturingLog();
    const failing: Queryable = {
      query: () => Promise.reject(new Error('connection terminated unexpectedly')),
    };
    const take = sharedWriteLimit(failing, log, { points: 1, durationSeconds: 60 });

    await Promise.all([take(), take(), take()]);

    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line).toMatchObject({
        level: 40,
        msg: WARNING,
        err: { message: 'connection terminated unexpectedly' },
      });
    }
  });
});

describe('isContentWrite', () => {
  it.each([
    ['POST', '/repos/{owner}/{repo}/deployments'],
    ['POST', '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses'],
    ['PATCH', '/repos/{owner}/{repo}/check-runs/{check_run_id}'],
    ['PUT', '/repos/{owner}/{repo}/contents/{path}'],
    ['DELETE', '/repos/{owner}/{repo}/git/refs/{ref}'],
    ['POST', '/repos/org/my-app/issues/7/comments'],
    ['POST', 'https://api.github.com/repos/org/my-app/issues/7/comments'],
    ['POST', '/api/v3/repos/org/my-app/statuses/abc'],
    ['POST', 'https://ghe.example.com/api/v3/repos/org/my-app/statuses/abc'],
  ])('%s %s creates content', (method, url) => {
    expect(isContentWrite(method, url)).toBe(true);
  });

  it.each([
    ['GET', '/repos/{owner}/{repo}/contents/{path}'],
    ['HEAD', '/repos/org/my-app'],
    ['GET', 'https://api.github.com/repos/org/my-app/deployments'],
    ['POST', '/app/installations/1/access_tokens'],
    ['POST', '/app/installations/{installation_id}/access_tokens'],
    ['POST', '/api/v3/app/installations/1/access_tokens'],
    ['POST', 'https://api.github.com/app/installations/1/access_tokens'],
    ['POST', 'https://ghe.example.com/api/v3/app/installations/1/access_tokens'],
    ['POST', '/graphql'],
    ['POST', 'https://api.github.com/graphql'],
    ['POST', '/api/v3/graphql'],
  ])('%s %s does not', (method, url) => {
    expect(isContentWrite(method, url)).toBe(false);
  });
});

describe('unpacedWriteGroup', () => {
  it('runs writes one at a time, without a gap between them', async () => {
    const group = unpacedWriteGroup();
    const limiter = group.key('123');
    // Bottleneck keeps a limiter's settings in its datastore; there is no public getter.
    const settings = (
      limiter as unknown as { _store: { storeOptions: { minTime: number; maxConcurrent: number } } }
    )._store.storeOptions;
    expect(settings).toMatchObject({ minTime: 0, maxConcurrent: 1 });

    // The same, through Bottleneck's check(): "would a job run right now?"
    await limiter.schedule(async () => undefined);
    expect(await limiter.check()).toBe(true); // no pause after a write...
    let release!: () => void;
    let running!: Promise<void>;
    await new Promise<void>((started) => {
      running = limiter.schedule(() => {
        started();
        return new Promise<void>((resolve) => (release = resolve));
      });
    });
    expect(await limiter.check()).toBe(false); // ...but one write at a time
    release();
    await running;

    // What it replaces: plugin-throttling's own write group would make the next write wait.
    const paced = new Bottleneck.Group({ maxConcurrent: 1, minTime: 1000 }).key('123');
    await paced.schedule(async () => undefined);
    expect(await paced.check()).toBe(false);
  });
});

describe("the GitHub App's Octokit with a write budget", () => {
  const API = 'https://api.github.com';
  const github = {
    appId: '4242',
    privateKey: testPrivateKey,
    webhookSecret: 'gh-secret-for-write-limit',
    webhookPath: '/api/github/webhooks',
    baseUrl: undefined,
  };

  beforeAll(() => {
    nock.disableNetConnect();
    nock.enableNetConnect('127.0.0.1');
  });
  afterEach(() => {
    nock.cleanAll();
  });
  afterAll(() => {
    nock.enableNetConnect();
  });

  it('takes a write for each content-creating request, not for reads or the token', async () => {
    let taken = 0;
    const probot = createProbot(github, quiet, {
      throttle: true,
      writeLimit: async () => {
        taken++;
      },
    });
    const scope = nock(API)
      .post('/app/installations/123/access_tokens')
      .reply(201, { token: 'ghs_x', expires_at: new Date(Date.now() + 3600_000).toISOString() })
      .get('/repos/org/my-app/deployments/9')
      .reply(200, { id: 9 })
      .post('/repos/org/my-app/deployments/9/statuses')
      .times(2)
      .reply(201, { id: 1 });

    const octokit = await probot.auth(123);
    const status = (state: 'in_progress' | 'success') =>
      octokit.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        owner: 'org',
        repo: 'my-app',
        deployment_id: 9,
        state,
      });
    await octokit.request('GET /repos/{owner}/{repo}/deployments/{deployment_id}', {
      owner: 'org',
      repo: 'my-app',
      deployment_id: 9,
    });
    await status('in_progress');
    await status('success');

    scope.done();
    expect(taken).toBe(2);
  });

  it('sends a write only once the budget has given it', async () => {
    // A budget that refuses (the real one never does) shows the request waits for its answer.
    const probot = createProbot(github, quiet, {
      throttle: true,
      writeLimit: async () => {
        throw new Error('no write for you');
      },
    });
    nock(API)
      .post('/app/installations/123/access_tokens')
      .reply(201, { token: 'ghs_x', expires_at: new Date(Date.now() + 3600_000).toISOString() });
    const write = nock(API).post('/repos/org/my-app/deployments/9/statuses').reply(201, { id: 1 });

    const octokit = await probot.auth(123);
    await expect(
      octokit.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        owner: 'org',
        repo: 'my-app',
        deployment_id: 9,
        state: 'success',
      }),
    ).rejects.toThrow('no write for you');
    expect(write.isDone()).toBe(false);
  });

  it("replaces plugin-throttling's one-a-second write pacing with the unpaced group", async () => {
    const probot = createProbot(github, quiet, { throttle: true, writeLimit: async () => {} });
    nock(API)
      .post('/app/installations/123/access_tokens')
      .reply(201, { token: 'ghs_x', expires_at: new Date(Date.now() + 3600_000).toISOString() })
      .post('/repos/org/my-app/deployments/9/statuses')
      .reply(201, { id: 1 });

    // The options the App's Octokits are built with, as Probot's own factory is given them.
    const app = await probot.auth();
    const options = (await app.auth({
      type: 'installation',
      installationId: 123,
      factory: ({ octokitOptions }: { octokitOptions: { throttle: { write: unknown } } }) =>
        octokitOptions,
    })) as { throttle: { write: unknown } };
    const write = options.throttle.write as Bottleneck.Group;
    expect(write).toBeInstanceOf(Bottleneck.Group);

    const octokit = await probot.auth(123);
    await octokit.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
      owner: 'org',
      repo: 'my-app',
      deployment_id: 9,
      state: 'success',
    });

    // The installation's write went through that group (keyed by installation), and the next
    // one could go at once: plugin-throttling's default group would hold it for a second.
    expect(write.keys()).toContain('123');
    const limiter = write.key('123');
    expect(
      (limiter as unknown as { _store: { storeOptions: { minTime: number } } })._store.storeOptions
        .minTime,
    ).toBe(0);
    expect(await limiter.check()).toBe(true);
  });
});
