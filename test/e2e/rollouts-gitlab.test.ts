// The rollout table (rollouts.ts), its GitLab column: a GitLab-only DAG with monitoring on.

import { startGitlabForge } from './forge/gitlab-forge.ts';
import { MONITORED, rolloutColumn } from './rollouts.ts';
import { APP_FILES } from './scenarios.ts';

rolloutColumn('the rollout table on GitLab', () =>
  startGitlabForge({ appFiles: APP_FILES, env: MONITORED }),
);
