// The scenario table (scenarios.ts), its GitLab column: every case against the GitLab stand-in,
// with DAG installed for GitLab alone (no GitHub App).

import { afterAll, beforeAll, describe, it } from 'vitest';
import { startGitlabForge } from './forge/gitlab-forge.ts';
import { APP_FILES, SCENARIOS, startWorld, type World } from './scenarios.ts';

let world: World | undefined;

beforeAll(async () => {
  world = await startWorld(await startGitlabForge({ appFiles: APP_FILES }));
}, 120_000);

afterAll(async () => {
  await world?.forge.stop();
  await world?.kube.stop();
});

describe('the scenario table on GitLab, a GitLab-only install', () => {
  for (const scenario of SCENARIOS) {
    it(
      scenario.name,
      async () => {
        if (!world) throw new Error('the world did not start');
        await scenario.run(world);
      },
      120_000,
    );
  }
});
