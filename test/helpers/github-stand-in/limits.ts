// GitHub's rate limits as the stand-in plays them: the x-ratelimit-* headers and a primary
// budget per identity on every API answer, an optional secondary limit on content-creating
// requests (403 with Retry-After and GitHub's message), and optional seeded fault injection.

import { randomUUID } from 'node:crypto';
import type { Answer } from './route.ts';

export type FaultKind =
  /** 502 before the request is handled: nothing happened. */
  | 'bad-gateway'
  /** 403 secondary rate limit with Retry-After, before the request is handled. */
  | 'secondary'
  /** The request is handled (the write happens), then the answer is lost as a 502. */
  | 'lost-bad-gateway';

export type RateLimitOptions = {
  /** Primary limit per identity (installation, App, token) and window. Default 5000 per hour. */
  primary?: { limit: number; windowMs?: number };
  /**
   * Secondary limit on content-creating requests (POST, PATCH, PUT, DELETE; token minting
   * aside) per identity: at most `limit` in any `windowMs` (GitHub documents 80 a minute).
   * Off unless set.
   */
  secondary?: { limit: number; windowMs?: number } | null;
  /**
   * Seeded fault injection: each eligible request fails with probability `rate`, the kind
   * drawn from `kinds`, both from a PRNG seeded with `seed` (the same order of requests gets
   * the same faults). Off unless set.
   */
  faults?: {
    seed: number;
    rate: number;
    kinds: FaultKind[];
    retryAfterSeconds?: number;
    /** Which requests may fail (default: content-creating API requests). */
    eligible?: (request: { method: string; route: string }) => boolean;
  } | null;
};

const SECONDARY_MESSAGE =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ';
const SECONDARY_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits';
const PRIMARY_DOCS =
  'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit';

/** mulberry32: a small seeded PRNG, enough to pick faults reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function primaryAnswer(who: string): Answer {
  return {
    status: 403,
    body: {
      message: `API rate limit exceeded for ${who}.`,
      documentation_url: PRIMARY_DOCS,
      status: '403',
    },
  };
}

export function secondaryAnswer(wait: number): Answer {
  return {
    status: 403,
    body: {
      message: `${SECONDARY_MESSAGE}${randomUUID().toUpperCase()}.`,
      documentation_url: SECONDARY_DOCS,
      status: '403',
    },
    headers: { 'retry-after': String(wait) },
  };
}

export function badGateway(): Answer {
  return { status: 502, body: { message: 'Server Error', status: '502' } };
}

export class Limits {
  #options: RateLimitOptions;
  #random: (() => number) | undefined;
  readonly #primaryUse = new Map<string, { used: number; resetAt: number }>();
  readonly #writeTimes = new Map<string, number[]>();

  constructor(options: RateLimitOptions) {
    this.#options = {};
    this.configure({
      primary: options.primary ?? { limit: 5000 },
      secondary: options.secondary ?? null,
      faults: options.faults ?? null,
    });
  }

  /** Changes the limits from now on; a new secondary limit starts with an empty window. */
  configure(next: RateLimitOptions): void {
    this.#options = { ...this.#options, ...next };
    if ('secondary' in next) this.#writeTimes.clear();
    if ('faults' in next) this.#random = next.faults ? prng(next.faults.seed) : undefined;
  }

  /** Counts a request against its identity's primary budget; the headers every answer gets. */
  primary(key: string): { headers: Record<string, string>; exceeded: boolean } {
    const limit = this.#options.primary?.limit ?? 5000;
    const windowMs = this.#options.primary?.windowMs ?? 3600_000;
    const now = Date.now();
    let use = this.#primaryUse.get(key);
    if (!use || use.resetAt <= now) {
      use = { used: 0, resetAt: now + windowMs };
      this.#primaryUse.set(key, use);
    }
    const exceeded = use.used >= limit;
    if (!exceeded) use.used += 1;
    return {
      exceeded,
      headers: {
        'x-ratelimit-limit': String(limit),
        'x-ratelimit-remaining': String(Math.max(0, limit - use.used)),
        'x-ratelimit-reset': String(Math.ceil(use.resetAt / 1000)),
        'x-ratelimit-used': String(use.used),
        'x-ratelimit-resource': 'core',
      },
    };
  }

  /** Seconds until the identity may write again, or 0 when it may write now (and is counted). */
  secondary(key: string): number {
    const config = this.#options.secondary;
    if (!config) return 0;
    const windowMs = config.windowMs ?? 60_000;
    const now = Date.now();
    const times = (this.#writeTimes.get(key) ?? []).filter((t) => t > now - windowMs);
    this.#writeTimes.set(key, times);
    if (times.length < config.limit) {
      times.push(now);
      return 0;
    }
    // Rounded up, with a margin for timers that fire a hair early: a client that waits this
    // long finds a free slot.
    return Math.max(1, Math.ceil(((times[0] as number) + windowMs - now + 50) / 1000));
  }

  /** The fault this request draws, if any, and the Retry-After a `secondary` fault sends. */
  fault(request: { method: string; route: string; write: boolean }): {
    kind: FaultKind | undefined;
    retryAfter: number;
  } {
    const faults = this.#options.faults;
    const none = { kind: undefined, retryAfter: 0 };
    if (!faults || !this.#random) return none;
    const eligible = faults.eligible ? faults.eligible(request) : request.write;
    if (!eligible) return none;
    const draw = this.#random();
    const pick = this.#random();
    if (draw >= faults.rate || faults.kinds.length === 0) return none;
    return {
      kind: faults.kinds[Math.floor(pick * faults.kinds.length)],
      retryAfter: faults.retryAfterSeconds ?? 1,
    };
  }
}
