import type { IncomingMessage, ServerResponse } from 'node:http';
import { maskText } from '../diff/mask-text.ts';
import { ConfigError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { PublishFix, PublishFixResult } from '../fix/publish-types.ts';
import { PROPOSAL_LIMITS, type FieldError, type Proposal } from '../fix/proposal.ts';
import type { ResolveDeps } from '../fix/resolve-workload.ts';
import type { Verified, VerifyDeps, VerifyInput, VerifyReader } from '../fix/verify.ts';
import type { Logger } from '../log.ts';
import { declaresMoreThan, header, readLimited, refuse } from '../server/body.ts';
import { sendJson } from '../server/respond.ts';
import type { FixProposalRecord, FixProposalStore } from '../store/fix-proposals.ts';
import type { ConfigStore } from '../store/types.ts';
import type { BundleTools } from '../workflows/deploy.ts';
import { authenticateRequest, clientAddress, type RequestAuthDeps } from './auth.ts';
import {
  errorBody,
  FixProposalService,
  refusalFailure,
  verifyAtTip,
  type Answer,
} from './fix-proposal-service.ts';
import type { IacProposalSource } from './iac-repo-source.ts';
import type { ApiPrincipal } from './token.ts';
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

export type FixProposalApiDeps = RequestAuthDeps & {
  config: Pick<ConfigStore, 'findApp' | 'findCluster' | 'listApps' | 'listEnvironments'>;
  proposals: FixProposalStore;
  clusters: ResolveDeps['clusters'];
  source: ProposalSource;
  /** The environment's IAC repository, for a change to files DAG does not render there. */
  iacSource?: IacProposalSource;
  tools: BundleTools;
  /** Extra checks verification runs where DAG has them (Flux CRD schemas, a dry run). */
  verifyExtras?: Pick<VerifyDeps, 'validateBundle' | 'dryRun'>;
  /** Queues a verified proposal's job: one per proposal id however often asked. */
  enqueue: (job: FixProposalJob) => Promise<void>;
  /** Scrubs secrets from echoed text (maskText by default). */
  mask?: (text: string) => string;
  onOutcome?: (outcome: FixProposalOutcome) => void;
};

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

/** The handler for both endpoints; answers false for any other path. */
export function fixProposalsHandler(
  deps: FixProposalApiDeps,
  service: FixProposalService = new FixProposalService(deps),
): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const mask = deps.mask ?? maskText;
  const outcome = (o: FixProposalOutcome) => deps.onOutcome?.(o);
  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://dag').pathname;
    if (path === FIX_PROPOSALS_PATH) {
      if (req.method !== 'POST') {
        sendJson(res, 405, { error: 'use POST' }, { allow: 'POST' });
        return true;
      }
      outcome(await post(req, res, deps, service, mask));
      return true;
    }
    const match = /^\/api\/v1\/fix-proposals\/([^/]+)$/.exec(path);
    if (!match) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'use GET' }, { allow: 'GET' });
      return true;
    }
    const auth = await authenticateRequest(req.headers.authorization, deps, clientAddress(req));
    if (!auth.ok) {
      send(res, refusalFailure(auth.refusal));
      return true;
    }
    send(res, await service.get(auth.principal, match[1] ?? ''));
    return true;
  };
}

function send(res: ServerResponse, answer: Answer<unknown>): void {
  if (answer.ok) sendJson(res, answer.status, answer.value);
  else sendJson(res, answer.status, answer.body, answer.headers);
}

/** Reads a POST's JSON body (JSON, UTF-8, bounded, not too deep) and hands it to the service. */
async function post(
  req: IncomingMessage,
  res: ServerResponse,
  deps: FixProposalApiDeps,
  service: FixProposalService,
  mask: (text: string) => string,
): Promise<FixProposalOutcome> {
  const read = await readJsonBody(req, res, deps, mask);
  if (!read.ok) return 'refused';
  const answer = await service.propose(read.principal, read.body);
  send(res, answer);
  return answer.outcome;
}

/**
 * The checks every JSON endpoint of the API runs before its own, in this order: content type,
 * declared size and token (the body left unread when any fails), then the body read within
 * MAX_PROPOSAL_BODY_BYTES, UTF-8, nesting within MAX_JSON_DEPTH, and JSON. A refusal is answered
 * here; `ok` hands over the token's principal and the parsed body.
 */
export async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  deps: RequestAuthDeps,
  mask: (text: string) => string = maskText,
): Promise<{ ok: true; principal: ApiPrincipal; body: unknown } | { ok: false }> {
  // Refusals that need no body come first, and leave the body unread.
  if (!isJsonContentType(header(req, 'content-type'))) {
    refuse(req, res, 415, { error: 'send the body as application/json (UTF-8)' });
    return { ok: false };
  }
  if (declaresMoreThan(req, MAX_PROPOSAL_BODY_BYTES)) {
    refuse(req, res, 413, { error: `the body is larger than ${MAX_PROPOSAL_BODY_BYTES} bytes` });
    return { ok: false };
  }
  const auth = await authenticateRequest(req.headers.authorization, deps, clientAddress(req));
  if (!auth.ok) {
    // The body stays unread: refuse() drains a little of it and closes.
    for (const [name, value] of Object.entries(auth.refusal.headers)) res.setHeader(name, value);
    refuse(req, res, auth.refusal.status, { error: auth.refusal.error });
    return { ok: false };
  }
  const read = await readLimited(req, MAX_PROPOSAL_BODY_BYTES);
  if (read.status === 'aborted') return { ok: false };
  if (read.status === 'too-large') {
    refuse(req, res, 413, { error: `the body is larger than ${MAX_PROPOSAL_BODY_BYTES} bytes` });
    return { ok: false };
  }
  let text: string;
  try {
    text = decoder.decode(read.body);
  } catch {
    sendJson(res, 400, errorBody('the body is not valid UTF-8', mask));
    return { ok: false };
  }
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    sendJson(res, 400, errorBody(`the body nests deeper than ${MAX_JSON_DEPTH} levels`, mask));
    return { ok: false };
  }
  try {
    return { ok: true, principal: auth.principal, body: JSON.parse(text) };
  } catch {
    sendJson(res, 400, errorBody('the body is not JSON', mask));
    return { ok: false };
  }
}

export type FixProposalJobDeps = {
  proposals: FixProposalStore;
  config: Pick<ConfigStore, 'listApps' | 'listEnvironments'>;
  source: ProposalSource;
  iacSource?: IacProposalSource;
  tools: BundleTools;
  verifyExtras?: Pick<VerifyDeps, 'validateBundle' | 'dryRun'>;
  /** The app repository's platform and reference, as publish needs them. */
  appPlatform: (app: App) => Promise<{ platform: unknown; repo: RepoRef }>;
  /** The environment's IAC repository's, for a change verified there (`iac-repo`). */
  iacPlatform?: (environment: Environment) => Promise<{ platform: unknown; repo: RepoRef }>;
  publish: PublishFix;
  log: Logger;
  mask?: (text: string) => string;
  /** The job's last try: a failure is recorded as the proposal's state. */
  lastAttempt?: boolean;
  onOutcome?: (outcome: FixProposalOutcome) => void;
};

/** Where a verified proposal's pull request is opened: the app repository, or the IAC's. */
async function platformFor(
  where: Verified['where'],
  app: App,
  environment: Environment,
  deps: FixProposalJobDeps,
): Promise<{ platform: unknown; repo: RepoRef }> {
  if (where === 'app-repo') return deps.appPlatform(app);
  if (!deps.iacPlatform) {
    throw new ConfigError('this DAG cannot open pull requests in IAC repositories');
  }
  return deps.iacPlatform(environment);
}

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
    const verified = await verifyAtTip(job.proposal, app, environment, deps, mask);
    if (!verified.ok) {
      return await fail(
        verified.status,
        verified.errors.map((e) => ({ field: e.field, message: mask(e.message) })),
      );
    }
    const { platform, repo } = await platformFor(verified.where, app, environment, deps);
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
