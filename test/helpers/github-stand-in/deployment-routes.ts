// The stand-in's deployments and deployment statuses, with GitHub's rules: the ref must exist,
// auto_merge and required_contexts are honoured, and a success makes earlier ones inactive.

import { z } from 'zod';
import type { DeploymentRecord } from './state.ts';
import {
  DOC,
  limited,
  notFound,
  now,
  page,
  paginate,
  repoRoute,
  unprocessable,
  unprocessableMessage,
  type Route,
} from './route.ts';

export const DEPLOYMENT_STATES = [
  'error',
  'failure',
  'inactive',
  'in_progress',
  'queued',
  'pending',
  'success',
] as const;

export const DEPLOYMENT_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/deployments',
    resource: 'Deployment',
    docs: DOC.deployments,
    query: z.object({
      sha: z.string().optional(),
      ref: z.string().optional(),
      task: z.string().optional(),
      environment: z.string().optional(),
      ...page,
    }),
    handle: ({ state, repo, query }) =>
      paginate(
        state,
        `/repos/${repo.fullName}/deployments`,
        state.deployments
          .filter(
            (d) =>
              d.repo === repo.fullName &&
              (!query.sha || d.sha === query.sha) &&
              (!query.ref || d.ref === query.ref) &&
              (!query.task || d.task === query.task) &&
              (!query.environment || d.environment === query.environment),
          )
          .reverse()
          .map((d) => state.deploymentJson(d)),
        query,
      ),
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/deployments',
    resource: 'Deployment',
    docs: DOC.createDeployment,
    body: z.object({
      ref: z.string().min(1),
      task: z.string().optional(),
      auto_merge: z.boolean().optional(),
      required_contexts: z.array(z.string()).optional(),
      payload: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
      environment: z.string().optional(),
      description: z.string().nullable().optional(),
      transient_environment: z.boolean().optional(),
      production_environment: z.boolean().optional(),
    }),
    handle: async ({ state, services, repo, body, user }) => {
      const docs = DOC.createDeployment;
      const sha = await repo.git.resolveCommit(body.ref);
      if (!sha) return unprocessableMessage(docs, `No ref found for: ${body.ref}`);
      let payload: unknown = body.payload ?? {};
      if (typeof payload === 'string') {
        try {
          payload = JSON.parse(payload);
        } catch {
          return unprocessable(docs, [
            { resource: 'Deployment', code: 'invalid', field: 'payload' },
          ]);
        }
      }
      // auto_merge (default true): GitHub merges the default branch into a branch that is
      // behind it before deploying. The stand-in does not merge; it answers as GitHub does when
      // that merge conflicts, so a client that forgets `auto_merge: false` notices.
      const defaultBranch = await repo.git.defaultBranch();
      if (body.auto_merge !== false && (await repo.git.branchExists(body.ref))) {
        const tip = await repo.git.resolveCommit(`refs/heads/${defaultBranch}`);
        if (tip && (await repo.git.mergeBase(tip, sha)) !== tip) {
          return {
            status: 409,
            body: {
              message: `Conflict merging ${defaultBranch} into ${body.ref}.`,
              documentation_url: docs,
              status: '409',
            },
          };
        }
      }
      // required_contexts (default: every context): each must have succeeded on the commit.
      const contexts = new Map<string, string>();
      for (const s of state.commitStatuses) {
        if (s.repo === repo.fullName && s.sha === sha) contexts.set(s.context, s.state);
      }
      for (const run of state.checkRuns) {
        if (run.repo === repo.fullName && run.headSha === sha) {
          const ok =
            run.status === 'completed' &&
            ['success', 'neutral', 'skipped'].includes(run.conclusion ?? '');
          contexts.set(run.name, ok ? 'success' : (run.conclusion ?? run.status));
        }
      }
      const required = body.required_contexts ?? [...contexts.keys()];
      const failing = required
        .map((context) => ({ context, state: contexts.get(context) ?? 'missing' }))
        .filter((c) => c.state !== 'success');
      if (failing.length > 0) {
        return {
          status: 409,
          body: {
            message: `Conflict: Commit status checks failed for ${body.ref}.`,
            errors: [
              {
                contexts: failing,
                resource: 'Deployment',
                field: 'required_contexts',
                code: 'invalid',
              },
            ],
            documentation_url: docs,
            status: '409',
          },
        };
      }
      const environment = body.environment ?? 'production';
      const deployment: DeploymentRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        sha,
        ref: body.ref,
        task: body.task ?? 'deploy',
        environment,
        originalEnvironment: environment,
        description: body.description ?? null,
        payload,
        autoMerge: body.auto_merge ?? true,
        requiredContexts: body.required_contexts ?? null,
        transientEnvironment: body.transient_environment ?? false,
        productionEnvironment: body.production_environment ?? environment === 'production',
        creator: user,
        createdAt: now(),
        at: Date.now(),
        statuses: [],
      };
      state.deployments.push(deployment);
      services.emit('deployment', deployment);
      return { status: 201, body: state.deploymentJson(deployment) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
    resource: 'DeploymentStatus',
    docs: DOC.deploymentStatuses,
    query: z.object(page),
    handle: ({ state, repo, params, query }) => {
      const d = state.deployments.find(
        (x) => x.repo === repo.fullName && String(x.id) === params.deployment_id,
      );
      if (!d) return notFound(DOC.deploymentStatuses);
      return paginate(
        state,
        `/repos/${repo.fullName}/deployments/${d.id}/statuses`,
        [...d.statuses].reverse().map((s) => state.deploymentStatusJson(d, s)),
        query,
      );
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/deployments/{deployment_id}/statuses',
    resource: 'DeploymentStatus',
    docs: DOC.createDeploymentStatus,
    body: z.object({
      state: z.enum(DEPLOYMENT_STATES),
      target_url: z.string().optional(),
      log_url: z.string().optional(),
      description: limited(140).optional(),
      environment: z.string().optional(),
      environment_url: z.string().optional(),
      auto_inactive: z.boolean().optional(),
    }),
    handle: ({ state, services, repo, params, body, user }) => {
      const d = state.deployments.find(
        (x) => x.repo === repo.fullName && String(x.id) === params.deployment_id,
      );
      if (!d) return notFound(DOC.createDeploymentStatus);
      if (body.environment) d.environment = body.environment;
      const status = {
        id: state.nextId(),
        state: body.state,
        description: body.description ?? '',
        environment: d.environment,
        environmentUrl: body.environment_url ?? '',
        logUrl: body.log_url ?? '',
        targetUrl: body.target_url ?? '',
        creator: user,
        createdAt: now(),
        at: Date.now(),
      };
      d.statuses.push(status);
      services.emit('deployment_status', { deployment: d, status });
      // auto_inactive (default true): earlier successful deployments of the same environment
      // (not transient, not production) become inactive.
      if (body.state === 'success' && body.auto_inactive !== false) {
        for (const other of state.deployments) {
          if (
            other === d ||
            other.repo !== d.repo ||
            other.environment !== d.environment ||
            other.transientEnvironment ||
            other.productionEnvironment ||
            other.statuses.at(-1)?.state !== 'success'
          ) {
            continue;
          }
          other.statuses.push({
            ...status,
            id: state.nextId(),
            state: 'inactive',
            description: '',
            logUrl: '',
            targetUrl: '',
            environmentUrl: '',
          });
        }
      }
      return { status: 201, body: state.deploymentStatusJson(d, status) };
    },
  }),
];
