// BranchLeases: one writer per IAC branch across DAG processes, through a row in the database.
// Waiting is observed through the injected sleep (a waiter sleeps only after finding the lease
// held), never by sleeping to see that nothing happened.

import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { BranchLeases } from '../../src/store/branch-lease.ts';
import { processAlive } from '../../src/util/process-alive.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';

type Row = { holder: string; host: string; pid: number; acquired_at: Date; expires_at: Date };

/** A pid no process on this host has: that of a child that has exited. */
function deadPid(): number {
  const child = spawnSync('true');
  const pid = child.pid as number;
  expect(processAlive(pid)).toBe(false);
  return pid;
}

let keys = 0;
const newKey = () => `iac:${++keys}:main`;

describe.each(LANES)('BranchLeases (%s)', (laneName) => {
  let lane: LaneDb;
  beforeAll(async () => {
    lane = await openLane(laneName);
  });
  afterAll(() => lane.drop());
  afterEach(() => {
    vi.useRealTimers();
  });

  const rowOf = async (key: string): Promise<Row | undefined> =>
    (await lane.db.query<Row>('SELECT * FROM iac_branch_leases WHERE key = $1', [key])).rows[0];

  /** Leases whose waits are counted (and short); `onWait` hears each one. */
  function leases(options: { ttlSeconds?: number; onWait?: () => void } = {}) {
    const waits: number[] = [];
    const leases = new BranchLeases(lane.db, quiet, {
      ...(options.ttlSeconds === undefined ? {} : { ttlSeconds: options.ttlSeconds }),
      sleep: async (ms) => {
        waits.push(ms);
        options.onWait?.();
        await delay(Math.min(ms, 20));
      },
    });
    return { leases, waits };
  }

  /** A lease row of someone else, as another DAG process would have written it. */
  async function insertForeign(
    key: string,
    row: { host: string; pid: number; expiresIn: string },
  ): Promise<void> {
    await lane.db.query(
      `INSERT INTO iac_branch_leases (key, holder, host, pid, expires_at)
       VALUES ($1, 'someone-else', $2, $3, clock_timestamp() + $4::interval)`,
      [key, row.host, row.pid, row.expiresIn],
    );
  }

  it('acquires a free lease at once, as this process, and frees it on release', async () => {
    const key = newKey();
    const { leases: l, waits } = leases();
    const lease = await l.acquire(key);
    expect(lease.held).toBe(true);
    const row = await rowOf(key);
    expect(row).toMatchObject({ host: hostname(), pid: process.pid });
    expect(row?.expires_at.getTime()).toBeGreaterThan(Date.now() - 5_000);
    await lease.release();
    expect(lease.held).toBe(false);
    expect(await rowOf(key)).toBeUndefined();
    // Free again: the next acquisition is at once too.
    await (await l.acquire(key)).release();
    expect(waits).toEqual([]);
  });

  it('keeps leases of different branches apart', async () => {
    const [a, b] = [newKey(), newKey()];
    const { leases: l, waits } = leases();
    const first = await l.acquire(a);
    const second = await l.acquire(b);
    expect(waits).toEqual([]);
    await Promise.all([first.release(), second.release()]);
  });

  it('makes a second acquirer wait until the holder releases', async () => {
    const key = newKey();
    const events: string[] = [];
    const first = await leases().leases.acquire(key);
    const holder = (await rowOf(key))?.holder;
    let waiting!: () => void;
    const waits = new Promise<void>((resolve) => (waiting = resolve));
    const second = leases({ onWait: () => waiting() })
      .leases.acquire(key)
      .then((lease) => {
        events.push('second acquired');
        return lease;
      });
    // The second found the lease held (it sleeps only then) ...
    await waits;
    events.push('second waits');
    expect((await rowOf(key))?.holder).toBe(holder);
    events.push('first releases');
    await first.release();
    const lease = await second;
    expect(events).toEqual(['second waits', 'first releases', 'second acquired']);
    expect((await rowOf(key))?.holder).not.toBe(holder);
    await lease.release();
  });

  it('gives the lease to one holder at a time among many acquirers', async () => {
    const key = newKey();
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 5 }, async (_, i) => {
        const lease = await leases().leases.acquire(key);
        inside++;
        most = Math.max(most, inside);
        order.push(i);
        await delay(5); // holds it a little while the others try
        inside--;
        await lease.release();
      }),
    );
    expect(most).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(await rowOf(key)).toBeUndefined();
  });

  it('takes over an expired lease at once', async () => {
    const key = newKey();
    // Its holder (on another host) stopped renewing a while ago.
    await insertForeign(key, { host: 'another-host', pid: 1, expiresIn: '-1 second' });
    const { leases: l, waits } = leases({ ttlSeconds: 1 });
    const lease = await l.acquire(key);
    expect(waits).toEqual([]);
    expect(await rowOf(key)).toMatchObject({ host: hostname(), pid: process.pid });
    await lease.release();
  });

  it('waits for a lease of another host that is not renewed until it expires, then takes it over', async () => {
    const key = newKey();
    // Another host's holder that never renews; its pid means nothing here.
    await insertForeign(key, { host: 'another-host', pid: deadPid(), expiresIn: '1 second' });
    const expires = (await rowOf(key))?.expires_at as Date;
    const { leases: l, waits } = leases({ ttlSeconds: 1 });
    const lease = await l.acquire(key);
    expect(waits.length).toBeGreaterThan(0);
    const row = await rowOf(key);
    expect(row).toMatchObject({ host: hostname(), pid: process.pid });
    expect(row?.acquired_at.getTime()).toBeGreaterThanOrEqual(expires.getTime());
    await lease.release();
  });

  it('takes over at once a lease held by a process of this host that is gone', async () => {
    const key = newKey();
    await insertForeign(key, { host: hostname(), pid: deadPid(), expiresIn: '1 hour' });
    const { leases: l, waits } = leases();
    const lease = await l.acquire(key);
    expect(waits).toEqual([]);
    expect(await rowOf(key)).toMatchObject({ host: hostname(), pid: process.pid });
    await lease.release();
  });

  it('waits for a lease held by a live process of this host', async () => {
    const key = newKey();
    await insertForeign(key, { host: hostname(), pid: process.ppid, expiresIn: '1 hour' });
    let waiting!: () => void;
    const waits = new Promise<void>((resolve) => (waiting = resolve));
    const acquired = leases({ onWait: () => waiting() }).leases.acquire(key);
    await waits;
    expect((await rowOf(key))?.holder).toBe('someone-else');
    // Its holder releases.
    await lane.db.query("DELETE FROM iac_branch_leases WHERE holder = 'someone-else'");
    const lease = await acquired;
    expect((await rowOf(key))?.pid).toBe(process.pid);
    await lease.release();
  });

  it("does not free a successor's lease when a holder that lost it releases", async () => {
    const key = newKey();
    const first = await leases().leases.acquire(key);
    // The first holder stalled past its lease, and a second writer took the branch.
    await lane.db.query(
      "UPDATE iac_branch_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE key = $1",
      [key],
    );
    const { leases: l, waits } = leases();
    const second = await l.acquire(key);
    expect(waits).toEqual([]);
    const successor = (await rowOf(key))?.holder;
    await first.release();
    expect((await rowOf(key))?.holder).toBe(successor);
    await second.release();
    expect(await rowOf(key)).toBeUndefined();
  });

  it('renews a held lease, and tells a holder that it lost the lease', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const key = newKey();
    const first = await leases({ ttlSeconds: 60 }).leases.acquire(key);
    const acquiredUntil = (await rowOf(key))?.expires_at.getTime() as number;
    vi.advanceTimersByTime(3_000); // the renewal
    await vi.waitFor(
      async () => expect((await rowOf(key))?.expires_at.getTime()).toBeGreaterThan(acquiredUntil),
      { timeout: 5_000, interval: 20 },
    );
    expect(first.held).toBe(true);

    // Stalled past its lease: another writer takes the branch; the next renewal finds out.
    await lane.db.query(
      "UPDATE iac_branch_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE key = $1",
      [key],
    );
    const second = await leases({ ttlSeconds: 60 }).leases.acquire(key);
    vi.advanceTimersByTime(3_000);
    await vi.waitFor(() => expect(first.held).toBe(false), { timeout: 5_000, interval: 20 });
    expect(second.held).toBe(true);
    expect((await rowOf(key))?.pid).toBe(process.pid);
    await first.release();
    await second.release();
  });
});
