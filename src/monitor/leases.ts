// Which DAG process watches which cluster. Every process runs a LeaseKeeper over the same
// database; each cluster's lease is a row (monitor_leases) that one process holds and renews.
// A process that dies stops renewing, its leases expire, and another process's next round takes
// them: a cluster is watched by one process at a time, and by a new one within
// ttl + round interval (15 s + 5 s by default, inside the 30 s people were promised).
//
// Rows, not advisory locks: the embedded database is one shared session for every caller.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import type { Queryable } from '../store/db.ts';

/** How long a lease holds without renewal. */
export const WATCH_LEASE_TTL_SECONDS = 15;
/** How often a keeper renews what it holds and tries to take what nobody holds. */
export const WATCH_LEASE_ROUND_MS = 5_000;

export type LeaseHolder = { name: string; holder: string; host: string; pid: number };

/** The monitor_leases rows of one process (its `holder` id, random per process). */
export class WatchLeases {
  readonly #db: Queryable;
  readonly ttlSeconds: number;
  readonly holder: string;

  constructor(db: Queryable, options: { ttlSeconds?: number; holder?: string } = {}) {
    this.#db = db;
    this.ttlSeconds = options.ttlSeconds ?? WATCH_LEASE_TTL_SECONDS;
    this.holder = options.holder ?? randomUUID();
  }

  /**
   * Takes `name` when it is free or expired, or renews it when this process holds it; whether
   * this process holds it now. One statement: two processes racing for it cannot both win.
   */
  async claim(name: string): Promise<boolean> {
    const { rows } = await this.#db.query<{ holder: string }>(
      `INSERT INTO monitor_leases (name, holder, host, pid, expires_at)
       VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))
       ON CONFLICT (name) DO UPDATE
         SET holder = EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid,
             expires_at = EXCLUDED.expires_at,
             acquired_at = CASE WHEN monitor_leases.holder = EXCLUDED.holder
                                THEN monitor_leases.acquired_at ELSE clock_timestamp() END
         WHERE monitor_leases.holder = EXCLUDED.holder
            OR monitor_leases.expires_at < clock_timestamp()
       RETURNING holder`,
      [name, this.holder, hostname(), process.pid, this.ttlSeconds],
    );
    return rows[0]?.holder === this.holder;
  }

  /** Gives `name` up, if this process holds it (another process can take it at once). */
  async release(name: string): Promise<void> {
    await this.#db.query('DELETE FROM monitor_leases WHERE name = $1 AND holder = $2', [
      name,
      this.holder,
    ]);
  }

  /** Who holds what, unexpired (for `dag` and tests). */
  async holders(): Promise<LeaseHolder[]> {
    const { rows } = await this.#db.query<LeaseHolder>(
      `SELECT name, holder, host, pid FROM monitor_leases
        WHERE expires_at >= clock_timestamp() ORDER BY name`,
    );
    return rows;
  }
}

export type LeaseKeeperOptions = {
  leases: WatchLeases;
  /** The names this process should hold if it can: every cluster's, as configured now. */
  wanted: () => Promise<string[]>;
  /** This process took `name`: start its watch. */
  onAcquire: (name: string) => void;
  /** This process no longer holds `name` (lost, released, or no longer wanted): stop its watch. */
  onLose: (name: string) => void;
  log: Logger;
  roundMs?: number;
  /** The clock the renewals are timed by (tests). */
  now?: () => number;
};

/**
 * Keeps this process's share of the leases, one round every `roundMs`: renews what it holds,
 * takes what is free, and says what it gained and lost. A lease this process could not renew
 * (the database is away) for longer than its ttl is given up here too: another process may hold
 * it by then, and a cluster is watched by one process at a time.
 */
export class LeaseKeeper {
  readonly #options: LeaseKeeperOptions;
  readonly #held = new Set<string>();
  /** When each held lease was last renewed (Date.now()). */
  readonly #renewedAt = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
  }

  /** What this process holds after its last round. */
  get held(): ReadonlySet<string> {
    return this.#held;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** One round now (tests; also the first round of start). */
  runRound(): Promise<void> {
    this.#round = this.#round.then(() => this.#doRound());
    return this.#round;
  }

  /** Stops the rounds and gives every lease up, so another process takes them at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#round;
    for (const name of [...this.#held]) {
      this.#lose(name);
      await this.#options.leases.release(name).catch((error: unknown) => {
        this.#options.log.warn({ err: error, lease: name }, 'could not release a watch lease');
      });
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.runRound().finally(() =>
        this.#schedule(this.#options.roundMs ?? WATCH_LEASE_ROUND_MS),
      );
    }, ms);
    this.#timer.unref();
  }

  async #doRound(): Promise<void> {
    const { leases, wanted, log } = this.#options;
    let names: string[];
    try {
      names = await wanted();
    } catch (error) {
      log.warn({ err: error }, 'could not read the clusters to watch');
      return;
    }
    for (const name of [...this.#held]) {
      if (!names.includes(name)) {
        this.#lose(name);
        await leases.release(name).catch(() => {});
      }
    }
    for (const name of names) {
      if (this.#stopped) return;
      let ours: boolean;
      try {
        ours = await leases.claim(name);
      } catch (error) {
        log.warn({ err: error, lease: name }, 'could not claim or renew a watch lease');
        const renewed = this.#renewedAt.get(name);
        if (renewed !== undefined && this.#now() - renewed > leases.ttlSeconds * 1000) {
          log.warn({ lease: name }, 'the watch lease expired unrenewed: stopping this watch');
          this.#lose(name);
        }
        continue;
      }
      if (ours) this.#renewedAt.set(name, this.#now());
      if (ours && !this.#held.has(name)) {
        this.#held.add(name);
        log.info({ lease: name }, 'watching: this process took the lease');
        this.#options.onAcquire(name);
      } else if (!ours && this.#held.has(name)) {
        log.warn({ lease: name }, 'another process took the watch lease: stopping this watch');
        this.#lose(name);
      }
    }
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }

  #lose(name: string): void {
    this.#renewedAt.delete(name);
    if (!this.#held.delete(name)) return;
    this.#options.onLose(name);
  }
}
