import { describe, expect, it } from 'vitest';
import { repoKey, repoShortName } from '../../src/util/repo-url.ts';

describe('repoKey', () => {
  it.each([
    ['https://github.com/org/app', 'github.com/org/app'],
    ['https://github.com/Org/App.git', 'github.com/org/app'],
    ['https://www.github.com/org/app/', 'github.com/org/app'],
    ['http://GitHub.com/org/app.git/', 'github.com/org/app'],
    ['git@github.com:org/app.git', 'github.com/org/app'],
    ['ssh://git@github.com/org/app.git', 'github.com/org/app'],
    ['ssh://git@gitlab.example.com:2222/group/sub/app.git', 'gitlab.example.com/group/sub/app'],
    ['https://gitlab.com/group/subgroup/deeper/app', 'gitlab.com/group/subgroup/deeper/app'],
    ['https://oauth2:secret@gitlab.com/org/app.git', 'gitlab.com/org/app'],
  ])('%s -> %s', (input, expected) => {
    expect(repoKey(input)).toBe(expected);
  });

  it.each([
    '',
    'not a url',
    'ftp://example.com/org/app',
    'https://github.com/',
    'https://github.com/just-owner',
  ])('rejects %j', (input) => {
    expect(repoKey(input)).toBeUndefined();
  });

  it('gives the repository name as short name', () => {
    expect(repoShortName('https://gitlab.com/org/my-app')).toBe('my-app');
    expect(repoShortName('git@github.com:org/My-App.git')).toBe('my-app');
  });
});
