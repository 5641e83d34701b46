import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../log.ts';
import type { Queryable } from './db.ts';
import { processAlive } from '../util/process-alive.ts';

/** How long a lease holds without renewal: a dead holder blocks its branch at most this long. */
export const LEASE_TTL_SECONDS = 15;
/** How often a holder renews its lease while it works. */
const RENEW_EVERY_MS = 3_000;

export type Lease = {
  /** Whether the lease was still ours at the last renewal. */
  readonly held: boolean;
  release(): Promise<void>;
};

/**
 * One writer per IAC repository and branch across every DAG process, through a row in the
 * database (session advisory locks would not do: the embedded database is one shared session).
 * A holder renews its lease every few seconds; a lease past its expiry, or held by a process on
 * this host that no longer exists, is taken over by the next writer. Git's own non-forced push
 * stays the last line: a holder that stalled past its lease and pushes late is refused by git,
 * and its group retries on the new tip.
 */
export class BranchLeases {
  readonly #db: Queryable;
  readonly #log: Logger;
  readonly #host = hostname();
  readonly #ttlSeconds: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    db: Queryable,
    log: Logger,
    options: { ttlSeconds?: number; sleep?: (ms: number) => Promise<void> } = {},
  ) {
    this.#db = db;
    this.#log = log;
    this.#ttlSeconds = options.ttlSeconds ?? LEASE_TTL_SECONDS;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Waits for the lease on `key` and holds it (renewed) until release. */
  async acquire(key: string): Promise<Lease> {
    const holder = randomUUID();
    let pause = 20;
    let waitedFor: string | undefined;
    for (;;) {
      const taken = await this.#tryTake(key, holder);
      if (taken.ok) return this.#hold(key, holder);
      if (taken.deadHolder) continue;
      if (waitedFor !== taken.holder) {
        waitedFor = taken.holder;
        this.#log.debug({ lease: key, holder: taken.holder }, 'waiting for the IAC branch');
      }
      await this.#sleep(pause);
      pause = Math.min(pause * 2, 250);
    }
  }

  async #tryTake(
    key: string,
    holder: string,
  ): Promise<{ ok: true } | { ok: false; holder: string; deadHolder: boolean }> {
    const { rows } = await this.#db.query<{ holder: string }>(
      `INSERT INTO iac_branch_leases (key, holder, host, pid, expires_at)
       VALUES ($1, $2, $3, $4, clock_timestamp() + make_interval(secs => $5))
       ON CONFLICT (key) DO UPDATE
         SET holder = EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid,
             acquired_at = clock_timestamp(), expires_at = EXCLUDED.expires_at
         WHERE iac_branch_leases.expires_at < clock_timestamp()
       RETURNING holder`,
      [key, holder, this.#host, process.pid, this.#ttlSeconds],
    );
    if (rows[0]?.holder === holder) return { ok: true };
    const current = await this.#db.query<{ holder: string; host: string; pid: number }>(
      'SELECT holder, host, pid FROM iac_branch_leases WHERE key = $1',
      [key],
    );
    const row = current.rows[0];
    if (!row) return { ok: false, holder: '', deadHolder: true };
    if (row.host === this.#host && row.pid !== process.pid && !processAlive(row.pid)) {
      // Its process is gone: expire the lease now rather than in up to 15 s.
      await this.#db.query(
        'UPDATE iac_branch_leases SET expires_at = clock_timestamp() WHERE key = $1 AND holder = $2',
        [key, row.holder],
      );
      this.#log.warn(
        { lease: key, pid: row.pid },
        'the IAC branch was held by a DAG process that is gone: taking it over',
      );
      return { ok: false, holder: row.holder, deadHolder: true };
    }
    return { ok: false, holder: row.holder, deadHolder: false };
  }

  #hold(key: string, holder: string): Lease {
    let held = true;
    const timer = setInterval(() => {
      this.#db
        .query(
          `UPDATE iac_branch_leases SET expires_at = clock_timestamp() + make_interval(secs => $3)
            WHERE key = $1 AND holder = $2 RETURNING key`,
          [key, holder, this.#ttlSeconds],
        )
        .then(({ rows }) => {
          if (rows.length === 0 && held) {
            held = false;
            this.#log.warn({ lease: key }, 'lost the lease on the IAC branch (renewed too late)');
          }
        })
        .catch((error: unknown) =>
          this.#log.warn({ err: error, lease: key }, 'could not renew the lease on the IAC branch'),
        );
    }, RENEW_EVERY_MS);
    timer.unref();
    return {
      get held() {
        return held;
      },
      release: async () => {
        clearInterval(timer);
        held = false;
        await this.#db.query('DELETE FROM iac_branch_leases WHERE key = $1 AND holder = $2', [
          key,
          holder,
        ]);
      },
    };
  }
}
