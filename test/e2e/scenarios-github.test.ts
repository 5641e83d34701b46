// The scenario table (scenarios.ts), its GitHub column: every case against the GitHub stand-in.

import { startGithubForge } from './forge/github-forge.ts';
import { APP_FILES, scenarioColumn } from './scenarios.ts';

scenarioColumn('the scenario table on GitHub', () => startGithubForge({ appFiles: APP_FILES }));
