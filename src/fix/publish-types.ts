import type { App, Environment } from '../store/types.ts';
import type { Proposal } from './proposal.ts';
import type { Verified } from './verify.ts';
export type PublishFixInput = {
  proposalId: number;
  fingerprint: string;
  proposal: Proposal;
  app: App;
  environment: Environment;
  verified: Verified;
  sender: { tokenId: number; tokenName: string };
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
