// The scenario table (scenarios.ts), its GitHub column: every case against the GitHub stand-in.

import { afterAll, beforeAll, describe, it } from 'vitest';
import { startGithubForge } from './forge/github-forge.ts';
import { APP_FILES, SCENARIOS, startWorld, type World } from './scenarios.ts';

let world: World | undefined;

beforeAll(async () => {
  world = await startWorld(await startGithubForge({ appFiles: APP_FILES }));
}, 120_000);

afterAll(async () => {
  await world?.forge.stop();
  await world?.kube.stop();
});

describe('the scenario table on GitHub', () => {
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
