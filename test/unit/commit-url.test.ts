import { describe, expect, it } from 'vitest';
import { iacCommitUrl, type ForgeUrls } from '../../src/util/commit-url.ts';

const SHA = 'c0ffee'.padEnd(40, '0');
const iac = (repoUrl: string, gitProvider: 'github' | 'gitlab' | null = null) => ({
  repoUrl,
  gitProvider,
});
const forges: ForgeUrls = {
  gitlab: 'https://example.com/gitlab',
  github: 'https://ghe.example.com',
};

describe('iacCommitUrl', () => {
  it.each([
    // The configured GitLab, path prefix included: GitLab's /-/commit/ form.
    [
      'https://example.com/gitlab/platform/iac.git',
      `https://example.com/gitlab/platform/iac/-/commit/${SHA}`,
    ],
    [
      'https://example.com/gitlab/group/sub/iac',
      `https://example.com/gitlab/group/sub/iac/-/commit/${SHA}`,
    ],
    // git over ssh has no path prefix: the web address is GITLAB_URL's.
    ['git@example.com:platform/iac.git', `https://example.com/gitlab/platform/iac/-/commit/${SHA}`],
    [
      'ssh://git@example.com:2222/platform/iac.git',
      `https://example.com/gitlab/platform/iac/-/commit/${SHA}`,
    ],
    // A clone URL's credentials never reach a link.
    [
      'https://oauth2:glpat-x@example.com/gitlab/platform/iac.git',
      `https://example.com/gitlab/platform/iac/-/commit/${SHA}`,
    ],
    ['https://gitlab.com/org/iac.git', `https://gitlab.com/org/iac/-/commit/${SHA}`],
    // github.com and the configured GitHub Enterprise Server: GitHub's /commit/ form.
    ['https://github.com/Org/IAC.git', `https://github.com/Org/IAC/commit/${SHA}`],
    ['git@github.com:org/iac.git', `https://github.com/org/iac/commit/${SHA}`],
    ['https://ghe.example.com/org/iac', `https://ghe.example.com/org/iac/commit/${SHA}`],
  ])('links %s on a known forge', (url, link) => {
    expect(iacCommitUrl(iac(url), SHA, forges)).toBe(link);
  });

  it('does not take a host named gitlab for GitLab, nor any unknown host for GitHub', () => {
    expect(
      iacCommitUrl(iac('https://gitlab.corp.example/org/iac.git'), SHA, forges),
    ).toBeUndefined();
    expect(iacCommitUrl(iac('https://git.corp.example/org/iac.git'), SHA, forges)).toBeUndefined();
    // Same host as GITLAB_URL, but outside its path prefix: not that GitLab.
    expect(iacCommitUrl(iac('https://example.com/other/iac.git'), SHA, forges)).toBeUndefined();
  });

  it("follows the IAC's git_provider on an unknown host", () => {
    expect(iacCommitUrl(iac('https://git.corp.example/org/iac.git', 'gitlab'), SHA, forges)).toBe(
      `https://git.corp.example/org/iac/-/commit/${SHA}`,
    );
    expect(iacCommitUrl(iac('http://127.0.0.1:8080/org/iac', 'github'), SHA, forges)).toBe(
      `http://127.0.0.1:8080/org/iac/commit/${SHA}`,
    );
    expect(iacCommitUrl(iac('git@git.corp.example:org/iac.git', 'gitlab'), SHA)).toBe(
      `https://git.corp.example/org/iac/-/commit/${SHA}`,
    );
  });

  it('knows the configured forges before the column (the host decides)', () => {
    expect(iacCommitUrl(iac('https://github.com/org/iac', 'gitlab'), SHA, forges)).toBe(
      `https://github.com/org/iac/commit/${SHA}`,
    );
  });

  it('without configured forges, knows github.com and gitlab.com only', () => {
    expect(iacCommitUrl(iac('https://example.com/gitlab/platform/iac.git'), SHA)).toBeUndefined();
    expect(iacCommitUrl(iac('https://gitlab.com/org/iac'), SHA)).toBe(
      `https://gitlab.com/org/iac/-/commit/${SHA}`,
    );
  });

  it('says nothing for a URL that names no repository', () => {
    expect(iacCommitUrl(iac('not a url'), SHA, forges)).toBeUndefined();
    expect(iacCommitUrl(iac('https://github.com/'), SHA, forges)).toBeUndefined();
  });
});
