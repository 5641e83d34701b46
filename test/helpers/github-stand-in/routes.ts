// Every route the GitHub stand-in answers: those DAG calls (src/platform/github/*.ts,
// src/platform/iac-platform.ts, Probot's token minting) and a few neighbours tests need.

import { APP_ROUTES } from './app-routes.ts';
import { CHECK_ROUTES } from './check-routes.ts';
import { CONTENT_ROUTES } from './content-routes.ts';
import { DEPLOYMENT_ROUTES } from './deployment-routes.ts';
import { GIT_DATA_ROUTES } from './git-data-routes.ts';
import { ISSUE_ROUTES } from './issue-routes.ts';
import { PULL_ROUTES } from './pull-routes.ts';
import type { Route } from './route.ts';

export const ROUTES: Route[] = [
  ...APP_ROUTES,
  ...CONTENT_ROUTES,
  ...GIT_DATA_ROUTES,
  ...DEPLOYMENT_ROUTES,
  ...ISSUE_ROUTES,
  ...CHECK_ROUTES,
  ...PULL_ROUTES,
];

export { covers } from './app-routes.ts';
export { BODY_LIMIT } from './issue-routes.ts';
export { CHECK_OUTPUT_LIMIT } from './check-routes.ts';
export { DEPLOYMENT_STATES } from './deployment-routes.ts';
