-- Up Migration

-- The branch an environment's cluster reconciles, when it is not the one DAG writes
-- (`iac_branch`): in the d1 layout both environments write `main` (apps/staging,
-- apps/production) and the production cluster reconciles `production`, so promoting is merging
-- `main` into `production`. NULL: the cluster reconciles the branch DAG writes.
ALTER TABLE apps_environments
  ADD COLUMN reconciled_branch text
  CONSTRAINT apps_environments_reconciled_branch_check
  CHECK (reconciled_branch IS NULL OR (reconciled_branch <> '' AND reconciled_branch !~ '\s'));

-- Down Migration

ALTER TABLE apps_environments DROP COLUMN reconciled_branch;
