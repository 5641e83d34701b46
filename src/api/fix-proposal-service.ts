import { maskDiffText, maskText } from '../diff/mask-text.ts';
import { unifiedDiff } from '../diff/unified.ts';
import { ConfigError } from '../errors.ts';
import {
  changeRepository,
  proposalFingerprint,
  TargetSchema,
  validateProposal,
  fieldOf,
  type FieldError,
  type Proposal,
  type ProposalTarget,
} from '../fix/proposal.ts';
import { resolveWorkload, type WorkloadResolved } from '../fix/resolve-workload.ts';
import {
  precheckProposal,
  verifyIacProposal,
  verifyProposal,
  type BundlePair,
  type Verified,
} from '../fix/verify.ts';
import type { Logger } from '../log.ts';
import { DuplicateProposalError, type FixProposalRecord } from '../store/fix-proposals.ts';
import type { ConfigStore } from '../store/types.ts';
import { authorize, scopeCovers, type Refusal } from './auth.ts';
import type {
  FixProposalApiDeps,
  FixProposalOutcome,
  FixProposalView,
  ProposalSource,
} from './fix-proposals.ts';
import { FIX_PROPOSALS_PATH, proposalView } from './fix-proposals.ts';
import { permits, type ApiPrincipal, type TokenPermission } from './token.ts';
import type { App, Environment } from '../model.ts';

/**
 * The one pipeline behind the REST API and the MCP tools: resolve a target (an app environment
 * or a live workload) and check the token reaches it, preview a proposal (the whole
 * verification and its diffs, writing nothing), propose it (recorded, verified, its job queued)
 * and show one. Every method answers a value with its HTTP status or an error body: the REST
 * handler sends them as they are, the MCP tools as tool results. Authentication is the caller's.
 */

/** Field errors echoed in one answer, and the characters of each part. */
const MAX_ERRORS = 50;
const MAX_ECHO_CHARS = 500;
/** The characters of a preview's source diff, and of its bundle diffs together. */
export const MAX_PREVIEW_DIFF_CHARS = 64 * 1024;
export const MAX_PREVIEW_BUNDLE_CHARS = 192 * 1024;

export type ErrorBody = { error: string; errors?: FieldError[]; lookedAt?: string[] };

export type Failure = {
  ok: false;
  status: number;
  body: ErrorBody & Record<string, unknown>;
  headers?: Record<string, string>;
};
export type Answer<T> = { ok: true; status: number; value: T } | Failure;

const clip = (text: string, max = MAX_ECHO_CHARS) =>
  text.length > max ? `${text.slice(0, max - 3)}...` : text;

/** Text of at most `max` characters, saying how much was left out. */
export function bounded(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n... (${text.length - max} more characters not shown)\n`;
}

export function errorBody(
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

export function refusalFailure(refusal: Refusal): Failure {
  return {
    ok: false,
    status: refusal.status,
    body: { error: refusal.error },
    headers: refusal.headers,
  };
}

/** An environment a token reached, and how a workload led to it when one was named. */
export type ResolvedTarget = {
  app: App;
  environment: Environment;
  workload?: Omit<WorkloadResolved, 'ok' | 'app' | 'environment'>;
};

/** What preview_fix shows: what the change is, where it goes, and every diff it makes. */
export type PreviewView = {
  target: { app: string; environment: string };
  tip: { branch: string; sha: string; commitUrl: string };
  where: Verified['where'];
  changedFiles: string[];
  checks: string[];
  /** The change to the app (or IAC) repository, unified (credentials masked). */
  sourceDiff: string;
  /** Per environment whose rendered bundle changes: the bundle's diff (masked). */
  bundleDiffs: Record<string, string>;
  unchangedEnvironments: string[];
};

export type ProposeAnswer = Answer<
  FixProposalView | { id: number; state: string; links: { self: string } }
> & { outcome: FixProposalOutcome; record?: FixProposalRecord };

type Deps = Omit<FixProposalApiDeps, 'tokens' | 'rateLimit' | 'failedAuth'>;

export class FixProposalService {
  readonly #deps: Deps;
  readonly #mask: (text: string) => string;
  readonly #log: Logger;

  constructor(deps: Deps) {
    this.#deps = deps;
    this.#mask = deps.mask ?? maskText;
    this.#log = deps.log.child({ component: 'fix-proposals' });
  }

  /** The environment `target` names, if the token may do `permission` there. */
  async resolve(
    principal: ApiPrincipal,
    target: unknown,
    permission: TokenPermission,
  ): Promise<Answer<ResolvedTarget>> {
    const parsed = TargetSchema.safeParse(target);
    if (!parsed.success) {
      const errors = parsed.error.issues.map((issue) => ({
        field: fieldOf(['target', ...issue.path]),
        message: issue.message,
      }));
      return {
        ok: false,
        status: 400,
        body: errorBody('the target is not valid', this.#mask, errors),
      };
    }
    return this.#resolveValid(principal, parsed.data, permission);
  }

  async #resolveValid(
    principal: ApiPrincipal,
    target: ProposalTarget,
    permission: TokenPermission,
  ): Promise<Answer<ResolvedTarget>> {
    const found = await this.#find(target);
    if (!found.ok) return found;
    const { app, environment } = found.value;
    const refusal = authorize(principal, {
      permission,
      app: { id: app.id, name: app.name },
      environment: { id: environment.id, name: environment.name },
    });
    return refusal ? refusalFailure(refusal) : found;
  }

  async #find(target: ProposalTarget): Promise<Answer<ResolvedTarget>> {
    const { config } = this.#deps;
    const mask = this.#mask;
    if ('app' in target) {
      const app = await config.findApp(target.app);
      if (!app || app.name !== target.app) {
        return {
          ok: false,
          status: 404,
          body: errorBody(`DAG has no app named ${target.app}`, mask, [
            { field: 'target.app', message: 'is not an app DAG manages (see: dag apps list)' },
          ]),
        };
      }
      const environment = (await config.listEnvironments(String(app.id))).find(
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
      return { ok: true, status: 200, value: { app, environment } };
    }
    const resolution = await resolveWorkload(target, {
      store: config,
      clusters: this.#deps.clusters,
    });
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
    const [apps, environments] = await Promise.all([config.listApps(), config.listEnvironments()]);
    const app = apps.find((a) => a.id === resolution.app.id);
    const environment = environments.find((e) => e.id === resolution.environment.id);
    if (!app || !environment) {
      return {
        ok: false,
        status: 404,
        body: errorBody('the environment the workload belongs to is gone', mask),
      };
    }
    const { cluster, workload, chain, matchedBy, via } = resolution;
    return {
      ok: true,
      status: 200,
      value: { app, environment, workload: { cluster, workload, chain, matchedBy, via } },
    };
  }

  /** A proposal checked (schema, then what needs no repository) and its target reached. */
  async #accept(
    principal: ApiPrincipal,
    body: unknown,
    permission: TokenPermission,
  ): Promise<Answer<{ proposal: Proposal; app: App; environment: Environment }>> {
    const valid = validateProposal(body);
    if (!valid.ok) {
      return {
        ok: false,
        status: valid.status,
        body: errorBody('the proposal is not valid', this.#mask, valid.errors),
      };
    }
    const resolved = await this.#resolveValid(principal, valid.proposal.target, permission);
    if (!resolved.ok) return resolved;
    const { app, environment } = resolved.value;
    // Unsafe paths and YAML that does not parse (or explodes) are refused before anything is
    // read or recorded.
    const problem = precheckProposal(
      { app, environment, change: valid.proposal.change },
      this.#mask,
    );
    if (problem) {
      return {
        ok: false,
        status: problem.status,
        body: errorBody('the proposal does not verify', this.#mask, problem.errors),
      };
    }
    return { ok: true, status: 200, value: { proposal: valid.proposal, app, environment } };
  }

  /**
   * The whole verification of a proposal and its diffs, as propose would run it, writing
   * nothing: no record, no job. Needs `read` on the target.
   */
  async preview(principal: ApiPrincipal, body: unknown): Promise<Answer<PreviewView>> {
    const accepted = await this.#accept(principal, body, 'read');
    if (!accepted.ok) return accepted;
    const { proposal, app, environment } = accepted.value;
    let verdict: Awaited<ReturnType<FixProposalService['verify']>>;
    try {
      verdict = await this.verify(proposal, app, environment);
    } catch (error) {
      this.#log.error(
        { err: error, tokenId: principal.tokenId },
        'a preview could not be verified',
      );
      return { ok: false, status: 503, body: this.#unverifiable() };
    }
    if (!verdict.ok) {
      return {
        ok: false,
        status: verdict.status,
        body: errorBody('the proposal does not verify', this.#mask, verdict.errors),
      };
    }
    return {
      ok: true,
      status: 200,
      value: {
        target: { app: app.name, environment: environment.name },
        tip: verdict.tip,
        where: verdict.where,
        changedFiles: Object.keys(verdict.changedFiles),
        checks: verdict.checks,
        sourceDiff: bounded(verdict.sourceDiff, MAX_PREVIEW_DIFF_CHARS),
        bundleDiffs: bundleDiffs(verdict.bundles, MAX_PREVIEW_BUNDLE_CHARS),
        unchangedEnvironments: verdict.unchangedEnvironments,
      },
    };
  }

  #unverifiable(): ErrorBody {
    return errorBody('DAG could not verify the proposal right now; try again later', this.#mask);
  }

  /**
   * Takes a proposal: checked, its target reached with `propose`, deduplicated (the same change
   * open already is that proposal), recorded, verified, and its pull request's job queued.
   */
  async propose(principal: ApiPrincipal, body: unknown): Promise<ProposeAnswer> {
    const deps = this.#deps;
    const mask = this.#mask;
    const accepted = await this.#accept(principal, body, 'propose');
    if (!accepted.ok) return { ...accepted, outcome: 'refused' };
    const { proposal, app, environment } = accepted.value;
    const fingerprint = proposalFingerprint(proposal);
    const existing = await deps.proposals.findOpenByFingerprint(fingerprint);
    if (existing) {
      return { ok: true, status: 200, value: proposalView(existing, mask), outcome: 'duplicate' };
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
      return { ok: true, status: 200, value: proposalView(winner, mask), outcome: 'duplicate' };
    }
    const proposalLog = this.#log.child({ proposal: record.id, tokenId: principal.tokenId });
    let verdict: Awaited<ReturnType<FixProposalService['verify']>>;
    try {
      verdict = await this.verify(proposal, app, environment);
    } catch (error) {
      proposalLog.error({ err: error }, 'a fix proposal could not be verified');
      const failed = await deps.proposals.update(record.id, {
        state: 'failed',
        statusCode: 503,
        reasons: [{ field: '(verification)', message: 'DAG could not read or render the app' }],
      });
      return {
        ok: false,
        status: 503,
        body: { ...this.#unverifiable(), id: failed.id },
        outcome: 'failed',
        record: failed,
      };
    }
    if (!verdict.ok) {
      const errors = verdict.errors.map((e) => ({ field: e.field, message: mask(e.message) }));
      const rejected = await deps.proposals.update(record.id, {
        state: 'rejected',
        statusCode: verdict.status,
        reasons: errors.slice(0, MAX_ERRORS),
      });
      proposalLog.info({ status: verdict.status }, 'fix proposal rejected by verification');
      return {
        ok: false,
        status: verdict.status,
        body: errorBody('the proposal does not verify', mask, errors),
        outcome: 'rejected',
        record: rejected,
      };
    }
    await deps.enqueue({ proposalId: record.id, proposal });
    proposalLog.info(
      { app: app.name, environment: environment.name },
      'fix proposal verified and queued',
    );
    return {
      ok: true,
      status: 202,
      value: {
        id: record.id,
        state: record.state,
        links: { self: `${FIX_PROPOSALS_PATH}/${record.id}` },
      },
      outcome: 'accepted',
      record,
    };
  }

  /** One proposal, if the token may read and reaches it; else, as far as it can tell, none. */
  async get(principal: ApiPrincipal, rawId: string): Promise<Answer<FixProposalView>> {
    const mask = this.#mask;
    if (!permits(principal.permission, 'read')) {
      return {
        ok: false,
        status: 403,
        body: { error: `token ${principal.name} may not read proposals` },
      };
    }
    const notFound: Failure = {
      ok: false,
      status: 404,
      body: { error: `no fix proposal ${clip(mask(rawId))}` },
    };
    if (!/^[1-9]\d{0,9}$/.test(rawId) || Number(rawId) > 2_147_483_647) return notFound;
    const record = await this.#deps.proposals.get(Number(rawId));
    // Outside the token's scope it does not exist, as far as the token can tell.
    if (!record || !visibleTo(principal, record)) return notFound;
    return { ok: true, status: 200, value: proposalView(record, mask) };
  }

  /** The verdict of a proposal at the environment branch's tip, and that tip. */
  async verify(proposal: Proposal, app: App, environment: Environment) {
    return verifyAtTip(proposal, app, environment, this.#deps, this.#mask);
  }
}

/**
 * Verification of a proposal against the app repository at the environment branch's tip, or,
 * for a change to the IAC repository, against the environment's IAC branch tip.
 */
export async function verifyAtTip(
  proposal: Proposal,
  app: App,
  environment: Environment,
  deps: Pick<FixProposalApiDeps, 'tools' | 'verifyExtras' | 'iacSource'> & {
    source: ProposalSource;
    config: Pick<ConfigStore, 'listEnvironments'>;
  },
  mask: (text: string) => string,
) {
  if (changeRepository(proposal.change) === 'iac') {
    if (!deps.iacSource) {
      throw new ConfigError('this DAG cannot reach IAC repositories for fix proposals');
    }
    const { reader, tip, repo, rendered } = await deps.iacSource(app, environment);
    const result = await verifyIacProposal(
      { environment, change: proposal.change, repo, tip, rendered },
      { reader, mask },
    );
    return Object.assign(result, { tip });
  }
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

/** Each changed bundle's files as one unified diff (masked), within `max` characters in all. */
function bundleDiffs(bundles: Record<string, BundlePair>, max: number): Record<string, string> {
  const out: Record<string, string> = {};
  let left = max;
  for (const [name, pair] of Object.entries(bundles).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const before = pair.before ?? {};
    const paths = [...new Set([...Object.keys(before), ...Object.keys(pair.after)])].sort();
    const text = paths
      .map(
        (path) =>
          unifiedDiff(before[path] ?? '', pair.after[path] ?? '', {
            path,
            ...(before[path] === undefined ? { oldHeader: '/dev/null' } : {}),
            ...(pair.after[path] === undefined ? { newHeader: '/dev/null' } : {}),
          }).text,
      )
      .join('');
    if (text === '') continue;
    const shown = bounded(maskDiffText(text), Math.max(0, left));
    out[name] = shown;
    left -= shown.length;
  }
  return out;
}

function visibleTo(principal: ApiPrincipal, record: FixProposalRecord): boolean {
  if (principal.scope.all) return true;
  if (record.appId === null) return false;
  return scopeCovers(principal.scope, {
    app: { id: record.appId, name: '' },
    environment: record.environmentId === null ? undefined : { id: record.environmentId, name: '' },
  });
}
