import Bottleneck from 'bottleneck';
import { RateLimiterPostgres, RateLimiterQueue } from 'rate-limiter-flexible';
import type { Logger } from '../../log.ts';
import type { Queryable } from '../../store/db.ts';

/**
 * GitHub's documented secondary limit for content-creating requests: "no more than 80 ... per
 * minute" (and 500 per hour), per App installation or user. DAG's App stays inside it with one
 * budget shared by all of its processes.
 */
export const GITHUB_WRITES_PER_MINUTE = 80;

/** Takes one write from the shared budget, waiting for the next window when it is spent. */
export type WriteLimit = () => Promise<void>;

/**
 * The App's write budget, kept in DAG's database (rate-limiter-flexible's Postgres store, table
 * `provider_write_limits`), so two DAG processes never spend 80 a minute each. Writes over the
 * budget wait in this process, first come first served, for the window to roll over. If the
 * database cannot be asked, the write goes ahead (logged): a lost budget must not stop deploys,
 * and GitHub's own answer (a secondary-limit 403 with Retry-After) is still waited out.
 */
export function sharedWriteLimit(
  db: Queryable,
  log: Logger,
  options: { points?: number; durationSeconds?: number; key?: string } = {},
): WriteLimit {
  const limiter = new RateLimiterPostgres({
    // Plain queries: named prepared statements would collide on the embedded database's one
    // shared session.
    storeClient: {
      query: (q: { text: string; values?: unknown[] }) => db.query(q.text, q.values),
    },
    storeType: 'client',
    tableName: 'provider_write_limits',
    tableCreated: true,
    clearExpiredByTimeout: false,
    keyPrefix: 'github',
    points: options.points ?? GITHUB_WRITES_PER_MINUTE,
    duration: options.durationSeconds ?? 60,
  });
  const queue = new RateLimiterQueue(limiter);
  const key = options.key ?? 'app';
  return async () => {
    try {
      await queue.removeTokens(1, key);
    } catch (error) {
      log.warn({ err: error }, 'the shared GitHub write budget could not be read: writing anyway');
    }
  };
}

/** Whether a request creates content on GitHub (and so counts against the write budget). */
export function isContentWrite(method: string, url: string): boolean {
  if (method === 'GET' || method === 'HEAD') return false;
  const path = url.replace(/^https?:\/\/[^/]+/, '').replace(/^\/api\/v3/, '');
  // Authentication (installation tokens) and GraphQL queries are not content.
  return !/^\/app\/installations\/[^/]+\/access_tokens/.test(path) && !path.startsWith('/graphql');
}

/**
 * Octokit's throttling plugin paces writes at one a second per process (its `write` group),
 * which made a burst of deploys wait behind its own statuses. DAG replaces that pacing with the
 * shared budget above: writes still go one at a time per process, without a fixed gap.
 */
export function unpacedWriteGroup(): Bottleneck.Group {
  return new Bottleneck.Group({ id: 'dag-github-write', maxConcurrent: 1, minTime: 0 });
}
