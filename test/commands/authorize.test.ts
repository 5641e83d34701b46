import { describe, expect, it } from 'vitest';
import { authorize, type CommandFacts } from '../../src/commands/authorize.ts';
import type { Command } from '../../src/commands/parse.ts';

const deploy: Command = { kind: 'deploy', environment: 'production' };
const facts = (over: Partial<CommandFacts> = {}): CommandFacts => ({
  permission: 'write',
  noun: 'pull request',
  fork: false,
  baseBranch: 'main',
  approved: true,
  checksGreen: true,
  ...over,
});
const strict = { requiresApproval: true, requiresGreenChecks: true, onlyFromOwnBranch: true };
const open = { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false };
const production = { environment: 'production', branch: 'main', rules: strict };
const staging = { environment: 'staging', branch: 'develop', rules: open };

describe('authorize', () => {
  it.each([
    [
      'help for anyone',
      { kind: 'help' } as Command,
      facts({ permission: 'none' }),
      undefined,
      true,
      undefined,
    ],
    [
      'diff with write',
      { kind: 'diff', target: 'all' } as Command,
      facts(),
      undefined,
      true,
      undefined,
    ],
    [
      'diff with read only',
      { kind: 'diff', target: undefined } as Command,
      facts({ permission: 'read' }),
      undefined,
      false,
      ['write-access'],
    ],
    [
      'triage is not write',
      deploy,
      facts({ permission: 'triage' }),
      staging,
      false,
      ['write-access'],
    ],
    [
      'deploy to staging with write',
      deploy,
      facts({ baseBranch: 'feature', approved: false, checksGreen: false }),
      staging,
      true,
      undefined,
    ],
    [
      'deploy from a fork',
      deploy,
      facts({ fork: true, permission: 'admin' }),
      staging,
      false,
      ['no-forks'],
    ],
    [
      'production from another branch',
      deploy,
      facts({ baseBranch: 'develop' }),
      production,
      false,
      ['own-branch'],
    ],
    [
      'production without approval',
      deploy,
      facts({ approved: false }),
      production,
      false,
      ['approval'],
    ],
    [
      'production with red checks',
      deploy,
      facts({ checksGreen: false }),
      production,
      false,
      ['green-checks'],
    ],
    [
      'production from another branch, unapproved: both rules named',
      deploy,
      facts({ baseBranch: 'develop', approved: false }),
      production,
      false,
      ['own-branch', 'approval'],
    ],
    [
      'production from a fork failing every rule',
      deploy,
      facts({ fork: true, baseBranch: 'develop', approved: false, checksGreen: undefined }),
      production,
      false,
      ['no-forks', 'own-branch', 'approval', 'green-checks'],
    ],
    [
      'without write access nothing else is checked',
      deploy,
      facts({ permission: 'read', fork: true, approved: false }),
      production,
      false,
      ['write-access'],
    ],
    [
      'production with everything',
      deploy,
      facts({ permission: 'maintain' }),
      production,
      true,
      undefined,
    ],
  ] as const)('%s', (_name, command, f, target, allowed, rules) => {
    const decision = authorize(command, f, target);
    expect(decision.allowed).toBe(allowed);
    if (!decision.allowed) {
      expect(decision.failures.map((x) => x.rule)).toEqual(rules);
      for (const { reason } of decision.failures) expect(reason.length).toBeGreaterThan(10);
    }
  });

  it('names the request as the provider does (GitLab: merge request)', () => {
    const decision = authorize(
      deploy,
      facts({ noun: 'merge request', fork: true, baseBranch: 'develop', approved: false }),
      production,
    );
    expect(decision.allowed).toBe(false);
    const reasons = decision.allowed ? [] : decision.failures.map((f) => f.reason);
    expect(reasons).toEqual([
      'merge requests from forks cannot be deployed: their code has not been reviewed into this repository',
      'production only takes merge requests into main (this one goes into develop)',
      'production needs an approved merge request with no changes requested',
    ]);
    expect(reasons.join(' ')).not.toContain('pull request');
  });
});
