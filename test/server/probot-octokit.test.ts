import { Writable } from 'node:stream';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import type { ProviderRequest } from '../../src/platform/request-metrics.ts';
import {
  MAX_RATE_LIMIT_RETRIES,
  MAX_RATE_LIMIT_WAIT_SECONDS,
  createProbot,
  rateLimitHandler,
} from '../../src/server/github.ts';
import { testPrivateKey } from '../helpers/service.ts';

const API = 'https://api.github.com';
const github = {
  appId: '4242',
  privateKey: testPrivateKey,
  webhookSecret: 'gh-secret-for-probot-octokit',
  webhookPath: '/api/github/webhooks',
  baseUrl: undefined,
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  expect(nock.pendingMocks()).toEqual([]);
  nock.cleanAll();
});

describe("the GitHub App's Octokit", () => {
  it('reports each API request, and logs no request body even at debug', async () => {
    const lines: string[] = [];
    const log = createLogger({
      level: 'debug',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
    const seen: ProviderRequest[] = [];
    const probot = createProbot(github, log, {
      throttle: false,
      onRequest: (request) => seen.push(request),
    });
    nock(API)
      .post('/app/installations/4711/access_tokens')
      .reply(201, { token: 'ghs_x', expires_at: new Date(Date.now() + 3600_000).toISOString() })
      .post('/repos/octo-org/my-app/issues/7/comments')
      .reply(201, { id: 1 }, { 'x-ratelimit-remaining': '4999', 'x-ratelimit-resource': 'core' });

    const octokit = await probot.auth(4711);
    await octokit.request('POST /repos/{owner}/{repo}/issues/{issue_number}/comments', {
      owner: 'octo-org',
      repo: 'my-app',
      issue_number: 7,
      body: 'SECRET-COMMENT-BODY',
    });

    expect(seen).toContainEqual({
      seconds: expect.any(Number),
      provider: 'github',
      host: 'api.github.com',
      route: 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
      status: 201,
      rateLimit: { resource: 'core', remaining: 4999 },
    });
    expect(lines.join('')).not.toContain('SECRET-COMMENT-BODY');
  });
});

describe('rateLimitHandler', () => {
  const lines: string[] = [];
  const log = createLogger({
    level: 'warn',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  const handle = rateLimitHandler(log, 'secondary');
  const request = (retryCount: number) => ({
    method: 'POST',
    url: '/repos/{owner}/{repo}/deployments',
    request: { retryCount },
  });

  it.each([
    [1, 0, true],
    [MAX_RATE_LIMIT_WAIT_SECONDS, MAX_RATE_LIMIT_RETRIES - 1, true],
    [MAX_RATE_LIMIT_WAIT_SECONDS + 1, 0, false],
    [1, MAX_RATE_LIMIT_RETRIES, false],
  ])('waits %i s after %i retries: %s', (retryAfter, retries, expected) => {
    expect(handle(retryAfter, request(retries))).toBe(expected);
    const last = JSON.parse(lines.at(-1) as string) as Record<string, unknown>;
    expect(last).toMatchObject({
      route: 'POST /repos/{owner}/{repo}/deployments',
      retryAfter,
      retry: expected,
    });
  });
});
