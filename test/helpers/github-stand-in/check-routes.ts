// The stand-in's check runs (output limits of 65,535 characters; only an App may write them)
// and commit statuses.

import { z } from 'zod';
import type { CheckRunRecord } from './state.ts';
import {
  DOC,
  limited,
  notFound,
  now,
  page,
  repoRoute,
  unprocessable,
  unprocessableMessage,
  type Answer,
  type Route,
} from './route.ts';

const CHECK_STATUSES = [
  'queued',
  'in_progress',
  'completed',
  'waiting',
  'requested',
  'pending',
] as const;
const CHECK_CONCLUSIONS = [
  'action_required',
  'cancelled',
  'failure',
  'neutral',
  'success',
  'skipped',
  'stale',
  'timed_out',
] as const;
/** GitHub's limit on a check run's output summary and text. */
export const CHECK_OUTPUT_LIMIT = 65535;

const checkOutput = z.object({
  title: z.string(),
  summary: limited(CHECK_OUTPUT_LIMIT),
  text: limited(CHECK_OUTPUT_LIMIT).optional(),
  annotations: z.array(z.unknown()).max(50).optional(),
  images: z.array(z.unknown()).optional(),
});

const checkFields = {
  details_url: z.string().optional(),
  external_id: z.string().optional(),
  started_at: z.string().optional(),
  status: z.enum(CHECK_STATUSES).optional(),
  conclusion: z.enum(CHECK_CONCLUSIONS).optional(),
  completed_at: z.string().optional(),
  output: checkOutput.optional(),
  actions: z.array(z.unknown()).max(3).optional(),
};

function completedRule(docs: string, status?: string, conclusion?: string): Answer | undefined {
  if (status === 'completed' && !conclusion) {
    return unprocessable(docs, [
      { resource: 'CheckRun', code: 'missing_field', field: 'conclusion' },
    ]);
  }
  return undefined;
}

function applyCheck(
  run: CheckRunRecord,
  input: {
    status?: string | undefined;
    conclusion?: string | undefined;
    output?: { title: string; summary: string; text?: string | undefined } | undefined;
    details_url?: string | undefined;
    external_id?: string | undefined;
    started_at?: string | undefined;
    completed_at?: string | undefined;
  },
): void {
  if (input.status) run.status = input.status;
  if (input.conclusion) {
    // GitHub: providing a conclusion completes the run.
    run.conclusion = input.conclusion;
    run.status = 'completed';
  }
  if (run.status === 'completed') run.completedAt = input.completed_at ?? run.completedAt ?? now();
  if (input.output) {
    run.output = {
      title: input.output.title,
      summary: input.output.summary,
      text: input.output.text ?? null,
    };
  }
  if (input.details_url !== undefined) run.detailsUrl = input.details_url;
  if (input.external_id !== undefined) run.externalId = input.external_id;
  if (input.started_at) run.startedAt = input.started_at;
}

export const CHECK_ROUTES: Route[] = [
  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/commits/{ref}/check-runs',
    resource: 'CheckRun',
    docs: DOC.listChecks,
    query: z.object({
      check_name: z.string().optional(),
      status: z.enum(['queued', 'in_progress', 'completed']).optional(),
      filter: z.enum(['latest', 'all']).optional(),
      app_id: z.coerce.number().int().optional(),
      ...page,
    }),
    handle: async ({ state, repo, params, query }) => {
      const sha = await repo.git.resolveCommit(params.ref ?? '');
      if (!sha)
        return unprocessableMessage(DOC.listChecks, `No commit found for SHA: ${params.ref}`);
      let runs = state.checkRuns.filter(
        (r) =>
          r.repo === repo.fullName &&
          r.headSha === sha &&
          (!query.check_name || r.name === query.check_name) &&
          (!query.status || r.status === query.status),
      );
      if ((query.filter ?? 'latest') === 'latest') {
        const latest = new Map<string, CheckRunRecord>();
        for (const run of runs) latest.set(run.name, run);
        runs = [...latest.values()];
      }
      runs.sort((a, b) => b.id - a.id);
      const start = (query.page - 1) * query.per_page;
      return {
        status: 200,
        body: {
          total_count: runs.length,
          check_runs: runs.slice(start, start + query.per_page).map((r) => state.checkRunJson(r)),
        },
      };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/check-runs',
    resource: 'CheckRun',
    docs: DOC.createCheck,
    body: z.object({ name: z.string().min(1), head_sha: z.string().min(1), ...checkFields }),
    handle: async ({ state, services, repo, body, identity }) => {
      if (identity.kind !== 'installation') {
        return {
          status: 403,
          body: {
            message: 'You must authenticate via a GitHub App.',
            documentation_url: DOC.createCheck,
            status: '403',
          },
        };
      }
      const rule = completedRule(DOC.createCheck, body.status, body.conclusion);
      if (rule) return rule;
      const sha = await repo.git.resolveCommit(body.head_sha);
      if (!sha)
        return unprocessableMessage(DOC.createCheck, `No commit found for SHA: ${body.head_sha}`);
      const run: CheckRunRecord = {
        id: state.nextId(),
        repo: repo.fullName,
        name: body.name,
        headSha: sha,
        status: 'queued',
        conclusion: null,
        output: { title: null, summary: null, text: null },
        detailsUrl: null,
        externalId: null,
        startedAt: now(),
        completedAt: null,
      };
      applyCheck(run, body);
      state.checkRuns.push(run);
      services.emit('check_run', run);
      return { status: 201, body: state.checkRunJson(run) };
    },
  }),

  repoRoute({
    method: 'PATCH',
    template: '/repos/{owner}/{repo}/check-runs/{check_run_id}',
    resource: 'CheckRun',
    docs: DOC.updateCheck,
    body: z.object({ name: z.string().min(1).optional(), ...checkFields }),
    handle: ({ state, services, repo, params, body, identity }) => {
      if (identity.kind !== 'installation') {
        return {
          status: 403,
          body: {
            message: 'You must authenticate via a GitHub App.',
            documentation_url: DOC.updateCheck,
            status: '403',
          },
        };
      }
      const run = state.checkRuns.find(
        (r) => r.repo === repo.fullName && String(r.id) === params.check_run_id,
      );
      if (!run) return notFound(DOC.updateCheck);
      const rule = completedRule(
        DOC.updateCheck,
        body.status,
        body.conclusion ?? run.conclusion ?? undefined,
      );
      if (rule) return rule;
      if (body.name) run.name = body.name;
      applyCheck(run, body);
      services.emit('check_run', run);
      return { status: 200, body: state.checkRunJson(run) };
    },
  }),

  repoRoute({
    method: 'GET',
    template: '/repos/{owner}/{repo}/commits/{ref}/status',
    resource: 'Status',
    docs: DOC.combinedStatus,
    query: z.object(page),
    handle: async ({ state, repo, params }) => {
      const sha = await repo.git.resolveCommit(params.ref ?? '');
      if (!sha) return notFound(DOC.combinedStatus, `No commit found for SHA: ${params.ref}`);
      const latest = new Map<string, (typeof state.commitStatuses)[number]>();
      for (const s of state.commitStatuses) {
        if (s.repo === repo.fullName && s.sha === sha) latest.set(s.context, s);
      }
      const statuses = [...latest.values()];
      const states = statuses.map((s) => s.state);
      const combined =
        states.includes('error') || states.includes('failure')
          ? 'failure'
          : states.length === 0 || states.includes('pending')
            ? 'pending'
            : 'success';
      return {
        status: 200,
        body: {
          state: combined,
          statuses: statuses.map((s) => state.commitStatusJson(s)),
          sha,
          total_count: statuses.length,
          repository: state.repoJson(repo, await repo.git.defaultBranch()),
          commit_url: `${state.apiUrl}/repos/${repo.fullName}/commits/${sha}`,
          url: `${state.apiUrl}/repos/${repo.fullName}/commits/${sha}/status`,
        },
      };
    },
  }),

  repoRoute({
    method: 'POST',
    template: '/repos/{owner}/{repo}/statuses/{sha}',
    resource: 'Status',
    docs: DOC.createStatus,
    body: z.object({
      state: z.enum(['error', 'failure', 'pending', 'success']),
      target_url: z.string().nullable().optional(),
      description: z.string().nullable().optional(),
      context: z.string().optional(),
    }),
    handle: async ({ state, repo, params, body, user }) => {
      const sha = await repo.git.resolveCommit(params.sha ?? '');
      if (!sha)
        return unprocessableMessage(DOC.createStatus, `No commit found for SHA: ${params.sha}`);
      const status = {
        id: state.nextId(),
        repo: repo.fullName,
        sha,
        state: body.state,
        context: body.context ?? 'default',
        description: body.description ?? null,
        targetUrl: body.target_url ?? null,
        creator: user,
        createdAt: now(),
      };
      state.commitStatuses.push(status);
      return { status: 201, body: state.commitStatusJson(status) };
    },
  }),
];
