import { describe, expect, it } from 'vitest';
import {
  baseEnvironmentName,
  uniqueEnvironmentName,
  type NamingInput,
} from '../../src/store/environment-name.ts';

const env = (over: Partial<NamingInput>): NamingInput => ({
  id: 1,
  branch: 'main',
  iacPath: 'apps/my-app',
  helmName: 'my-app',
  helmNamespace: 'default',
  appName: 'my-app',
  ...over,
});

describe('environment names', () => {
  it.each([
    // The seed's examples.
    [{ branch: 'main', iacPath: 'clusters/production/my-app' }, 'production'],
    [{ branch: 'develop', iacPath: 'clusters/staging/my-app' }, 'staging'],
    // Seed 001/002 layouts: the environment is the last folder.
    [{ iacPath: 'components/frontend/staging' }, 'staging'],
    // Seed 003: nonprod/prod folders.
    [{ iacPath: 'nonprod/my-app' }, 'nonprod'],
    // No environment folder: a branch that names one.
    [{ branch: 'qa', iacPath: 'deploy/my-app' }, 'qa'],
    // Neither: the deepest folder that is not the app's own name.
    [{ branch: 'main', iacPath: 'regions/eu-west/my-app' }, 'eu-west'],
    // Nothing else: the branch, as a slug.
    [{ branch: 'Feature/X', iacPath: 'my-app', helmName: null }, 'feature-x'],
  ])('%j -> %s', (over, expected) => {
    expect(baseEnvironmentName(env(over))).toBe(expected);
  });

  it('makes a clashing name unique with the branch, then the id', () => {
    const input = env({ id: 7, branch: 'hotfix', iacPath: 'clusters/production/my-app' });
    expect(uniqueEnvironmentName(input, new Set())).toBe('production');
    expect(uniqueEnvironmentName(input, new Set(['production']))).toBe('production-hotfix');
    expect(uniqueEnvironmentName(input, new Set(['production', 'production-hotfix']))).toBe(
      'production-7',
    );
  });
});
