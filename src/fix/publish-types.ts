import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type { Proposal } from './proposal.ts';
import type { Verified } from './verify.ts';
import type { App, Environment } from '../model.ts';

/**
 * What opening (or updating) a fix proposal's pull request takes and gives: the contract
 * between the REST API's job (src/api/fix-proposals.ts) and src/fix/publish.ts.
 */
export type PublishFixInput = {
  proposalId: number;
  fingerprint: string;
  proposal: Proposal;
  app: App;
  environment: Environment;
  verified: Verified;
  /** The tip `verified` was verified against: the commit's parent, so what is committed is it. */
  tip: { sha: string };
  sender: { tokenId: number; tokenName: string };
  /**
   * Commits DAG pushed for earlier proposals of this environment (their records): a branch left
   * at one of them, its pull request closed, is DAG's to move again.
   */
  ownHeads?: readonly string[];
};

export type PublishFixResult =
  | {
      state: 'open' | 'updated' | 'unchanged';
      number: number;
      url: string;
      branch: string;
      pushedHead: string;
    }
  | { state: 'person-pushed'; number: number; url: string; branch: string; reason: string };

export type PublishFixDeps = { platform: unknown; repo: RepoRef; log: Logger };

export type PublishFix = (
  input: PublishFixInput,
  deps: PublishFixDeps,
) => Promise<PublishFixResult>;
