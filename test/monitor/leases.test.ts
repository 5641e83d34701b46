import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LeaseKeeper, WatchLeases } from '../../src/monitor/leases.ts';
import { LANES, openLane, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';

describe.each(LANES)('watch leases (%s)', (laneName) => {
  let lane: LaneDb;

  beforeEach(async () => {
    lane = await openLane(laneName);
  });
  afterEach(() => lane.drop());

  /** Ages every lease past its expiry, as time passing without renewal would. */
  const expireAll = () =>
    lane.db.query("UPDATE monitor_leases SET expires_at = clock_timestamp() - interval '1 second'");

  it('gives a lease to one holder at a time, renews it for that holder, and frees it on release', async () => {
    const a = new WatchLeases(lane.db);
    const b = new WatchLeases(lane.db);
    expect(await a.claim('cluster:1')).toBe(true);
    expect(await b.claim('cluster:1')).toBe(false);
    // Renewing keeps it.
    expect(await a.claim('cluster:1')).toBe(true);
    expect((await a.holders()).map((h) => [h.name, h.holder])).toEqual([['cluster:1', a.holder]]);
    await a.release('cluster:1');
    expect(await b.claim('cluster:1')).toBe(true);
    // Releasing what another holds changes nothing.
    await a.release('cluster:1');
    expect((await a.holders()).map((h) => h.holder)).toEqual([b.holder]);
  });

  it('lets one of several racing claimants win', async () => {
    const claimants = Array.from({ length: 8 }, () => new WatchLeases(lane.db));
    const won = await Promise.all(claimants.map((c) => c.claim('cluster:7')));
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  it('moves an expired lease to the next claimant, with a new acquired_at', async () => {
    const a = new WatchLeases(lane.db);
    const b = new WatchLeases(lane.db);
    await a.claim('cluster:1');
    await expireAll();
    expect(await b.claim('cluster:1')).toBe(true);
    expect(await a.claim('cluster:1')).toBe(false);
  });

  it("keepers share the clusters, and a dead keeper's clusters move to the living one", async () => {
    const events: string[] = [];
    const keeper = (who: string, leases: WatchLeases) =>
      new LeaseKeeper({
        leases,
        wanted: async () => ['cluster:1', 'cluster:2'],
        onAcquire: (name) => events.push(`${who}+${name}`),
        onLose: (name) => events.push(`${who}-${name}`),
        log: quiet,
        roundMs: 60_000,
      });
    const first = keeper('a', new WatchLeases(lane.db));
    const second = keeper('b', new WatchLeases(lane.db));
    await first.runRound();
    await second.runRound();
    // The first round took both: each cluster is watched once.
    expect([...first.held]).toEqual(['cluster:1', 'cluster:2']);
    expect([...second.held]).toEqual([]);
    // `first` dies without releasing (SIGKILL): its leases run out, `second` takes them.
    await expireAll();
    await second.runRound();
    expect([...second.held]).toEqual(['cluster:1', 'cluster:2']);
    // Were it only stalled, its next round learns it lost them, and stops watching.
    await first.runRound();
    expect([...first.held]).toEqual([]);
    expect(events).toEqual([
      'a+cluster:1',
      'a+cluster:2',
      'b+cluster:1',
      'b+cluster:2',
      'a-cluster:1',
      'a-cluster:2',
    ]);
    // A clean stop hands over at once.
    await second.stop();
    await first.runRound();
    expect([...first.held]).toEqual(['cluster:1', 'cluster:2']);
  });

  it('gives up a cluster that is no longer configured', async () => {
    let wanted = ['cluster:1', 'cluster:2'];
    const lost: string[] = [];
    const keeper = new LeaseKeeper({
      leases: new WatchLeases(lane.db),
      wanted: async () => wanted,
      onAcquire: () => {},
      onLose: (name) => lost.push(name),
      log: quiet,
    });
    await keeper.runRound();
    wanted = ['cluster:1'];
    await keeper.runRound();
    expect(lost).toEqual(['cluster:2']);
    expect((await new WatchLeases(lane.db).holders()).map((h) => h.name)).toEqual(['cluster:1']);
  });

  it('stops watching when it could not renew for longer than the ttl', async () => {
    const leases = new WatchLeases(lane.db);
    let clock = 1_000_000;
    let failing = false;
    const flaky = Object.assign(Object.create(leases) as WatchLeases, {
      claim: (name: string) =>
        failing ? Promise.reject(new Error('database away')) : leases.claim(name),
    });
    const lost: string[] = [];
    const keeper = new LeaseKeeper({
      leases: flaky,
      wanted: async () => ['cluster:1'],
      onAcquire: () => {},
      onLose: (name) => lost.push(name),
      log: quiet,
      now: () => clock,
    });
    await keeper.runRound();
    expect([...keeper.held]).toEqual(['cluster:1']);
    failing = true;
    // Within the ttl, a failed renewal keeps the watch: the lease still holds.
    clock += 10_000;
    await keeper.runRound();
    expect(lost).toEqual([]);
    clock += 6_000;
    await keeper.runRound();
    expect(lost).toEqual(['cluster:1']);
    expect([...keeper.held]).toEqual([]);
  });
});
