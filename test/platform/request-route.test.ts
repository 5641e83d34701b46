import { describe, expect, it } from 'vitest';
import { rateLimitOf } from '../../src/platform/request-metrics.ts';
import { routeLabel, templatePath } from '../../src/platform/request-route.ts';

describe('routeLabel', () => {
  it.each([
    // Octokit's routes are templates already: they pass through (query templates dropped).
    [
      'github',
      'post',
      '/repos/{owner}/{repo}/deployments',
      'POST /repos/{owner}/{repo}/deployments',
    ],
    [
      'github',
      'GET',
      '/repos/{owner}/{repo}/contents/{path}{?ref}',
      'GET /repos/{owner}/{repo}/contents/{path}',
    ],
    [
      'github',
      'POST',
      '/app/installations/{installation_id}/access_tokens',
      'POST /app/installations/{installation_id}/access_tokens',
    ],
    // Concrete GitHub paths (pagination links, an absolute URL on GitHub Enterprise Server).
    [
      'github',
      'GET',
      'https://ghe.example.com/api/v3/repos/acme/payments/pulls/42/files?page=2',
      'GET /repos/{owner}/{repo}/pulls/{pull_number}/files',
    ],
    [
      'github',
      'GET',
      '/repos/acme/payments/contents/deploy/values-production.yaml',
      'GET /repos/{owner}/{repo}/contents/{path}',
    ],
    [
      'github',
      'PATCH',
      '/repos/acme/payments/git/refs/heads/feature/x',
      'PATCH /repos/{owner}/{repo}/git/refs/{ref}',
    ],
    // A repository named like a resource word is still the repository.
    ['github', 'GET', '/repos/pulls/issues/pulls', 'GET /repos/{owner}/{repo}/pulls'],
    // gitbeaker's endpoints: project paths and file paths are one encoded segment each.
    [
      'gitlab',
      'GET',
      'projects/acme%2Fpayments/repository/files/deploy%2Fvalues.yaml/raw',
      'GET /projects/{id}/repository/files/{file_path}/raw',
    ],
    [
      'gitlab',
      'POST',
      'https://gitlab.example.com/api/v4/projects/15/statuses/da1560886d4f094c3e6c9ef40349f7d38b5d27d7',
      'POST /projects/{id}/statuses/{sha}',
    ],
    [
      'gitlab',
      'PUT',
      'projects/15/merge_requests/7/notes/99',
      'PUT /projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}',
    ],
    ['gitlab', 'GET', 'projects/15/repository/tree', 'GET /projects/{id}/repository/tree'],
    [
      'gitlab',
      'GET',
      'projects/15/deployments/77',
      'GET /projects/{id}/deployments/{deployment_id}',
    ],
  ] as const)('%s %s %s is %s', (provider, method, path, label) => {
    expect(routeLabel(provider, method, path)).toBe(label);
  });

  it('never lets a name through: unknown segments become placeholders, runs of them one', () => {
    const label = routeLabel('gitlab', 'GET', 'projects/1/secret-team/very/private-name/x');
    expect(label).toBe('GET /projects/{id}/{id}');
    expect(routeLabel('github', 'GET', '/orgs/acme/secret-project/thing')).toBe(
      'GET /orgs/{org}/{id}',
    );
  });

  it('has a bounded vocabulary: long paths are cut, odd methods are OTHER', () => {
    const long = `projects/1/${Array.from({ length: 30 }, () => 'repository/commits/abc').join('/')}`;
    const label = templatePath('gitlab', long);
    expect(label.split('/').length).toBeLessThanOrEqual(12);
    expect(label.endsWith('/…')).toBe(true);
    expect(routeLabel('github', 'PROPFIND', '/user')).toBe('OTHER /user');
  });
});

describe('rateLimitOf', () => {
  it("reads GitHub's remaining budget and its resource", () => {
    const headers = new Headers({
      'x-ratelimit-remaining': '4990',
      'x-ratelimit-resource': 'core',
    });
    expect(rateLimitOf('github', headers)).toEqual({ resource: 'core', remaining: 4990 });
  });

  it("reads GitLab's RateLimit-Remaining", () => {
    expect(rateLimitOf('gitlab', new Headers({ 'ratelimit-remaining': '1999' }))).toEqual({
      resource: 'api',
      remaining: 1999,
    });
  });

  it('says nothing without a (numeric) header, and keeps odd resource names out of labels', () => {
    expect(rateLimitOf('github', new Headers())).toBeUndefined();
    expect(rateLimitOf('github', new Headers({ 'x-ratelimit-remaining': 'lots' }))).toBeUndefined();
    const odd = new Headers({ 'x-ratelimit-remaining': '1', 'x-ratelimit-resource': 'A/B C' });
    expect(rateLimitOf('github', odd)).toEqual({ resource: 'core', remaining: 1 });
  });
});
