// The deployment card as people read it (golden): one row per environment, every stage a
// commit can be in, GitHub's and GitLab's words.

import { describe, expect, it } from 'vitest';
import { renderCard, type CardModel } from '../../src/workflows/deployment-card.ts';

const golden = (name: string) => `../golden/comments/${name}.md`;
const SHA = '3f9c2a7e5b1d4c6a8e0f2b4d6c8a0e2f4b6d8c0a';
const IAC = '9b8a7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b';
const at = (minute: number) => new Date(Date.UTC(2026, 11, 6, 10, minute, 12));
const iacCommit = { sha: IAC, url: `https://github.com/acme/iac/commit/${IAC}` };

const GITHUB = {
  changeRequestNoun: 'pull request' as const,
  changeRequestRef: (n: number) => `#${n}`,
};
const GITLAB = {
  changeRequestNoun: 'merge request' as const,
  changeRequestRef: (n: number) => `!${n}`,
};

function model(rows: CardModel['rows']): CardModel {
  return { sha: SHA, number: 7, rows };
}

describe('deployment card', () => {
  it('follows a change: healthy in staging, production waiting in its promotion', async () => {
    const text = renderCard(
      model([
        { environment: 'staging', stage: { kind: 'healthy' }, iacCommit, since: at(4) },
        {
          environment: 'production',
          stage: { kind: 'promotion', number: 12, url: 'https://github.com/acme/iac/pull/12' },
          iacCommit: null,
          since: null,
        },
      ]),
      GITHUB,
    );
    await expect(text).toMatchFileSnapshot(golden('deployment-card-promotion'));
  });

  it('every stage, in GitLab words, with a reason that holds markdown', async () => {
    const text = renderCard(
      model([
        { environment: 'dev', stage: { kind: 'deploying' }, iacCommit: null, since: at(1) },
        { environment: 'qa', stage: { kind: 'committed' }, iacCommit, since: at(2) },
        { environment: 'staging', stage: { kind: 'rolling-out' }, iacCommit, since: at(3) },
        {
          environment: 'perf',
          stage: {
            kind: 'rollout-failed',
            reason: 'Deployment shop: pod shop-7c9d-x2k9p: CrashLoopBackOff <back-off 5m0s> | *x*',
          },
          iacCommit,
          since: at(5),
        },
        {
          environment: 'canary',
          stage: { kind: 'superseded', reason: 'ccccccc was committed after it' },
          iacCommit,
          since: at(6),
        },
        {
          environment: 'eu',
          stage: { kind: 'deploy-failed', reason: 'values-eu.yaml: not valid YAML' },
          iacCommit: null,
          since: at(7),
        },
        {
          environment: 'production',
          stage: {
            kind: 'promotion',
            number: 3,
            url: 'https://gitlab.example/acme/iac/-/merge_requests/3',
          },
          iacCommit: null,
          since: null,
        },
        { environment: 'dr', stage: { kind: 'none' }, iacCommit: null, since: null },
      ]),
      GITLAB,
    );
    await expect(text).toMatchFileSnapshot(golden('deployment-card-stages-gitlab'));
    expect(text).not.toContain('pull request');
  });
});
