import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlApiTokenStore } from '../../src/store/api-tokens.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import {
  DuplicateProposalError,
  SqlFixProposalStore,
  type NewFixProposal,
} from '../../src/store/fix-proposals.ts';
import { LANES, openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';

const seed = readFileSync(
  new URL('../fixtures/seeds/multiple-environments.sql', import.meta.url),
  'utf8',
);

describe.each(LANES)('fix proposal store (%s)', (laneName) => {
  let lane: LaneDb;
  let store: SqlFixProposalStore;
  let base: NewFixProposal;

  beforeEach(async () => {
    lane = await openLane(laneName);
    const config = new SqlConfigStore(lane.db, new Keyring(randomKey()));
    await lane.db.query(seed);
    await config.normalize();
    const { token } = await new SqlApiTokenStore(lane.db, config).create({
      name: 'fixer',
      permission: 'propose',
      scope: { all: true },
      lifetimeMs: 86_400_000,
    });
    store = new SqlFixProposalStore(lane.db);
    base = {
      tokenId: token.id,
      tokenName: token.name,
      agentName: 'fixer',
      agentModel: 'm',
      title: 'Raise the memory limit',
      rationale: 'OOMKilled',
      target: { app: 'my-app', environment: 'staging' },
      appId: 1,
      environmentId: 1,
      fingerprint: 'a'.repeat(64),
      changeKind: 'values-patch',
      state: 'validating',
    };
  });
  afterEach(async () => {
    await lane.drop();
  });

  it('records a proposal and reads it back as it was sent', async () => {
    const created = await store.create(base);
    expect(created).toEqual({
      ...base,
      id: 1,
      statusCode: null,
      reasons: [],
      prNumber: null,
      prUrl: null,
      branch: null,
      pushedHead: null,
      supersededBy: null,
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    expect(await store.get(1)).toEqual(created);
    expect(await store.get(2)).toBeUndefined();
  });

  it('finds the open proposal of a fingerprint, not a rejected or superseded one', async () => {
    await store.create({
      ...base,
      state: 'rejected',
      statusCode: 422,
      reasons: [{ field: 'f', message: 'm' }],
    });
    expect(await store.findOpenByFingerprint(base.fingerprint)).toBeUndefined();
    const open = await store.create(base);
    expect((await store.findOpenByFingerprint(base.fingerprint))?.id).toBe(open.id);
    await store.update(open.id, { state: 'closed' });
    expect(await store.findOpenByFingerprint(base.fingerprint)).toBeUndefined();
  });

  it('supersedes the open proposals of the same environment and branch with another fingerprint only', async () => {
    const first = await store.create({ ...base, state: 'open' });
    const rejected = await store.create({
      ...base,
      fingerprint: 'c'.repeat(64),
      state: 'rejected',
    });
    const production = await store.create({
      ...base,
      environmentId: 2,
      fingerprint: 'd'.repeat(64),
      state: 'open',
    });
    // The same environment's fix in its IAC repository: another pull request, left open.
    const iac = await store.create({ ...base, fingerprint: 'f'.repeat(64), state: 'open' });
    await store.update(iac.id, { branch: 'dag/fix-iac/my-app/staging' });
    const revision = await store.create({ ...base, fingerprint: 'b'.repeat(64) });
    await store.update(revision.id, { state: 'updated', prNumber: 7, pushedHead: 'e'.repeat(40) });
    expect(await store.supersedeOthers(revision.id)).toEqual([first.id]);
    expect((await store.get(iac.id))?.state).toBe('open');
    expect(await store.get(first.id)).toMatchObject({
      state: 'superseded',
      supersededBy: revision.id,
    });
    expect((await store.get(rejected.id))?.state).toBe('rejected');
    expect((await store.get(production.id))?.state).toBe('open');
  });

  it('holds one open proposal per fingerprint', async () => {
    const open = await store.create(base);
    await expect(store.create(base)).rejects.toBeInstanceOf(DuplicateProposalError);
    await store.update(open.id, { state: 'superseded' });
    expect((await store.create(base)).id).toBe(open.id + 2); // the failed insert used an id
  });

  it("lists a pull request's proposals, and moves only those in the states named", async () => {
    const open = await store.create(base);
    const updated = await store.create({ ...base, fingerprint: 'b'.repeat(64) });
    const other = await store.create({ ...base, fingerprint: 'c'.repeat(64) });
    await store.update(open.id, { state: 'open', prNumber: 7 });
    await store.update(updated.id, { state: 'superseded', prNumber: 7 });
    await store.update(other.id, { state: 'open', prNumber: 8 });
    expect((await store.listOnPullRequest(7)).map((p) => p.id)).toEqual([open.id, updated.id]);
    const ids = [open.id, updated.id];
    expect(await store.moveState(ids, ['open', 'updated'], 'merged')).toEqual([open.id]);
    expect(await store.moveState(ids, ['open', 'updated'], 'merged')).toEqual([]);
    expect(await store.moveState([], ['open'], 'closed')).toEqual([]);
    expect((await store.get(updated.id))?.state).toBe('superseded');
    expect((await store.get(other.id))?.state).toBe('open');
  });

  it('lists newest first, by app and state', async () => {
    await store.create(base);
    await store.create({ ...base, state: 'rejected' });
    expect((await store.list()).map((p) => p.id)).toEqual([2, 1]);
    expect((await store.list({ state: 'rejected' })).map((p) => p.id)).toEqual([2]);
    expect(await store.list({ appId: 99 })).toEqual([]);
    expect((await store.list({ limit: 1 })).map((p) => p.id)).toEqual([2]);
  });

  it('keeps the audit row when its app goes, and refuses unknown states', async () => {
    await store.create(base);
    await lane.db.query('DELETE FROM apps WHERE id = 1');
    expect(await store.get(1)).toMatchObject({
      appId: null,
      environmentId: null,
      tokenName: 'fixer',
    });
    await expect(store.create({ ...base, state: 'done' as 'open' })).rejects.toThrow(
      /fix_proposals_state_check/,
    );
  });
});
