-- Up Migration

-- Who writes an IAC repository's branch now: one DAG process at a time, across all of them.
-- The holder renews `expires_at` while it works; a lease past it (its holder died or hangs) is
-- taken over by the next writer. `holder` is unique per acquisition; host and pid let a process
-- on the same host take over at once from one that no longer exists.
CREATE TABLE iac_branch_leases (
  key text PRIMARY KEY CONSTRAINT iac_branch_leases_key_check CHECK (length(key) <= 1000),
  holder text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL
);

-- The points each DAG process takes before a content-creating GitHub request, shared by all of
-- them (rate-limiter-flexible's Postgres store: its own layout, `expire` in epoch ms).
CREATE TABLE provider_write_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Whether a deploy's IAC commit is its own (false: the folder held the release already), and the
-- branch it went to: what the report job says, long after the deploy job ended.
ALTER TABLE deploys ADD COLUMN iac_changed boolean, ADD COLUMN iac_branch text;
-- Who holds deployment_claim: the job that claimed it. The same job run again (its worker died
-- mid-claim) takes its own claim over at once instead of waiting for it to go stale.
ALTER TABLE deploys ADD COLUMN deployment_claim_owner text;

-- Down Migration
ALTER TABLE deploys DROP COLUMN iac_changed, DROP COLUMN iac_branch, DROP COLUMN deployment_claim_owner;
DROP TABLE provider_write_limits;
DROP TABLE iac_branch_leases;
