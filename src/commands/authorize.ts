import type { Command } from './parse.ts';
import { PERMISSIONS, type DeployRules, type Permission } from '../model.ts';

/** What is known about the commenter and the pull request when a command is checked. */
export type CommandFacts = {
  permission: Permission;
  /** What the provider calls the request, for the reasons DAG gives (GitLab: merge request). */
  noun: 'pull request' | 'merge request';
  /** The pull request comes from a fork. */
  fork: boolean;
  /** The branch the pull request goes into. */
  baseBranch: string;
  /** Only needed (and only fetched) when an environment's rules ask for it. */
  approved?: boolean | undefined;
  checksGreen?: boolean | undefined;
};

/** A rule a command failed: its short name (bounded, fit for a metric label) and why. */
export type Failure = { rule: string; reason: string };

/** A refusal lists every rule that failed, in the order they are checked; never empty. */
export type Decision = { allowed: true } | { allowed: false; failures: [Failure, ...Failure[]] };

const atLeast = (p: Permission, min: Permission) =>
  PERMISSIONS.indexOf(p) >= PERMISSIONS.indexOf(min);

/** The facts a command needs beyond permission and fork, so callers fetch only those. */
export function factsNeeded(rules: DeployRules | undefined): {
  approval: boolean;
  checks: boolean;
} {
  return {
    approval: rules?.requiresApproval ?? false,
    checks: rules?.requiresGreenChecks ?? false,
  };
}

/**
 * Whether this commenter may run this command. Every command needs write access, checked
 * through the provider's API (not the comment's author association); without it nothing else is
 * checked (the other facts may not even have been fetched). `/deploy` adds: no forks, and the
 * target environment's rules. A refusal names every rule that failed, so one reply says all
 * that stands in the way.
 */
export function authorize(
  command: Command,
  facts: CommandFacts,
  target?: { environment: string; branch: string; rules: DeployRules },
): Decision {
  if (command.kind === 'help') return { allowed: true };
  if (!atLeast(facts.permission, 'write')) {
    return refuse([
      {
        rule: 'write-access',
        reason: `DAG commands need write access to the repository (you have ${facts.permission})`,
      },
    ]);
  }
  if (command.kind !== 'deploy' || !target) return { allowed: true };
  const failures: Failure[] = [];
  if (facts.fork) {
    failures.push({
      rule: 'no-forks',
      reason: `${facts.noun}s from forks cannot be deployed: their code has not been reviewed into this repository`,
    });
  }
  const { rules, environment, branch } = target;
  if (rules.onlyFromOwnBranch && facts.baseBranch !== branch) {
    failures.push({
      rule: 'own-branch',
      reason: `${environment} only takes ${facts.noun}s into ${branch} (this one goes into ${facts.baseBranch})`,
    });
  }
  if (rules.requiresApproval && facts.approved !== true) {
    failures.push({
      rule: 'approval',
      reason: `${environment} needs an approved ${facts.noun} with no changes requested`,
    });
  }
  if (rules.requiresGreenChecks && facts.checksGreen !== true) {
    failures.push({
      rule: 'green-checks',
      reason: `${environment} needs every check on the head commit to have passed`,
    });
  }
  return refuse(failures);
}

function refuse(failures: Failure[]): Decision {
  const [first, ...rest] = failures;
  return first ? { allowed: false, failures: [first, ...rest] } : { allowed: true };
}

/**
 * Whether this commenter may open the promotion into `environment`: at least `required`
 * permission on the app repository (more than write access for production, by default).
 */
export function authorizePromotion(
  permission: Permission,
  required: Permission,
  environment: string,
): Decision {
  if (atLeast(permission, required)) return { allowed: true };
  return refuse([
    {
      rule: 'promote-permission',
      reason: `promoting to ${environment} needs ${required} access to the repository (you have ${permission})`,
    },
  ]);
}
