import { UserError } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import {
  BranchMovedError,
  type BranchCommits,
  type ChangeRequest,
  type ChangeRequests,
  type FileWrite,
  type RequestNoun,
} from '../platform/types.ts';
import { code } from '../workflows/markdown.ts';
import {
  FIX_LABELS,
  fixBranch,
  fixCommitMessage,
  fixCommitTitle,
  parseFixMetadata,
  renderFixBody,
  renderFixMetadata,
  type FixMetadata,
} from './pr-body.ts';
import type { PublishFixInput, PublishFixResult } from './publish-types.ts';

/**
 * What publishing needs besides PublishFixInput: the environment branch's tip the proposal was
 * verified against (Verified does not carry it; verifyProposal's `tip`). The commit is made on
 * it, so what is committed is exactly what was verified.
 */
export type PublishFixRequest = PublishFixInput;

export type PublishFixDeps = {
  platform: ChangeRequests & BranchCommits;
  /** The app repository. */
  repo: RepoRef;
  /** Scrubs secrets from every text DAG writes (SecretMasker, maskText). */
  mask: (text: string) => string;
  log: Logger;
};

/** The comment on a fix pull request DAG stops updating: someone else pushed to its branch. */
export function personPushedNote(
  branch: string,
  proposalId: number,
  noun: RequestNoun = 'pull request',
): string {
  return (
    `**DAG** found commits on ${code(branch)} that it did not push, so it no longer updates this ${noun}: ` +
    `proposal ${proposalId} and any later one for this environment are not applied to it. ` +
    `Merge or close this ${noun} by hand, and delete the branch; the next proposal after that opens a new one.`
  );
}

/**
 * Publishes a verified fix proposal as a pull request into the environment's branch of the app
 * repository (or, verified for the IAC repository, into the environment's IAC branch there), on
 * DAG's branch for the environment (one per app, environment and repository):
 * - no open pull request: one commit on the verified tip, a new pull request → `open`;
 * - the open one holds the same proposal (fingerprint) → `unchanged`, nothing written;
 * - a revised proposal, the branch where DAG left it: a new commit replaces DAG's, the
 *   description is rewritten → `updated`;
 * - someone else pushed to the branch: one comment, nothing written → `person-pushed`.
 * DAG never merges the pull request nor applies the change anywhere.
 */
export async function publishFixPullRequest(
  input: PublishFixRequest,
  deps: PublishFixDeps,
): Promise<PublishFixResult> {
  const { platform, repo } = deps;
  const { branch, base } = branches(input);
  const open = await platform.findOpenChangeRequest(repo, branch, base);
  if (open) return revise(input, deps, open, branch);

  const expectedHead = await leftoverHead(input, deps, branch, base);
  const { sha } = await platform.commitFiles(repo, {
    branch,
    base: input.tip.sha,
    expectedHead,
    message: fixCommitMessage(input, deps.mask),
    files: writes(input),
  });
  const metadata: FixMetadata = {
    v: 1,
    proposal: input.proposalId,
    fingerprint: input.fingerprint,
    pushedHead: sha,
  };
  const created = await platform.createChangeRequest(repo, {
    head: branch,
    base,
    title: title(input, deps),
    body: body(input, deps, metadata, branch, base),
    labels: FIX_LABELS,
  });
  deps.log.info({ number: created.number, branch, head: sha }, 'fix pull request opened');
  return { state: 'open', number: created.number, url: created.url, branch, pushedHead: sha };
}

async function revise(
  input: PublishFixRequest,
  deps: PublishFixDeps,
  open: ChangeRequest,
  branch: string,
): Promise<PublishFixResult> {
  const { platform, repo } = deps;
  const found = { number: open.number, url: open.url, branch };
  const metadata = parseFixMetadata(open.body);
  if (!metadata) {
    // Not DAG's (or its metadata was edited away): DAG cannot tell what it pushed, so it leaves it.
    return {
      state: 'person-pushed',
      ...found,
      reason: `${platform.changeRequestNoun} ${platform.changeRequestRef(open.number)} from ${branch} has no DAG metadata DAG can read; DAG does not touch it`,
    };
  }
  if (metadata.fingerprint === input.fingerprint) {
    return { state: 'unchanged', ...found, pushedHead: metadata.pushedHead };
  }
  if (open.headSha !== metadata.pushedHead) {
    return personPushed(input, deps, open, metadata, branch, open.headSha);
  }
  let sha: string;
  try {
    ({ sha } = await platform.commitFiles(repo, {
      branch,
      base: input.tip.sha,
      expectedHead: metadata.pushedHead,
      message: fixCommitMessage(input, deps.mask),
      files: writes(input),
    }));
  } catch (error) {
    if (error instanceof BranchMovedError && error.actualHead !== null) {
      return personPushed(input, deps, open, metadata, branch, error.actualHead);
    }
    throw error;
  }
  const next: FixMetadata = {
    v: 1,
    proposal: input.proposalId,
    fingerprint: input.fingerprint,
    pushedHead: sha,
  };
  await platform.updateChangeRequest(repo, open.number, {
    title: title(input, deps),
    body: body(input, deps, next, branch, branches(input).base),
  });
  deps.log.info({ number: open.number, branch, head: sha }, 'fix pull request updated');
  return { state: 'updated', ...found, pushedHead: sha };
}

/**
 * Says once (per head found) that DAG stops: the comment, then the head in the metadata, so the
 * next proposal finding the same head does not comment again. The branch is not written.
 */
async function personPushed(
  input: PublishFixRequest,
  deps: PublishFixDeps,
  open: ChangeRequest,
  metadata: FixMetadata,
  branch: string,
  head: string,
): Promise<PublishFixResult> {
  const { platform } = deps;
  const reason = `branch ${branch} has commits DAG did not push (at ${head.slice(0, 7)}); DAG no longer updates ${platform.changeRequestNoun} ${platform.changeRequestRef(open.number)}`;
  if (metadata.stoppedAt !== head) {
    await deps.platform.commentOnChangeRequest(
      deps.repo,
      open.number,
      deps.mask(personPushedNote(branch, input.proposalId, platform.changeRequestNoun)),
    );
    const marked = open.body.replace(/^<!-- dag:fix [^\n]* -->$/m, () =>
      renderFixMetadata({ ...metadata, stoppedAt: head }),
    );
    await deps.platform.updateChangeRequest(deps.repo, open.number, {
      title: open.title,
      body: marked,
    });
  }
  deps.log.info({ number: open.number, branch, head }, 'fix pull request left to people');
  return { state: 'person-pushed', number: open.number, url: open.url, branch, reason };
}

/**
 * The head to move DAG's branch from when no pull request is open: none (no branch), or a
 * branch at a commit DAG pushed for an earlier proposal (its pull request was closed), or one
 * that holds nothing the environment's branch lacks (its pull request was merged), or DAG's own
 * single commit (a run that stopped before opening the pull request). Any other branch of that
 * name holds someone's work: refused, nothing written.
 */
async function leftoverHead(
  input: PublishFixRequest,
  deps: PublishFixDeps,
  branch: string,
  base: string,
): Promise<string | null> {
  const head = await deps.platform.branchHead(deps.repo, branch);
  if (head === null || input.ownHeads?.includes(head)) return head;
  const ahead = await deps.platform.compare(deps.repo, base, head, 2);
  const own =
    ahead.totalCommits === 1 &&
    ahead.commits[0]?.title === fixCommitTitle(input.proposal, deps.mask);
  if (ahead.totalCommits === 0 || own) return head;
  throw new UserError(
    `branch ${branch} of ${deps.repo.fullName} exists without an open ${deps.platform.changeRequestNoun} and has commits DAG did not push; delete it to let DAG open fix ${deps.platform.changeRequestNoun}s for ${input.environment.name} again`,
    { status: 409 },
  );
}

/**
 * DAG's branch and the branch it merges into: in the app repository, the environment's branch;
 * in the IAC repository, the environment's IAC branch (a branch of its own, `dag/fix-iac/…`).
 */
function branches(input: PublishFixRequest): { branch: string; base: string } {
  const { app, environment, verified } = input;
  if (verified.where === 'iac-repo' && verified.iac) {
    return { branch: fixBranch(app.name, environment.name, 'iac'), base: verified.iac.branch };
  }
  return { branch: fixBranch(app.name, environment.name), base: environment.branch };
}

function writes(input: PublishFixRequest): Record<string, FileWrite> {
  return Object.fromEntries(
    Object.entries(input.verified.changedFiles).map(([path, file]) => [
      path,
      { content: file.after, existsAtBase: file.before !== null },
    ]),
  );
}

function title(input: PublishFixRequest, deps: PublishFixDeps): string {
  return deps.mask(input.proposal.title);
}

function body(
  input: PublishFixRequest,
  deps: PublishFixDeps,
  metadata: FixMetadata,
  branch: string,
  base: string,
): string {
  return deps.mask(
    renderFixBody(
      {
        metadata,
        proposal: input.proposal,
        app: input.app.name,
        environment: input.environment.name,
        where: { repo: deps.repo.fullName, head: branch, base },
        iacPath: input.environment.iacPath,
        tokenName: input.sender.tokenName,
        verified: input.verified,
        noun: deps.platform.changeRequestNoun,
      },
      deps.platform.maxBodyLength,
      deps.mask,
    ),
  );
}
