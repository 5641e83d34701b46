// The rollout table (rollouts.ts), its GitHub column: DAG as a GitHub App with monitoring on.

import { startGithubForge } from './forge/github-forge.ts';
import { MONITORED, rolloutColumn } from './rollouts.ts';
import { APP_FILES } from './scenarios.ts';

rolloutColumn('the rollout table on GitHub', () =>
  startGithubForge({ appFiles: APP_FILES, env: MONITORED }),
);
