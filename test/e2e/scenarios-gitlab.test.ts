// The scenario table (scenarios.ts), its GitLab column: every case against the GitLab stand-in,
// with DAG installed for GitLab alone (no GitHub App).

import { startGitlabForge } from './forge/gitlab-forge.ts';
import { APP_FILES, scenarioColumn } from './scenarios.ts';

scenarioColumn('the scenario table on GitLab, a GitLab-only install', () =>
  startGitlabForge({ appFiles: APP_FILES }),
);
