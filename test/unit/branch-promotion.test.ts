// The domain rules of branch promotions: which branch runs in an environment, and which branch
// promotion can work between two environments.

import { describe, expect, it } from 'vitest';
import {
  branchPromotion,
  branchPromotionProblem,
  releasedBranch,
  type BranchLayout,
} from '../../src/model.ts';

const env = (name: string, over: Partial<BranchLayout> = {}): BranchLayout => ({
  name,
  iacId: 1,
  iacPath: `apps/${name}`,
  iacBranch: 'main',
  reconciledBranch: null,
  ...over,
});
const iacName = (id: number) => `iac-${id}`;

describe('releasedBranch', () => {
  it.each<[Partial<BranchLayout>, string | null, string | null]>([
    [{ reconciledBranch: 'production' }, null, 'production'],
    [{}, 'trunk', 'main'],
    [{ iacBranch: null }, 'trunk', 'trunk'],
    [{ iacBranch: null }, null, null],
    [{ iacBranch: null, reconciledBranch: 'production' }, 'trunk', 'production'],
  ])('of %j (default branch %s) is %s', (over, fallback, expected) => {
    expect(releasedBranch(env('production', over), fallback)).toBe(expected);
  });
});

describe('branch promotions', () => {
  const staging = env('staging');
  const production = env('production', { reconciledBranch: 'production' });

  it('go from the branch DAG writes into the branch the target cluster reconciles (d1)', () => {
    expect(branchPromotion(staging, production)).toEqual({ head: 'main', base: 'production' });
    expect(branchPromotionProblem(staging, production, iacName)).toBeUndefined();
  });

  it('work on two branches in two folders', () => {
    const target = env('production', { iacBranch: 'production' });
    expect(branchPromotion(staging, target)).toEqual({ head: 'main', base: 'production' });
    expect(branchPromotionProblem(staging, target, iacName)).toBeUndefined();
  });

  it.each<[string, BranchLayout, BranchLayout, string]>([
    [
      'one folder on two branches',
      env('staging', { iacPath: 'apps/shop/' }),
      env('production', { iacPath: 'apps/shop', iacBranch: 'production' }),
      "strategy 'iac-branch' cannot promote staging to production: both write apps/shop of iac-1 (on branches main and production), so merging main into production would conflict where DAG wrote both and carry staging's values into production. Layouts that work: a folder per environment on one branch (strategy 'folder'), or the d1 layout: a folder per environment on one branch (e.g. apps/staging and apps/production on main) with production's cluster reconciling its own branch (dag envs set APP production --reconciled-branch production)",
    ],
    [
      'one branch, nothing reconciled elsewhere',
      staging,
      env('production'),
      "strategy 'iac-branch' needs two IAC branches, but staging and production both write branch main of iac-1 (use 'folder', or set the branch production's cluster reconciles: dag envs set APP production --reconciled-branch BRANCH)",
    ],
    [
      'two IAC repositories',
      staging,
      env('production', { iacId: 2, reconciledBranch: 'production' }),
      "strategy 'iac-branch' needs both environments in one IAC repository, but staging writes iac-1 and production iac-2 (use 'folder')",
    ],
    [
      'a source on the default branch',
      env('staging', { iacBranch: null }),
      production,
      "strategy 'iac-branch' needs both IAC branches named: staging writes the default branch of iac-1, which DAG cannot compare with production's branch production",
    ],
  ])('refuse %s', (_what, from, to, message) => {
    expect(branchPromotionProblem(from, to, iacName)).toBe(message);
  });
});
