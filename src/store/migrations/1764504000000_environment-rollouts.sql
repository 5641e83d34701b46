-- Up Migration

-- What DAG last saw of each environment in its cluster (src/monitor/): the rollout's phase, the
-- commit live and the one committed, why (one bounded line), since when, drift, and the
-- workloads' counts. One row per environment, replaced at each change; `reported` is the report
-- key last delivered to the provider, so a restarted DAG does not report the same state again.
CREATE TABLE environment_rollouts (
  environment_id integer PRIMARY KEY REFERENCES apps_environments (id) ON DELETE CASCADE,
  phase text NOT NULL
    CONSTRAINT environment_rollouts_phase_check CHECK (phase IN ('unknown', 'progressing', 'healthy', 'failed')),
  live_commit text CONSTRAINT environment_rollouts_live_commit_check CHECK (live_commit ~ '^[0-9a-f]{7,64}$'),
  rolling_out_commit text
    CONSTRAINT environment_rollouts_rolling_out_commit_check CHECK (rolling_out_commit ~ '^[0-9a-f]{7,64}$'),
  committed_commit text
    CONSTRAINT environment_rollouts_committed_commit_check CHECK (committed_commit ~ '^[0-9a-f]{7,64}$'),
  reason text CONSTRAINT environment_rollouts_reason_check CHECK (length(reason) <= 1000),
  since timestamptz NOT NULL,
  -- {drifted, kind, since} and [{kind, name, desired, updated, ready, available, phase, reason, commit}]
  state jsonb NOT NULL,
  observed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  reported text
);

-- Down Migration

DROP TABLE environment_rollouts;
