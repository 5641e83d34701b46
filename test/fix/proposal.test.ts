import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  PROPOSAL_LIMITS,
  proposalFingerprint,
  validateProposal,
  type Proposal,
} from '../../src/fix/proposal.ts';

const L = PROPOSAL_LIMITS;

function body(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    target: { app: 'my-app', environment: 'staging' },
    change: { kind: 'values-patch', patch: { resources: { limits: { memory: '256Mi' } } } },
    title: 'Raise the memory limit of my-app in staging',
    rationale: 'The pod was OOMKilled three times in the last hour.',
    evidence: [{ kind: 'event', text: 'OOMKilled: container web' }],
    agent: { name: 'sre-bot', model: 'model-x' },
    ...overrides,
  };
}

function refused(input: unknown) {
  const result = validateProposal(input);
  if (result.ok) throw new Error('expected a refusal');
  return result;
}

describe('validateProposal', () => {
  it('accepts each change kind and both target shapes', () => {
    for (const change of [
      { kind: 'values-patch', patch: { a: null, b: { c: [1, 'x', true] } }, base: true },
      { kind: 'files', files: [{ path: 'deploy/values-staging.yaml', content: 'a: 1\n' }] },
      { kind: 'diff', diff: '--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n' },
    ]) {
      const result = validateProposal(body({ change }));
      expect(result).toEqual({ ok: true, proposal: body({ change }) });
    }
    const workload = { cluster: 'prod-eu', namespace: 'shop', kind: 'Deployment', name: 'web' };
    expect(validateProposal(body({ target: workload })).ok).toBe(true);
  });

  it('defaults evidence to none', () => {
    const input = body();
    delete input.evidence;
    const result = validateProposal(input);
    expect(result.ok && result.proposal.evidence).toEqual([]);
  });

  it.each([
    ['at the top', body({ extra: 1 }), 'extra'],
    [
      'in the target',
      body({ target: { app: 'a', environment: 'b', branch: 'x' } }),
      'target.branch',
    ],
    [
      'in a workload target',
      body({ target: { cluster: 'c', namespace: 'n', kind: 'k', name: 'x', uid: 1 } }),
      'target.uid',
    ],
    ['in the change', body({ change: { kind: 'diff', diff: 'x', path: 'y' } }), 'change.path'],
    [
      'in a file',
      body({ change: { kind: 'files', files: [{ path: 'p', content: '', mode: '100755' }] } }),
      'change.files[0].mode',
    ],
    ['in evidence', body({ evidence: [{ kind: 'log', text: 't', at: 'now' }] }), 'evidence[0].at'],
    ['in the agent', body({ agent: { name: 'a', model: 'm', version: '1' } }), 'agent.version'],
  ])('refuses an unknown field %s (400, naming it)', (_where, input, field) => {
    const result = refused(input);
    expect(result.status).toBe(400);
    expect(result.errors).toContainEqual({ field, message: 'is not a known field' });
  });

  it.each([
    ['a missing title', body({ title: undefined }), 'title', 'is required'],
    ['a missing environment', body({ target: { app: 'a' } }), 'target.environment', 'is required'],
    [
      'a workload target missing its name',
      body({ target: { cluster: 'c', namespace: 'n', kind: 'k' } }),
      'target.name',
      'is required',
    ],
    [
      'an unknown change kind',
      body({ change: { kind: 'script', run: 'x' } }),
      'change.kind',
      'must be one of values-patch, files, diff',
    ],
    [
      'a title on two lines',
      body({ title: 'one\ntwo' }),
      'title',
      'must be one line without control characters',
    ],
    ['a blank rationale', body({ rationale: '  ' }), 'rationale', 'must not be empty'],
    [
      'an unknown evidence kind',
      body({ evidence: [{ kind: 'trace', text: 't' }] }),
      'evidence[0].kind',
      expect.stringContaining('event'),
    ],
    [
      'a patch that is a list',
      body({ change: { kind: 'values-patch', patch: [1] } }),
      'change.patch',
      expect.any(String),
    ],
    [
      'a path given twice',
      body({
        change: {
          kind: 'files',
          files: [
            { path: 'a', content: '' },
            { path: 'a', content: '' },
          ],
        },
      }),
      'change.files[1].path',
      '"a" is given twice',
    ],
    [
      'a lone surrogate in a path',
      body({ change: { kind: 'files', files: [{ path: 'a\uD800', content: '' }] } }),
      'change.files[0].path',
      'is not valid Unicode (it has no UTF-8 encoding)',
    ],
    [
      'a lone surrogate in content',
      body({ change: { kind: 'files', files: [{ path: 'a', content: '\uDC00' }] } }),
      'change.files[0].content',
      'is not valid Unicode (it has no UTF-8 encoding)',
    ],
    [
      'an empty diff',
      body({ change: { kind: 'diff', diff: '' } }),
      'change.diff',
      expect.any(String),
    ],
    ['a body that is no object', 'text', '(body)', expect.any(String)],
  ])('refuses %s (400)', (_name, input, field, message) => {
    const result = refused(input);
    expect(result.status).toBe(400);
    expect(result.errors).toContainEqual({ field, message });
  });

  const big = (n: number) => 'x'.repeat(n);
  it.each([
    ['a long title', body({ title: big(L.titleChars + 1) }), 'title'],
    ['a long rationale', body({ rationale: big(L.rationaleChars + 1) }), 'rationale'],
    [
      'a long evidence item',
      body({ evidence: [{ kind: 'log', text: big(L.evidenceItemChars + 1) }] }),
      'evidence[0].text',
    ],
    [
      'too many evidence items',
      body({
        evidence: Array.from({ length: L.evidenceItems + 1 }, () => ({ kind: 'log', text: 'x' })),
      }),
      'evidence',
    ],
    [
      'too much evidence together',
      body({
        evidence: Array.from({ length: 6 }, () => ({
          kind: 'log',
          text: big(L.evidenceItemChars),
        })),
      }),
      'evidence',
    ],
    [
      'a long agent name',
      body({ agent: { name: big(L.agentChars + 1), model: 'm' } }),
      'agent.name',
    ],
    [
      'a large patch',
      body({ change: { kind: 'values-patch', patch: { a: big(L.patchBytes) } } }),
      'change.patch',
    ],
    [
      'a deep patch',
      body({ change: { kind: 'values-patch', patch: deep(L.patchDepth + 1) } }),
      'change.patch',
    ],
    [
      'a large file',
      body({ change: { kind: 'files', files: [{ path: 'a', content: big(L.fileBytes + 1) }] } }),
      'change.files[0].content',
    ],
    [
      'large files together',
      body({
        change: {
          kind: 'files',
          files: [
            { path: 'a', content: big(L.fileBytes) },
            { path: 'b', content: 'x' },
          ],
        },
      }),
      'change.files',
    ],
    [
      'too many files',
      body({
        change: {
          kind: 'files',
          files: Array.from({ length: L.files + 1 }, (_, i) => ({ path: `f${i}`, content: '' })),
        },
      }),
      'change.files',
    ],
    ['a large diff', body({ change: { kind: 'diff', diff: big(L.diffBytes + 1) } }), 'change.diff'],
    [
      'a long path',
      body({ change: { kind: 'files', files: [{ path: big(L.pathChars + 1), content: '' }] } }),
      'change.files[0].path',
    ],
  ])('refuses %s (413, naming the field)', (_name, input, field) => {
    const result = refused(input);
    expect(result.status).toBe(413);
    expect(result.errors.map((e) => e.field)).toContain(field);
  });

  it('accepts exactly the caps', () => {
    const result = validateProposal(
      body({
        title: big(L.titleChars),
        rationale: big(L.rationaleChars),
        change: { kind: 'values-patch', patch: deep(L.patchDepth) },
      }),
    );
    expect(result.ok).toBe(true);
  });
});

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let i = 1; i < levels; i++) value = { n: value };
  return value;
}

describe('proposalFingerprint', () => {
  const proposal = (overrides: Record<string, unknown> = {}) => {
    const result = validateProposal(body(overrides));
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    return result.proposal;
  };
  const files = (order: string[]): Proposal['change'] => ({
    kind: 'files',
    files: order.map((path) => ({ path, content: `${path}: 1\n` })),
  });

  it('is a stable SHA-256 of the target and the change', () => {
    // A literal: a fingerprint stored with a pull request must keep matching across releases.
    // It is the SHA-256 of this canonical JSON (keys sorted, base spelled out).
    const canonical =
      '{"change":{"base":false,"kind":"values-patch","patch":{"resources":{"limits":{"memory":"256Mi"}}}},' +
      '"target":{"app":"my-app","environment":"staging"}}';
    expect(createHash('sha256').update(canonical).digest('hex')).toBe(
      '72d05387c5af44ee66370662b9fef5877cb46bd62f4657759ad9bb3d035813aa',
    );
    expect(proposalFingerprint(proposal())).toBe(
      '72d05387c5af44ee66370662b9fef5877cb46bd62f4657759ad9bb3d035813aa',
    );
  });

  it('ignores words, evidence, agent, key order, file order and an unset base', () => {
    const a = proposal();
    const b = proposal({
      title: 'Other words',
      rationale: 'Other reasons',
      evidence: [],
      agent: { name: 'other', model: 'other' },
      change: {
        patch: { resources: { limits: { memory: '256Mi' } } },
        kind: 'values-patch',
        base: false,
      },
      target: { environment: 'staging', app: 'my-app' },
    });
    expect(proposalFingerprint(b)).toBe(proposalFingerprint(a));
    expect(proposalFingerprint({ target: a.target, change: files(['x', 'y']) })).toBe(
      proposalFingerprint({ target: a.target, change: files(['y', 'x']) }),
    );
  });

  it('differs when the target, the change or base differ', () => {
    const a = proposal();
    const others = [
      proposal({ target: { app: 'my-app', environment: 'production' } }),
      proposal({
        change: { kind: 'values-patch', patch: { resources: { limits: { memory: '512Mi' } } } },
      }),
      proposal({
        change: {
          kind: 'values-patch',
          patch: { resources: { limits: { memory: '256Mi' } } },
          base: true,
        },
      }),
    ].map(proposalFingerprint);
    expect(new Set([proposalFingerprint(a), ...others]).size).toBe(4);
  });
});
