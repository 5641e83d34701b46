import type { IncomingMessage, ServerResponse } from 'node:http';
import { maskText } from '../diff/mask-text.ts';
import type { RepoRef } from '../events/types.ts';
import type { PublishFix, PublishFixResult } from '../fix/publish-types.ts';
import {
  PROPOSAL_LIMITS,
  proposalFingerprint,
  validateProposal,
  type FieldError,
  type Proposal,
} from '../fix/proposal.ts';
import { resolveWorkload, type ResolveDeps } from '../fix/resolve-workload.ts';
import {
  verifyProposal,
  type VerifyDeps,
  type VerifyInput,
  type VerifyReader,
} from '../fix/verify.ts';
import type { Logger } from '../log.ts';
import { declaresMoreThan, header, readLimited, refuse } from '../server/body.ts';
import { sendJson } from '../server/respond.ts';
import type { ApiTokenStore } from '../store/api-tokens.ts';
import {
  DuplicateProposalError,
  type FixProposalRecord,
  type FixProposalStore,
} from '../store/fix-proposals.ts';
import type { ConfigStore } from '../store/types.ts';
import type { BundleTools } from '../workflows/deploy.ts';
import {
  authenticateRequest,
  authorize,
  scopeCovers,
  type Refusal,
  type TokenRateLimit,
} from './auth.ts';
import { permits, type ApiPrincipal } from './token.ts';
import type { App, Environment } from '../model.ts';

/**
 * The REST API for fix proposals: `POST /api/v1/fix-proposals` takes a proposal from an agent
 * with a `propose` token, checks it (body, token, target, scope, verification against the app
 * repository) and queues its pull request; `GET /api/v1/fix-proposals/{id}` shows one. Every
 * answer is JSON `{error, errors?, lookedAt?}` or a proposal; bodies are never logged.
 */

export const FIX_PROPOSALS_PATH = '/api/v1/fix-proposals';

/** The largest body read: the proposal's own cap (PROPOSAL_LIMITS.bodyBytes, 2 MiB). */
export const MAX_PROPOSAL_BODY_BYTES = PROPOSAL_LIMITS.bodyBytes;

/**
 * Deepest JSON nesting taken (checked without recursion before the schema sees the body): a
 * values patch may nest PROPOSAL_LIMITS.patchDepth levels under a few of the proposal's own.
 */
export const MAX_JSON_DEPTH = PROPOSAL_LIMITS.patchDepth + 8;

/** Field errors echoed in one answer, and the characters of each part. */
const MAX_ERRORS = 50;
const MAX_ECHO_CHARS = 500;

/**
 * How each request ended, for dag_fix_proposals_total; and, for each proposal on a fix pull
 * request people merged, closed or reopened, that (src/workflows/fix-state.ts).
 */
export const FIX_PROPOSAL_OUTCOMES = [
  'accepted',
  'duplicate',
  'rejected',
  'refused',
  'opened',
  'updated',
  'unchanged',
  'person-pushed',
  'failed',
  'merged',
  'closed',
  'reopened',
] as const;
export type FixProposalOutcome = (typeof FIX_PROPOSAL_OUTCOMES)[number];

/** The job that publishes one verified proposal. */
export type FixProposalJob = { proposalId: number; proposal: Proposal };

/** The app repository at an environment branch's tip, as verification reads it. */
export type ProposalSource = (
  app: App,
  environment: Environment,
) => Promise<{ reader: VerifyReader; tip: VerifyInput['tip'] }>;

export type FixProposalApiDeps = {
  tokens: Pick<ApiTokenStore, 'authenticate'>;
  rateLimit: TokenRateLimit;
  log: Logger;
  config: Pick<ConfigStore, 'findApp' | 'findCluster' | 'listApps' | 'listEnvironments'>;
  proposals: FixProposalStore;
  clusters: ResolveDeps['clusters'];
  source: ProposalSource;
  tools: BundleTools;
  /** Extra checks verification runs where DAG has them (Flux CRD schemas, a dry run). */
  verifyExtras?: Pick<VerifyDeps, 'validateBundle' | 'dryRun'>;
  /** Queues a verified proposal's job: one per proposal id however often asked. */
  enqueue: (job: FixProposalJob) => Promise<void>;
  /** Scrubs secrets from echoed text (maskText by default). */
  mask?: (text: string) => string;
  onOutcome?: (outcome: FixProposalOutcome) => void;
};

type ErrorBody = { error: string; errors?: FieldError[]; lookedAt?: string[] };

const clip = (text: string) =>
  text.length > MAX_ECHO_CHARS ? `${text.slice(0, MAX_ECHO_CHARS - 3)}...` : text;

function errorBody(
  error: string,
  mask: (text: string) => string,
  errors?: FieldError[],
  lookedAt?: string[],
): ErrorBody {
  const body: ErrorBody = { error: clip(mask(error)) };
  if (errors && errors.length > 0) {
    body.errors = errors.slice(0, MAX_ERRORS).map((e) => ({
      field: clip(mask(e.field)),
      message: clip(mask(e.message)),
    }));
  }
  if (lookedAt) body.lookedAt = lookedAt.slice(0, MAX_ERRORS).map((line) => clip(mask(line)));
  return body;
}

function sendRefusal(res: ServerResponse, refusal: Refusal): void {
  sendJson(res, refusal.status, { error: refusal.error }, refusal.headers);
}

/** `application/json`, with at most a UTF-8 charset. */
export function isJsonContentType(value: string | undefined): boolean {
  if (value === undefined) return false;
  const [type, ...params] = value.split(';').map((part) => part.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return params.every((param) => param === '' || /^charset="?utf-8"?$/.test(param));
}

/** Whether JSON text nests deeper than `max` (arrays and objects), read without recursion. */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** A proposal as the API shows it (GET, and the answers of POST). */
export type FixProposalView = {
  id: number;
  state: FixProposalRecord['state'];
  title: string;
  agent: { name: string; model: string };
  target: Record<string, unknown>;
  appId: number | null;
  environmentId: number | null;
  fingerprint: string;
  changeKind: FixProposalRecord['changeKind'];
  statusCode: number | null;
  reasons: FieldError[];
  pullRequest: {
    number: number;
    url: string | null;
    branch: string | null;
    pushedHead: string | null;
  } | null;
  supersededBy: number | null;
  createdAt: string;
  updatedAt: string;
  links: { self: string; pullRequest?: string };
};

export function proposalView(
  record: FixProposalRecord,
  mask: (text: string) => string = maskText,
): FixProposalView {
  const self = `${FIX_PROPOSALS_PATH}/${record.id}`;
  return {
    id: record.id,
    state: record.state,
    title: mask(record.title),
    agent: { name: record.agentName, model: record.agentModel },
    target: record.target,
    appId: record.appId,
    environmentId: record.environmentId,
    fingerprint: record.fingerprint,
    changeKind: record.changeKind,
    statusCode: record.statusCode,
    reasons: record.reasons.map((r) => ({ field: mask(r.field), message: mask(r.message) })),
    pullRequest:
      record.prNumber === null
        ? null
        : {
            number: record.prNumber,
            url: record.prUrl,
            branch: record.branch,
            pushedHead: record.pushedHead,
          },
    supersededBy: record.supersededBy,
    createdAt: record.createdAt.toISOString(),
    updatedAt: record.updatedAt.toISOString(),
    links: record.prUrl ? { self, pullRequest: record.prUrl } : { self },
  };
}

type Resolved =
  { ok: true; app: App; environment: Environment } | { ok: false; status: number; body: ErrorBody };

async function resolveTarget(
  target: Proposal['target'],
  deps: FixProposalApiDeps,
  mask: (text: string) => string,
): Promise<Resolved> {
  if ('app' in target) {
    const app = await deps.config.findApp(target.app);
    if (!app || app.name !== target.app) {
      return {
        ok: false,
        status: 404,
        body: errorBody(`DAG has no app named ${target.app}`, mask, [
          { field: 'target.app', message: 'is not an app DAG manages (see: dag apps list)' },
        ]),
      };
    }
    const environment = (await deps.config.listEnvironments(String(app.id))).find(
      (env) => env.appId === app.id && env.name === target.environment,
    );
    if (!environment) {
      return {
        ok: false,
        status: 404,
        body: errorBody(`app ${app.name} has no environment ${target.environment}`, mask, [
          { field: 'target.environment', message: `is not an environment of app ${app.name}` },
        ]),
      };
    }
    return { ok: true, app, environment };
  }
  const resolution = await resolveWorkload(target, { store: deps.config, clusters: deps.clusters });
  if (!resolution.ok) {
    const errors = resolution.field
      ? [{ field: `target.${resolution.field}`, message: resolution.error }]
      : undefined;
    return {
      ok: false,
      status: resolution.status,
      body: errorBody(resolution.error, mask, errors, resolution.lookedAt),
    };
  }
  const [apps, environments] = await Promise.all([
    deps.config.listApps(),
    deps.config.listEnvironments(),
  ]);
  const app = apps.find((a) => a.id === resolution.app.id);
  const environment = environments.find((e) => e.id === resolution.environment.id);
  if (!app || !environment) {
    return {
      ok: false,
      status: 404,
      body: errorBody('the environment the workload belongs to is gone', mask),
    };
  }
  return { ok: true, app, environment };
}

/** The handler for both endpoints; answers false for any other path. */
export function fixProposalsHandler(
  deps: FixProposalApiDeps,
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const mask = deps.mask ?? maskText;
  const log = deps.log.child({ component: 'fix-proposals' });
  const outcome = (o: FixProposalOutcome) => deps.onOutcome?.(o);
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://dag').pathname;
    if (path === FIX_PROPOSALS_PATH) {
      if (req.method !== 'POST') {
        sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
        return true;
      }
      outcome(await post(req, res, deps, mask, log));
      return true;
    }
    const match = /^\/api\/v1\/fix-proposals\/([^/]+)$/.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      return true;
    }
    await get(req, res, match[1] ?? '', deps, mask);
    return true;
  };
}

/** Answers a POST; returns how it ended. */
async function post(
  req: IncomingMessage,
  res: ServerResponse,
  deps: FixProposalApiDeps,
  mask: (text: string) => string,
  log: Logger,
): Promise<FixProposalOutcome> {
  // Refusals that need no body come first, and leave the body unread.
  if (!isJsonContentType(header(req, 'content-type'))) {
    refuse(req, res, 415, { error: 'send the proposal as application/json (UTF-8)' });
    return 'refused';
  }
  if (declaresMoreThan(req, MAX_PROPOSAL_BODY_BYTES)) {
    refuse(req, res, 413, { error: `the body is larger than ${MAX_PROPOSAL_BODY_BYTES} bytes` });
    return 'refused';
  }
  const auth = await authenticateRequest(req.headers.authorization, deps);
  if (!auth.ok) {
    // The body stays unread: refuse() drains a little of it and closes.
    for (const [name, value] of Object.entries(auth.refusal.headers)) res.setHeader(name, value);
    refuse(req, res, auth.refusal.status, { error: auth.refusal.error });
    return 'refused';
  }
  const principal = auth.principal;
  const read = await readLimited(req, MAX_PROPOSAL_BODY_BYTES);
  if (read.status === 'aborted') return 'refused';
  if (read.status === 'too-large') {
    refuse(req, res, 413, { error: `the body is larger than ${MAX_PROPOSAL_BODY_BYTES} bytes` });
    return 'refused';
  }
  let text: string;
  try {
    text = decoder.decode(read.body);
  } catch {
    sendJson(res, 400, errorBody('the body is not valid UTF-8', mask));
    return 'refused';
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    sendJson(res, 400, errorBody(`the body nests deeper than ${MAX_JSON_DEPTH} levels`, mask));
    return 'refused';
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    sendJson(res, 400, errorBody('the body is not JSON', mask));
    return 'refused';
  }
  const valid = validateProposal(body);
  if (!valid.ok) {
    sendJson(res, valid.status, errorBody('the proposal is not valid', mask, valid.errors));
    return 'refused';
  }
  const proposal = valid.proposal;
  const resolved = await resolveTarget(proposal.target, deps, mask);
  if (!resolved.ok) {
    sendJson(res, resolved.status, resolved.body);
    return 'refused';
  }
  const { app, environment } = resolved;
  const refusal = authorize(principal, {
    permission: 'propose',
    app: { id: app.id, name: app.name },
    environment: { id: environment.id, name: environment.name },
  });
  if (refusal) {
    sendRefusal(res, refusal);
    return 'refused';
  }
  const fingerprint = proposalFingerprint(proposal);
  const existing = await deps.proposals.findOpenByFingerprint(fingerprint);
  if (existing) {
    sendJson(res, 200, proposalView(existing, mask));
    return 'duplicate';
  }
  let record: FixProposalRecord;
  try {
    record = await deps.proposals.create({
      tokenId: principal.tokenId,
      tokenName: principal.name,
      agentName: proposal.agent.name,
      agentModel: proposal.agent.model,
      title: proposal.title,
      rationale: proposal.rationale,
      target: proposal.target,
      appId: app.id,
      environmentId: environment.id,
      fingerprint,
      changeKind: proposal.change.kind,
      state: 'validating',
    });
  } catch (error) {
    // The same proposal, sent at the same moment, won the race: its answer is this one's.
    const winner =
      error instanceof DuplicateProposalError
        ? await deps.proposals.findOpenByFingerprint(fingerprint)
        : undefined;
    if (!winner) throw error;
    sendJson(res, 200, proposalView(winner, mask));
    return 'duplicate';
  }
  const proposalLog = log.child({ proposal: record.id, tokenId: principal.tokenId });
  let verdict: Awaited<ReturnType<typeof verifyProposal>>;
  try {
    verdict = await verify(proposal, app, environment, deps, mask);
  } catch (error) {
    proposalLog.error({ err: error }, 'a fix proposal could not be verified');
    const failed = await deps.proposals.update(record.id, {
      state: 'failed',
      statusCode: 503,
      reasons: [{ field: '(verification)', message: 'DAG could not read or render the app' }],
    });
    sendJson(res, 503, {
      ...errorBody('DAG could not verify the proposal right now; try again later', mask),
      id: failed.id,
    });
    return 'failed';
  }
  if (!verdict.ok) {
    const errors = verdict.errors.map((e) => ({ field: e.field, message: mask(e.message) }));
    await deps.proposals.update(record.id, {
      state: 'rejected',
      statusCode: verdict.status,
      reasons: errors.slice(0, MAX_ERRORS),
    });
    proposalLog.info({ status: verdict.status }, 'fix proposal rejected by verification');
    sendJson(res, verdict.status, errorBody('the proposal does not verify', mask, errors));
    return 'rejected';
  }
  await deps.enqueue({ proposalId: record.id, proposal });
  proposalLog.info(
    { app: app.name, environment: environment.name },
    'fix proposal verified and queued',
  );
  sendJson(res, 202, {
    id: record.id,
    state: record.state,
    links: { self: `${FIX_PROPOSALS_PATH}/${record.id}` },
  });
  return 'accepted';
}

async function verify(
  proposal: Proposal,
  app: App,
  environment: Environment,
  deps: Pick<FixProposalApiDeps, 'source' | 'tools' | 'verifyExtras'> & {
    config: Pick<ConfigStore, 'listEnvironments'>;
  },
  mask: (text: string) => string,
) {
  const { reader, tip } = await deps.source(app, environment);
  const result = await verifyProposal(
    { app, environment, change: proposal.change, tip },
    {
      reader,
      tools: deps.tools,
      store: { listEnvironments: () => deps.config.listEnvironments(String(app.id)) },
      mask,
      ...deps.verifyExtras,
    },
  );
  // The tip it was verified against: what a pull request's commit is made on.
  return Object.assign(result, { tip });
}

async function get(
  req: IncomingMessage,
  res: ServerResponse,
  rawId: string,
  deps: FixProposalApiDeps,
  mask: (text: string) => string,
): Promise<void> {
  const auth = await authenticateRequest(req.headers.authorization, deps);
  if (!auth.ok) {
    sendRefusal(res, auth.refusal);
    return;
  }
  const principal: ApiPrincipal = auth.principal;
  if (!permits(principal.permission, 'read')) {
    sendJson(res, 403, { error: `token ${principal.name} may not read proposals` });
    return;
  }
  const notFound = () => sendJson(res, 404, { error: `no fix proposal ${clip(mask(rawId))}` });
  if (!/^[1-9]\d{0,9}$/.test(rawId) || Number(rawId) > 2_147_483_647) {
    notFound();
    return;
  }
  const record = await deps.proposals.get(Number(rawId));
  // Outside the token's scope it does not exist, as far as the token can tell.
  if (!record || !visibleTo(principal, record)) {
    notFound();
    return;
  }
  sendJson(res, 200, proposalView(record, mask));
}

function visibleTo(principal: ApiPrincipal, record: FixProposalRecord): boolean {
  if (principal.scope.all) return true;
  if (record.appId === null) return false;
  return scopeCovers(principal.scope, {
    app: { id: record.appId, name: '' },
    environment: record.environmentId === null ? undefined : { id: record.environmentId, name: '' },
  });
}

export type FixProposalJobDeps = {
  proposals: FixProposalStore;
  config: Pick<ConfigStore, 'listApps' | 'listEnvironments'>;
  source: ProposalSource;
  tools: BundleTools;
  verifyExtras?: Pick<VerifyDeps, 'validateBundle' | 'dryRun'>;
  /** The app repository's platform and reference, as publish needs them. */
  appPlatform: (app: App) => Promise<{ platform: unknown; repo: RepoRef }>;
  publish: PublishFix;
  log: Logger;
  mask?: (text: string) => string;
  /** The job's last try: a failure is recorded as the proposal's state. */
  lastAttempt?: boolean;
  onOutcome?: (outcome: FixProposalOutcome) => void;
};

const PUBLISHED_STATE = {
  open: 'open',
  unchanged: 'open',
  updated: 'updated',
  'person-pushed': 'open',
} as const satisfies Record<PublishFixResult['state'], FixProposalRecord['state']>;

/**
 * The `dag.fix-proposal` job: verifies the proposal again against the environment branch's
 * current tip (it may have moved since the request), publishes its pull request and records
 * the result. When the pull request of the target was updated with this proposal, the earlier
 * open proposals for the same target are superseded by it.
 */
export async function runFixProposalJob(
  job: FixProposalJob,
  deps: FixProposalJobDeps,
): Promise<FixProposalRecord | undefined> {
  const mask = deps.mask ?? maskText;
  const log = deps.log.child({ proposal: job.proposalId });
  const record = await deps.proposals.get(job.proposalId);
  if (!record || !['validating', 'open', 'updated'].includes(record.state)) {
    log.info({ state: record?.state }, 'fix proposal is no longer to publish');
    return record;
  }
  const fail = async (statusCode: number, reasons: FieldError[]) => {
    deps.onOutcome?.('failed');
    return deps.proposals.update(record.id, { state: 'failed', statusCode, reasons });
  };
  const [apps, environments] = await Promise.all([
    deps.config.listApps(),
    deps.config.listEnvironments(),
  ]);
  const app = apps.find((a) => a.id === record.appId);
  const environment = environments.find((e) => e.id === record.environmentId);
  if (!app || !environment) {
    return fail(404, [{ field: 'target', message: 'the app or environment was removed from DAG' }]);
  }
  try {
    const verified = await verify(job.proposal, app, environment, deps, mask);
    if (!verified.ok) {
      return await fail(
        verified.status,
        verified.errors.map((e) => ({ field: e.field, message: mask(e.message) })),
      );
    }
    const { platform, repo } = await deps.appPlatform(app);
    // What DAG pushed for this environment before: a branch left there is DAG's to move.
    const ownHeads = (await deps.proposals.list({ appId: app.id, limit: 1000 }))
      .filter((p) => p.environmentId === environment.id && p.pushedHead !== null)
      .map((p) => p.pushedHead as string);
    const result = await deps.publish(
      {
        proposalId: record.id,
        fingerprint: record.fingerprint,
        proposal: job.proposal,
        app,
        environment,
        verified,
        tip: { sha: verified.tip.sha },
        sender: { tokenId: record.tokenId ?? 0, tokenName: record.tokenName },
        ownHeads,
      },
      { platform, repo, log },
    );
    const updated = await deps.proposals.update(record.id, {
      state: PUBLISHED_STATE[result.state],
      prNumber: result.number,
      prUrl: result.url,
      branch: result.branch,
      ...(result.state === 'person-pushed'
        ? { reasons: [{ field: 'pullRequest', message: mask(result.reason) }] }
        : { pushedHead: result.pushedHead }),
    });
    if (result.state === 'updated') {
      const superseded = await deps.proposals.supersedeOthers(record.id);
      if (superseded.length) log.info({ superseded }, 'earlier fix proposals superseded');
    }
    deps.onOutcome?.(result.state === 'open' ? 'opened' : result.state);
    log.info({ state: result.state, pr: result.number }, 'fix proposal published');
    return updated;
  } catch (error) {
    if (deps.lastAttempt) {
      await fail(502, [{ field: '(publish)', message: 'the pull request could not be opened' }]);
    }
    throw error;
  }
}
