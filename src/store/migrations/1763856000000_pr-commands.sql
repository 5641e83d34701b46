-- Up Migration

-- Who may /deploy a pull request to an environment, beyond write access to the repository.
-- NULL means DAG's default: required for environments named production or prod, not otherwise.
ALTER TABLE apps_environments
  -- The pull request must be approved (and have no outstanding change request).
  ADD COLUMN deploy_requires_approval boolean,
  -- Every check and commit status on the pull request's head commit must have passed.
  ADD COLUMN deploy_requires_green_checks boolean,
  -- Only pull requests into the environment's own branch may be deployed to it.
  ADD COLUMN deploy_only_from_branch boolean;

-- Post the diff preview automatically when a pull request is opened, reopened or pushed to.
ALTER TABLE apps ADD COLUMN auto_diff boolean NOT NULL DEFAULT true;

-- Down Migration
ALTER TABLE apps DROP COLUMN auto_diff;
ALTER TABLE apps_environments
  DROP COLUMN deploy_requires_approval,
  DROP COLUMN deploy_requires_green_checks,
  DROP COLUMN deploy_only_from_branch;
