-- Up Migration

-- A deploy is one ATTEMPT to make an environment run a commit: a commit deployed before can
-- be deployed there again (a redeploy or a rollback, asked by `/deploy` or `dag deploy`), as a
-- new attempt with its own provider deployment. A push (and its redeliveries) is attempt 1.
ALTER TABLE deploys
  ADD COLUMN attempt integer NOT NULL DEFAULT 1 CONSTRAINT deploys_attempt_check CHECK (attempt >= 1),
  -- The request that asked for this attempt (`comment:<id>`, `cli:<uuid>`); null for a push.
  ADD COLUMN request_key text,
  -- When a DAG process claimed the right to create the provider deployment: the one whose
  -- UPDATE set it (it was null, or older than the takeover limit) creates it and stores its id.
  ADD COLUMN deployment_claim timestamptz,
  -- The last deployment state DAG posted for this attempt, so that a state already shown (the
  -- `queued` of a second delivery of the same push) is not posted twice.
  ADD COLUMN reported_state text
    CONSTRAINT deploys_reported_state_check CHECK (reported_state IN ('queued', 'in_progress', 'success', 'failure'));

-- Rows from before: their deployment exists, or is claimed long ago (so it can be taken over).
UPDATE deploys SET deployment_claim = created_at, reported_state = state
  WHERE provider_deployment_id IS NOT NULL;

ALTER TABLE deploys DROP CONSTRAINT deploys_environment_sha_key;
ALTER TABLE deploys
  ADD CONSTRAINT deploys_environment_sha_attempt_key UNIQUE (environment_id, sha, attempt);
CREATE UNIQUE INDEX deploys_environment_request_key ON deploys (environment_id, request_key)
  WHERE request_key IS NOT NULL;
-- What an environment runs: its latest successful deploy.
CREATE INDEX deploys_environment_success ON deploys (environment_id, updated_at DESC)
  WHERE state = 'success';

-- Down Migration
DROP INDEX deploys_environment_success;
DROP INDEX deploys_environment_request_key;
DELETE FROM deploys WHERE attempt > 1;
ALTER TABLE deploys DROP CONSTRAINT deploys_environment_sha_attempt_key;
ALTER TABLE deploys ADD CONSTRAINT deploys_environment_sha_key UNIQUE (environment_id, sha);
ALTER TABLE deploys
  DROP COLUMN attempt, DROP COLUMN request_key, DROP COLUMN deployment_claim,
  DROP COLUMN reported_state;
