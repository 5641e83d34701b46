// The stand-in's App routes: the App itself, where it is installed, and installation tokens.

import { z } from 'zod';
import { hashId, nodeId, type Installation, type RepoRecord, type StandInState } from './state.ts';
import { DOC, appRoute, notFound, unprocessableMessage, type Route } from './route.ts';

export function covers(installation: Installation, repo: RepoRecord): boolean {
  if (installation.account.toLowerCase() !== repo.owner.toLowerCase()) return false;
  return (
    installation.repositories === 'all' ||
    installation.repositories.has(repo.fullName.toLowerCase())
  );
}

function installationJson(state: StandInState, installation: Installation) {
  return {
    id: installation.id,
    account: state.userJson({
      login: installation.account,
      id: hashId(installation.account),
      type: 'User',
    }),
    app_id: state.app.id,
    app_slug: state.app.slug,
    target_type: 'Organization',
    repository_selection: installation.repositories === 'all' ? 'all' : 'selected',
    access_tokens_url: `${state.apiUrl}/app/installations/${installation.id}/access_tokens`,
    repositories_url: `${state.apiUrl}/installation/repositories`,
    html_url: `${state.baseUrl}/organizations/${installation.account}/settings/installations/${installation.id}`,
    permissions: {
      contents: 'read',
      deployments: 'write',
      issues: 'write',
      pull_requests: 'write',
      checks: 'write',
      statuses: 'read',
      metadata: 'read',
    },
    events: ['push', 'pull_request', 'issue_comment'],
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    suspended_at: null,
  };
}

export const APP_ROUTES: Route[] = [
  appRoute({
    method: 'GET',
    template: '/app',
    resource: 'Integration',
    docs: DOC.app,
    handle: ({ state }) => ({
      status: 200,
      body: {
        id: state.app.id,
        slug: state.app.slug,
        name: state.app.name,
        node_id: nodeId('Integration', state.app.id),
        owner: null,
        permissions: {},
        events: [],
      },
    }),
  }),

  appRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/installation',
    resource: 'Installation',
    docs: DOC.installation,
    handle: ({ state, params }) => {
      const repo = state.repo(`${params.owner}/${params.repo}`);
      if (!repo) return notFound(DOC.installation);
      const installation = [...state.installations.values()].find((i) => covers(i, repo));
      if (!installation) return notFound(DOC.installation);
      return { status: 200, body: installationJson(state, installation) };
    },
  }),

  appRoute({
    method: 'POST',
    template: '/app/installations/{installation_id}/access_tokens',
    resource: 'Installation',
    docs: DOC.accessToken,
    body: z.object({
      repositories: z.array(z.string()).max(500).optional(),
      repository_ids: z.array(z.number().int()).max(500).optional(),
      permissions: z.record(z.string(), z.string()).optional(),
    }),
    handle: ({ state, services, params, body }) => {
      const installation = state.installations.get(Number(params.installation_id));
      if (!installation) return notFound(DOC.accessToken);
      let scoped: Set<string> | undefined;
      const named = [
        ...(body.repositories ?? []).map((n) => `${installation.account}/${n}`.toLowerCase()),
        ...(body.repository_ids ?? []).map(
          (id) => [...state.repos.values()].find((r) => r.id === id)?.fullName.toLowerCase() ?? '',
        ),
      ];
      if (named.length > 0) {
        const all = named.every((n) => {
          const repo = state.repo(n);
          return repo !== undefined && covers(installation, repo);
        });
        if (!all) {
          return unprocessableMessage(
            DOC.accessToken,
            'There is at least one repository that does not exist or is not accessible to the parent installation.',
          );
        }
        scoped = new Set(named);
      }
      const { token, expiresAt } = services.mintToken(installation, scoped);
      return {
        status: 201,
        body: {
          token,
          expires_at: expiresAt,
          permissions: body.permissions ?? {
            contents: 'read',
            deployments: 'write',
            issues: 'write',
            pull_requests: 'write',
            checks: 'write',
            statuses: 'read',
            metadata: 'read',
          },
          repository_selection: scoped || installation.repositories !== 'all' ? 'selected' : 'all',
          ...(scoped
            ? {
                repositories: [...scoped].map((n) => {
                  const repo = state.repo(n) as RepoRecord;
                  return { id: repo.id, name: repo.name, full_name: repo.fullName };
                }),
              }
            : {}),
        },
      };
    },
  }),
];
