// The outcome of a committed deploy's rollout, from the environment's rollout state.

import { describe, expect, it } from 'vitest';
import { rolloutOutcome } from '../../src/monitor/rollout-outcome.ts';
import type { RolloutState } from '../../src/monitor/types.ts';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

function state(patch: Partial<RolloutState>): RolloutState {
  return {
    phase: 'progressing',
    liveCommit: null,
    rollingOutCommit: null,
    committedCommit: B,
    reason: null,
    since: new Date('2026-12-01T10:00:00Z'),
    workloads: [],
    drift: { drifted: false, kind: null, since: null },
    ...patch,
  };
}

describe('rolloutOutcome', () => {
  it('is pending until monitoring has seen the environment, and while it rolls out', () => {
    expect(rolloutOutcome(B, undefined, B)).toEqual({ outcome: 'pending', reason: null });
    const rolling = state({ liveCommit: { sha: A, from: 'workloads' }, rollingOutCommit: B });
    expect(rolloutOutcome(B, rolling, B).outcome).toBe('pending');
  });

  it('is healthy once the commit runs healthy (a short commit matches its full form)', () => {
    const healthy = state({ phase: 'healthy', liveCommit: { sha: B, from: 'workloads' } });
    expect(rolloutOutcome(B, healthy, B)).toEqual({ outcome: 'healthy', reason: null });
    expect(rolloutOutcome(B.slice(0, 7), healthy, B).outcome).toBe('healthy');
    // Healthy on it even when a newer commit was committed since: it did roll out.
    expect(rolloutOutcome(B, healthy, C).outcome).toBe('healthy');
  });

  it('fails with the cause when its own pods fail, or the cluster cannot take it', () => {
    const crash = state({ phase: 'failed', rollingOutCommit: B, reason: 'CrashLoopBackOff' });
    expect(rolloutOutcome(B, crash, B)).toEqual({ outcome: 'failed', reason: 'CrashLoopBackOff' });
    const running = state({ phase: 'failed', liveCommit: { sha: B, from: 'pods' }, reason: 'x' });
    expect(rolloutOutcome(B, running, B).outcome).toBe('failed');
    const upgrade = state({
      phase: 'failed',
      liveCommit: { sha: A, from: 'helmrelease' },
      reason: 'UpgradeFailed',
    });
    expect(rolloutOutcome(B, upgrade, B)).toEqual({ outcome: 'failed', reason: 'UpgradeFailed' });
  });

  it('is not failed by the failing rollout of the commit before it', () => {
    const before = state({
      phase: 'failed',
      rollingOutCommit: A,
      reason: 'ProgressDeadlineExceeded',
    });
    expect(rolloutOutcome(B, before, B)).toEqual({ outcome: 'pending', reason: null });
  });

  it('is superseded when a newer commit was committed before it rolled out', () => {
    const rolling = state({ rollingOutCommit: B, committedCommit: C });
    expect(rolloutOutcome(B, rolling, C)).toEqual({
      outcome: 'superseded',
      reason: 'ccccccc was committed after it',
    });
  });
});
