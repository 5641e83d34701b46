-- Up Migration

-- Cluster watches run once across every DAG process sharing this database: the process holding
-- a cluster's lease watches it, renewing the lease while it does. A lease past `expires_at`
-- (its holder died or stalled) is taken by the next process that asks for it.
CREATE TABLE monitor_leases (
  -- What is watched: `cluster:<id>`.
  name text PRIMARY KEY CONSTRAINT monitor_leases_name_check CHECK (length(name) BETWEEN 1 AND 200),
  -- The process instance holding it (a random id per process), and where it runs, for people.
  holder text NOT NULL,
  host text NOT NULL,
  pid integer NOT NULL,
  acquired_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at timestamptz NOT NULL
);

-- Down Migration

DROP TABLE monitor_leases;
