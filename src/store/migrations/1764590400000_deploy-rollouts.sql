-- Up Migration

-- A deploy to a monitored environment is not over at its IAC commit: its rollout is followed
-- (src/workflows/rollout-report.ts). `rollout`: pending from the commit until the cluster runs
-- the commit healthy, fails to, or a newer commit is committed first (superseded). NULL: the
-- environment is not monitored, the deploy ended at its commit. `rollout_reported`: the outcome
-- last posted to the provider. `rollout_request`: what the report needs (the app repository,
-- commit, branch and pull request), written by DAG itself and read back through a schema.
ALTER TABLE deploys
  ADD COLUMN rollout text
    CONSTRAINT deploys_rollout_check
    CHECK (rollout IN ('pending', 'healthy', 'failed', 'superseded')),
  ADD COLUMN rollout_reason text CONSTRAINT deploys_rollout_reason_check CHECK (length(rollout_reason) <= 1000),
  ADD COLUMN rollout_reported text
    CONSTRAINT deploys_rollout_reported_check
    CHECK (rollout_reported IN ('pending', 'healthy', 'failed', 'superseded')),
  ADD COLUMN rollout_at timestamptz,
  ADD COLUMN rollout_request jsonb;

CREATE INDEX deploys_rollout_open ON deploys (environment_id)
  WHERE rollout IS NOT NULL AND rollout IS DISTINCT FROM rollout_reported OR rollout = 'pending';

-- Down Migration

DROP INDEX deploys_rollout_open;
ALTER TABLE deploys
  DROP COLUMN rollout,
  DROP COLUMN rollout_reason,
  DROP COLUMN rollout_reported,
  DROP COLUMN rollout_at,
  DROP COLUMN rollout_request;
