import { describe, expect, it } from 'vitest';
import { reportKey, rolloutState, sameReport } from '../../src/monitor/rollout-state.ts';
import type { RolloutInput, RolloutState } from '../../src/monitor/types.ts';
import {
  FLUX,
  NEW,
  OLD,
  PLAIN,
  T0,
  daemonSet,
  deployment,
  event,
  fluxSource,
  helmRelease,
  minutes,
  pod,
  statefulSet,
} from './builders.ts';

const committedNew = { sha: NEW, committedAt: T0 };

function state(objects: unknown[], more: Partial<RolloutInput> = {}): RolloutState {
  return rolloutState({
    environment: FLUX,
    objects,
    committed: committedNew,
    now: minutes(2),
    ...more,
  });
}

describe('rolloutState: phases', () => {
  it.each([
    {
      case: 'nothing observed',
      objects: [],
      phase: 'unknown',
      reason: 'no HelmRelease web and no workloads in namespace shop',
    },
    {
      case: 'Deployment half updated',
      objects: [helmRelease(), deployment({ updated: 1, available: 2, total: 4 })],
      phase: 'progressing',
      reason: 'Deployment web: 1 of 3 replicas updated',
    },
    {
      case: 'Deployment with old replicas left',
      objects: [helmRelease(), deployment({ total: 4 })],
      phase: 'progressing',
      reason: 'Deployment web: 1 old replicas pending termination',
    },
    {
      case: 'Deployment updated, not yet available',
      objects: [helmRelease(), deployment({ available: 2 })],
      phase: 'progressing',
      reason: 'Deployment web: 2 of 3 updated replicas available',
    },
    {
      case: 'Deployment spec not yet observed by its controller',
      objects: [helmRelease(), deployment({ generation: 5, observedGeneration: 4 })],
      phase: 'progressing',
      reason: 'Deployment web: generation 5 not yet observed by its controller',
    },
    {
      case: 'Deployment rolled out',
      objects: [helmRelease(), deployment(), pod()],
      phase: 'healthy',
      reason: null,
    },
    {
      case: 'StatefulSet updating',
      objects: [
        helmRelease(),
        statefulSet({ updated: 1, currentRevision: 'db-6b5a', updateRevision: 'db-7c9f' }),
      ],
      phase: 'progressing',
      reason: 'StatefulSet db: 1 of 3 replicas updated',
    },
    {
      case: 'StatefulSet updated, revision not yet current',
      objects: [
        helmRelease(),
        statefulSet({ currentRevision: 'db-6b5a', updateRevision: 'db-7c9f' }),
      ],
      phase: 'progressing',
      reason: 'StatefulSet db: revision db-7c9f not yet current',
    },
    {
      case: 'StatefulSet partitioned rollout done above the partition',
      objects: [
        helmRelease(),
        statefulSet({
          partition: 2,
          updated: 1,
          currentRevision: 'db-6b5a',
          updateRevision: 'db-7c9f',
        }),
      ],
      phase: 'healthy',
      reason: null,
    },
    {
      case: 'StatefulSet partitioned rollout below the partition',
      objects: [
        helmRelease(),
        statefulSet({
          partition: 1,
          updated: 1,
          currentRevision: 'db-6b5a',
          updateRevision: 'db-7c9f',
        }),
      ],
      phase: 'progressing',
      reason: 'StatefulSet db: 1 of 2 replicas updated',
    },
    {
      case: 'DaemonSet updating',
      objects: [helmRelease(), daemonSet({ updated: 2, available: 3 })],
      phase: 'progressing',
      reason: 'DaemonSet agent: 2 of 4 pods updated',
    },
    {
      case: 'DaemonSet rolled out',
      objects: [helmRelease(), daemonSet()],
      phase: 'healthy',
      reason: null,
    },
    {
      case: 'CrashLoopBackOff',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        pod({
          containers: [
            {
              name: 'app',
              ready: false,
              restarts: 5,
              waiting: { reason: 'CrashLoopBackOff', message: 'back-off 5m0s' },
            },
          ],
        }),
      ],
      phase: 'failed',
      reason:
        'Deployment web: CrashLoopBackOff of container app in pod web-5d9c7b-x2x4z (restarts 5)',
    },
    {
      case: 'OOMKilled past the restart threshold',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        pod({
          containers: [{ name: 'app', ready: false, restarts: 3, lastTerminated: 'OOMKilled' }],
        }),
      ],
      phase: 'failed',
      reason:
        'Deployment web: OOMKilled: container app in pod web-5d9c7b-x2x4z (restarts 3, last terminated: OOMKilled)',
    },
    {
      case: 'two restarts are not yet a crash loop',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        pod({ containers: [{ name: 'app', ready: false, restarts: 2, lastTerminated: 'Error' }] }),
      ],
      phase: 'progressing',
      reason: 'Deployment web: 2 of 3 updated replicas available',
    },
    {
      case: 'image pull error',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        pod({
          containers: [
            {
              name: 'app',
              ready: false,
              waiting: {
                reason: 'ImagePullBackOff',
                message: 'Back-off pulling image "ghcr.io/acme/web:2222222"',
              },
            },
          ],
        }),
      ],
      phase: 'failed',
      reason:
        'Deployment web: ImagePullBackOff of container app in pod web-5d9c7b-x2x4z: Back-off pulling image "ghcr.io/acme/web:2222222"',
    },
    {
      case: 'a crash-looping pod of the old template is ignored',
      objects: [
        helmRelease(),
        deployment({ updated: 2 }),
        pod({
          name: 'web-4c8b6a-aaaaa',
          owner: { kind: 'ReplicaSet', name: 'web-4c8b6a' },
          sha: OLD,
          containers: [{ ready: false, restarts: 9, waiting: { reason: 'CrashLoopBackOff' } }],
        }),
      ],
      phase: 'progressing',
      reason: 'Deployment web: 2 of 3 replicas updated',
    },
    {
      case: 'a crash loop in another Deployment named like a prefix is not ours',
      objects: [
        helmRelease(),
        deployment({ updated: 2 }),
        pod({
          name: 'web-api-4c8b6a-aaaaa',
          owner: { kind: 'ReplicaSet', name: 'web-api-4c8b6a' },
          containers: [{ ready: false, restarts: 9, waiting: { reason: 'CrashLoopBackOff' } }],
        }),
      ],
      phase: 'progressing',
      reason: 'Deployment web: 2 of 3 replicas updated',
    },
    {
      case: 'ProgressDeadlineExceeded',
      objects: [
        helmRelease(),
        deployment({
          updated: 1,
          conditions: [
            {
              type: 'Progressing',
              status: 'False',
              reason: 'ProgressDeadlineExceeded',
              message: 'ReplicaSet "web-5d9c7b" has timed out progressing.',
            },
          ],
        }),
      ],
      phase: 'failed',
      reason:
        'Deployment web: ProgressDeadlineExceeded: ReplicaSet "web-5d9c7b" has timed out progressing.',
    },
    {
      case: 'HelmRelease upgrade failed and stalled',
      objects: [
        helmRelease({
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'UpgradeFailed',
              message:
                'Helm upgrade failed for release shop/web with chart web@0.1.0: context deadline exceeded',
            },
            {
              type: 'Stalled',
              status: 'True',
              reason: 'RetriesExceeded',
              message: 'Failed to upgrade after 4 attempt(s)',
            },
            { type: 'Released', status: 'False', reason: 'UpgradeFailed' },
          ],
        }),
        deployment({ sha: OLD }),
      ],
      phase: 'failed',
      reason:
        'HelmRelease web: UpgradeFailed: Helm upgrade failed for release shop/web with chart web@0.1.0: context deadline exceeded',
    },
    {
      case: 'HelmRelease rolled back after a failed upgrade',
      objects: [
        helmRelease({
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'RollbackSucceeded',
              message: 'Helm rollback to previous release shop/web.v3 succeeded',
            },
          ],
        }),
        deployment({ sha: OLD }),
      ],
      phase: 'failed',
      reason:
        'HelmRelease web: RollbackSucceeded: Helm rollback to previous release shop/web.v3 succeeded',
    },
    {
      case: 'HelmRelease not observed at its generation (stale failure ignored)',
      objects: [
        helmRelease({
          generation: 3,
          observedGeneration: 2,
          conditions: [
            { type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: 'old failure' },
          ],
        }),
        deployment({ sha: OLD }),
      ],
      phase: 'progressing',
      reason: 'HelmRelease web: generation 3 not yet reconciled (observed 2)',
    },
    {
      case: 'HelmRelease reconciling',
      objects: [
        helmRelease({
          conditions: [
            {
              type: 'Reconciling',
              status: 'True',
              reason: 'Progressing',
              message: 'Running upgrade action',
            },
            {
              type: 'Ready',
              status: 'Unknown',
              reason: 'Progressing',
              message: 'Running upgrade action',
            },
          ],
        }),
        deployment(),
      ],
      phase: 'progressing',
      reason: 'HelmRelease web: Progressing: Running upgrade action',
    },
    {
      case: 'HelmRelease waiting for its chart source',
      objects: [
        helmRelease({
          conditions: [
            {
              type: 'Ready',
              status: 'False',
              reason: 'ArtifactFailed',
              message: "HelmChart 'flux-system/shop-web' is not ready",
            },
          ],
        }),
        deployment({ sha: OLD }),
      ],
      phase: 'progressing',
      reason: "HelmRelease web: ArtifactFailed: HelmChart 'flux-system/shop-web' is not ready",
    },
    {
      case: 'init container crash loop',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        {
          ...pod(),
          status: {
            initContainerStatuses: [
              {
                name: 'migrate',
                ready: false,
                restartCount: 4,
                state: { waiting: { reason: 'CrashLoopBackOff' } },
                lastState: { terminated: { reason: 'Error', exitCode: 1 } },
              },
            ],
            containerStatuses: [
              {
                name: 'app',
                ready: false,
                restartCount: 0,
                state: { waiting: { reason: 'PodInitializing' } },
              },
            ],
          },
        },
      ],
      phase: 'failed',
      reason:
        'Deployment web: CrashLoopBackOff of container migrate in pod web-5d9c7b-x2x4z (restarts 4, last terminated: Error)',
    },
    {
      case: 'HelmRelease ready, workloads rolled out, commit live',
      objects: [helmRelease(), deployment(), statefulSet(), daemonSet()],
      phase: 'healthy',
      reason: null,
    },
  ])('$case → $phase', ({ objects, phase, reason }) => {
    const result = state(objects);
    expect(result.phase).toBe(phase);
    expect(result.reason).toBe(reason);
  });

  it('a plain chart is judged by its workloads alone (a HelmRelease of the same name is ignored)', () => {
    const failing = helmRelease({
      conditions: [{ type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: 'x' }],
    });
    expect(state([failing, deployment()], { environment: PLAIN }).phase).toBe('healthy');
    const alone = state([helmRelease({ suspend: true })], { environment: PLAIN });
    expect(alone.phase).toBe('unknown');
    expect(alone.reason).toBe('no workloads of release web in namespace shop');
    expect(alone.drift.drifted).toBe(false);
  });

  it('ignores objects of other namespaces and HelmReleases of other names', () => {
    const other = { ...deployment({ updated: 0 }), metadata: { name: 'web', namespace: 'other' } };
    const otherRelease = { ...helmRelease(), metadata: { name: 'api', namespace: 'shop' } };
    expect(state([other, otherRelease]).phase).toBe('unknown');
  });

  it('ignores workloads Helm stamped as another release', () => {
    const api = deployment({ name: 'api', updated: 0 });
    (api.metadata as { annotations: Record<string, string> }).annotations[
      'meta.helm.sh/release-name'
    ] = 'api';
    const result = state([helmRelease(), deployment(), api]);
    expect(result.workloads.map((w) => w.name)).toEqual(['web']);
    expect(result.phase).toBe('healthy');
  });

  it('a Deployment rollout goes progressing → healthy, with its counts', () => {
    const rolling = state([
      helmRelease(),
      deployment({ updated: 1, ready: 3, available: 3, total: 4 }),
    ]);
    expect(rolling.workloads).toEqual([
      {
        kind: 'Deployment',
        name: 'web',
        desired: 3,
        updated: 1,
        ready: 3,
        available: 3,
        phase: 'progressing',
        reason: 'Deployment web: 1 of 3 replicas updated',
        commit: NEW,
      },
    ]);
    const done = state([helmRelease(), deployment()], { previous: rolling, now: minutes(4) });
    expect(done.phase).toBe('healthy');
    expect(done.workloads[0]).toMatchObject({
      desired: 3,
      updated: 3,
      available: 3,
      phase: 'healthy',
      reason: null,
    });
    expect(done.liveCommit).toEqual({ sha: NEW, from: 'workloads' });
    expect(done.rollingOutCommit).toBeNull();
    expect(done.since).toEqual(minutes(4));
  });

  it('names a failing workload, not secrets from the pod spec', () => {
    const result = state([
      helmRelease(),
      deployment({ available: 2 }),
      pod({
        containers: [
          {
            ready: false,
            waiting: { reason: 'CreateContainerConfigError', message: 'secret "db" not found' },
          },
        ],
      }),
    ]);
    expect(result.phase).toBe('failed');
    expect(result.reason).toContain(
      'CreateContainerConfigError of container app in pod web-5d9c7b-x2x4z',
    );
    expect(JSON.stringify(result)).not.toContain('hunter2');
    expect(result.workloads[0]?.phase).toBe('failed');
  });

  it('adds the newest warning event to a stuck rollout', () => {
    const result = state([
      helmRelease(),
      deployment({ updated: 2 }),
      event({
        kind: 'ReplicaSet',
        name: 'web-5d9c7b',
        reason: 'FailedCreate',
        message: 'exceeded quota: pods',
        at: minutes(1),
      }),
      event({
        kind: 'ReplicaSet',
        name: 'web-api-5d9c7b',
        reason: 'FailedCreate',
        message: 'not ours',
        at: minutes(2),
      }),
    ]);
    expect(result.reason).toBe(
      'Deployment web: 2 of 3 replicas updated; FailedCreate: exceeded quota: pods',
    );
  });
});

describe('rolloutState: live commit', () => {
  it('workloads that disagree: the rolled-out commit is live, the other is rolling out', () => {
    const result = state(
      [helmRelease(), statefulSet({ sha: OLD }), deployment({ sha: NEW, updated: 1 })],
      {
        committed: null,
      },
    );
    expect(result.liveCommit).toEqual({ sha: OLD, from: 'workloads' });
    expect(result.rollingOutCommit).toBe(NEW);
  });

  it('two rolled-out commits: the committed one is the newest', () => {
    const result = state([helmRelease(), statefulSet({ sha: OLD }), deployment({ sha: NEW })]);
    expect(result.liveCommit).toEqual({ sha: NEW, from: 'workloads' });
  });

  it('while every workload rolls out, ready pods of the old template tell what runs', () => {
    const result = state([
      helmRelease(),
      deployment({ sha: NEW, updated: 1, total: 4 }),
      pod({ name: 'web-4c8b6a-a', owner: { kind: 'ReplicaSet', name: 'web-4c8b6a' }, sha: OLD }),
      pod({ name: 'web-5d9c7b-b', sha: NEW }),
    ]);
    expect(result.liveCommit).toEqual({ sha: OLD, from: 'pods' });
    expect(result.rollingOutCommit).toBe(NEW);
  });

  it('without provenance on workloads, a released HelmRelease gives the commit', () => {
    const bare = deployment();
    const spec = (bare.spec as { template: { metadata: Record<string, unknown> } }).template;
    spec.metadata = {};
    const result = state([helmRelease({ sha: NEW }), bare]);
    expect(result.liveCommit).toEqual({ sha: NEW, from: 'helmrelease' });
    expect(result.phase).toBe('healthy');
  });

  it('a HelmRelease not yet released at a new commit is rolling that commit out', () => {
    const result = state([
      helmRelease({ sha: NEW, generation: 3, observedGeneration: 2 }),
      deployment({ sha: OLD }),
    ]);
    expect(result.liveCommit).toEqual({ sha: OLD, from: 'workloads' });
    expect(result.rollingOutCommit).toBe(NEW);
    expect(result.committedCommit).toBe(NEW);
  });
});

describe('rolloutState: drift', () => {
  const running = [helmRelease({ sha: OLD }), deployment({ sha: OLD })];
  it.each([
    { at: 2, phase: 'progressing', drifted: false, kind: null },
    { at: 9, phase: 'progressing', drifted: false, kind: null },
    { at: 10, phase: 'failed', drifted: true, kind: 'commit' },
    { at: 30, phase: 'failed', drifted: true, kind: 'commit' },
  ])(
    'live commit ≠ committed after $at min → $phase, drift $kind',
    ({ at, phase, drifted, kind }) => {
      const result = state(running, { now: minutes(at) });
      expect(result.phase).toBe(phase);
      expect(result.drift).toEqual({ drifted, kind, since: drifted ? T0 : null });
      expect(result.reason).toContain(
        phase === 'failed'
          ? `commit 2222222 was committed ${at} min ago`
          : 'waiting for commit 2222222',
      );
    },
  );

  it('a slow rollout of the committed commit is not drift', () => {
    const result = state([helmRelease(), statefulSet({ sha: OLD }), deployment({ updated: 1 })], {
      now: minutes(30),
    });
    expect(result.phase).toBe('progressing');
    expect(result.rollingOutCommit).toBe(NEW);
    expect(result.drift.drifted).toBe(false);
  });

  it('honours driftGraceMs', () => {
    const result = state(running, { now: minutes(3), options: { driftGraceMs: 60_000 } });
    expect(result.drift.kind).toBe('commit');
  });

  it('no drift when the committed commit runs, or nothing is committed', () => {
    expect(state([helmRelease(), deployment()], { now: minutes(60) }).drift.drifted).toBe(false);
    expect(state(running, { now: minutes(60), committed: null }).drift.drifted).toBe(false);
    expect(state(running, { now: minutes(60), committed: null }).phase).toBe('healthy');
  });

  it('a short committed sha matches the full one', () => {
    const result = state([helmRelease(), deployment()], {
      now: minutes(60),
      committed: { sha: NEW.slice(0, 7).toUpperCase(), committedAt: T0 },
    });
    expect(result.phase).toBe('healthy');
  });

  it.each([
    {
      case: 'suspended HelmRelease',
      objects: [helmRelease({ suspend: true }), deployment()],
      since: minutes(2),
    },
    {
      case: 'DriftDetected after the last release',
      objects: [
        helmRelease(),
        deployment(),
        event({
          kind: 'HelmRelease',
          name: 'web',
          reason: 'DriftDetected',
          message: 'Deployment/shop/web changed',
          at: minutes(1),
        }),
      ],
      since: minutes(1),
    },
  ])('edited: $case', ({ objects, since }) => {
    const result = state(objects);
    expect(result.drift).toEqual({ drifted: true, kind: 'edited', since });
    expect(result.phase).toBe('healthy');
  });

  it('a DriftDetected event older than the last release is corrected', () => {
    const result = state([
      helmRelease({
        history: [
          { chartVersion: '0.1.0', status: 'deployed', lastDeployed: minutes(1).toISOString() },
        ],
      }),
      deployment(),
      event({ kind: 'HelmRelease', name: 'web', reason: 'DriftDetected', message: 'x', at: T0 }),
    ]);
    expect(result.drift.drifted).toBe(false);
  });
});

describe('rolloutState: malformed objects', () => {
  const huge = `Helm upgrade failed:\n${'line\r\n\u0000\u202e'.repeat(5000)}`;
  it.each([
    {
      case: 'status is a string',
      objects: [
        { ...helmRelease(), status: 'broken' },
        { ...deployment(), status: 'x' },
      ],
    },
    {
      case: 'conditions not an array',
      objects: [{ ...helmRelease(), status: { conditions: { Ready: 'True' } } }],
    },
    {
      case: 'metadata missing or null',
      objects: [{ apiVersion: 'apps/v1', kind: 'Deployment', metadata: null }],
    },
    {
      case: 'numbers as strings',
      objects: [{ ...deployment(), spec: { replicas: '3' }, status: { updatedReplicas: 'all' } }],
    },
    { case: 'not objects at all', objects: [null, 42, 'Pod', [], undefined, true] },
    {
      case: 'pods with odd container statuses',
      objects: [
        helmRelease(),
        deployment({ available: 2 }),
        {
          ...pod(),
          status: {
            containerStatuses: [
              null,
              'x',
              { name: 5 },
              { name: 'app', restartCount: -3, state: 'waiting' },
            ],
          },
        },
      ],
    },
    {
      case: 'huge multi-line messages',
      objects: [
        helmRelease({
          conditions: [{ type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: huge }],
        }),
      ],
    },
    {
      case: 'events with bad timestamps',
      objects: [
        helmRelease(),
        deployment({ updated: 1 }),
        {
          ...event({ kind: 'Deployment', name: 'web', reason: 'X', message: huge }),
          lastTimestamp: 'yesterday',
          count: 'many',
        },
      ],
    },
  ])('$case: no throw, bounded one-line reason', ({ objects }) => {
    const result = state(objects as unknown[]);
    expect(['unknown', 'progressing', 'healthy', 'failed']).toContain(result.phase);
    for (const reason of [result.reason, ...result.workloads.map((w) => w.reason)]) {
      if (reason === null) continue;
      expect(reason.length).toBeLessThanOrEqual(500);
      expect(reason).not.toMatch(/[\p{Cc}\u202e]/u);
    }
    expect(result.since).toBeInstanceOf(Date);
  });

  it('a huge failure message is cut with an ellipsis', () => {
    const result = state([
      helmRelease({
        conditions: [{ type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: huge }],
      }),
    ]);
    expect(result.phase).toBe('failed');
    expect(result.reason).toMatch(
      /^HelmRelease web: UpgradeFailed: Helm upgrade failed: line line/,
    );
    expect(result.reason?.endsWith('…')).toBe(true);
    expect(result.reason).toHaveLength(500);
  });
});

describe('rolloutState: since', () => {
  const failing = helmRelease({
    conditions: [
      { type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: 'boom', at: minutes(1) },
    ],
  });

  it('a new phase starts at the condition transition', () => {
    expect(state([failing]).since).toEqual(minutes(1));
  });

  it('is kept while the phase stays the same, even when the cause moves', () => {
    const first = state([deployment({ updated: 1 })], { now: minutes(1) });
    const second = state([deployment({ updated: 2 })], { now: minutes(5), previous: first });
    expect(second.phase).toBe('progressing');
    expect(second.since).toEqual(minutes(1));
  });

  it('a transition older than the previous state, or in the future, reads as now', () => {
    const previous = state([deployment({ updated: 1 })], { now: minutes(3) });
    const stale = helmRelease({
      conditions: [
        { type: 'Ready', status: 'False', reason: 'UpgradeFailed', message: 'boom', at: T0 },
      ],
    });
    expect(state([stale], { now: minutes(4), previous }).since).toEqual(minutes(4));
    const future = helmRelease({
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'UpgradeFailed',
          message: 'boom',
          at: minutes(99),
        },
      ],
    });
    expect(state([future], { now: minutes(4) }).since).toEqual(minutes(4));
  });

  it('accepts a previous state read back from JSON (dates as strings)', () => {
    const previous = JSON.parse(JSON.stringify(state([failing]))) as RolloutState;
    expect(() => state([failing], { previous })).not.toThrow();
    expect(state([failing], { previous }).since).toBeInstanceOf(Date);
  });
});

describe('reportKey / sameReport', () => {
  it('ignores counts and since', () => {
    const a = state([helmRelease(), deployment({ updated: 1 })], { now: minutes(1) });
    const b = state([helmRelease(), deployment({ updated: 2 })], { now: minutes(3), previous: a });
    expect(a.reason).not.toBe(b.reason);
    expect(reportKey(a)).toBe(reportKey(b));
    expect(sameReport(a, b)).toBe(true);
  });

  it('ignores restart counts of the same crash loop', () => {
    const crash = (restarts: number) =>
      state([
        helmRelease(),
        deployment(),
        pod({ containers: [{ ready: false, restarts, waiting: { reason: 'CrashLoopBackOff' } }] }),
      ]);
    expect(sameReport(crash(3), crash(7))).toBe(true);
  });

  it.each([
    { case: 'phase', other: [helmRelease(), deployment()] },
    { case: 'rolling-out commit', other: [helmRelease(), deployment({ sha: OLD, updated: 1 })] },
    { case: 'drift', other: [helmRelease({ suspend: true }), deployment({ updated: 1 })] },
    { case: 'reason', other: [helmRelease(), deployment({ updated: 3, available: 1 })] },
  ])('tells a change of $case', ({ other }) => {
    const base = state([helmRelease(), deployment({ updated: 1 })]);
    expect(sameReport(base, state(other))).toBe(false);
  });
});

describe('rolloutState: Flux sources', () => {
  const chartNotReady = [
    {
      type: 'Ready',
      status: 'False',
      reason: 'ArtifactFailed',
      message: "HelmChart 'shop/shop-web' is not ready",
    },
  ];
  const sourceRef = { kind: 'GitRepository', name: 'web' };
  const failing = fluxSource({
    conditions: [
      {
        type: 'Ready',
        status: 'False',
        reason: 'GitOperationFailed',
        message: 'failed to checkout and determine revision: authentication required',
      },
    ],
  });

  it("names the chart source's failure when the release waits for its chart", () => {
    const result = state([
      helmRelease({ sourceRef, conditions: chartNotReady }),
      failing,
      deployment({ sha: OLD }),
    ]);
    expect(result.phase).toBe('progressing');
    expect(result.reason).toBe(
      'GitRepository web: GitOperationFailed: failed to checkout and determine revision: authentication required',
    );
  });

  it('fails the release when its source gave up (Stalled)', () => {
    const stalled = fluxSource({
      kind: 'HelmRepository',
      conditions: [
        { type: 'Ready', status: 'False', reason: 'URLInvalid', message: 'invalid URL' },
        { type: 'Stalled', status: 'True', reason: 'URLInvalid', message: 'invalid URL: ftp://x' },
      ],
    });
    const result = state([
      helmRelease({
        sourceRef: { kind: 'HelmRepository', name: 'web' },
        conditions: chartNotReady,
      }),
      stalled,
      deployment({ sha: OLD }),
    ]);
    expect(result.phase).toBe('failed');
    expect(result.reason).toBe('HelmRepository web: URLInvalid: invalid URL: ftp://x');
  });

  it('leaves a healthy release alone, and ignores sources it does not use', () => {
    expect(state([helmRelease({ sourceRef }), failing, deployment()]).phase).toBe('healthy');
    const other = state([
      helmRelease({
        sourceRef: { kind: 'GitRepository', name: 'other' },
        conditions: chartNotReady,
      }),
      failing,
      deployment({ sha: OLD }),
    ]);
    expect(other.reason).toBe(
      "HelmRelease web: ArtifactFailed: HelmChart 'shop/shop-web' is not ready",
    );
    const elsewhere = state([
      helmRelease({
        sourceRef: { ...sourceRef, namespace: 'flux-system' },
        conditions: chartNotReady,
      }),
      failing,
      deployment({ sha: OLD }),
    ]);
    expect(elsewhere.reason).toMatch(/^HelmRelease web: ArtifactFailed/);
  });

  it('a plain chart has no source to look at', () => {
    const result = state([failing, deployment()], { environment: PLAIN });
    expect(result.phase).toBe('healthy');
  });
});
