-- Up Migration

-- When a deploy reached the branch its environment's cluster reconciles, for an environment
-- whose cluster reconciles another branch than the one DAG writes (`reconciled_branch`, the d1
-- layout): its promotion was merged. Monitoring compares such an environment's cluster with
-- the newest released deploy, not the newest committed one.
ALTER TABLE deploys ADD COLUMN released_at timestamptz;

-- Down Migration

ALTER TABLE deploys DROP COLUMN released_at;
