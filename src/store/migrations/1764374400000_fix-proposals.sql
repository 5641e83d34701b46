-- Up Migration

-- Fix proposals sent to the REST API (POST /api/v1/fix-proposals), kept as an audit trail:
-- who sent what, whether DAG refused it (and why), and the pull request it became. Rows are
-- never deleted; the token, app and environment they name may go (the token's name is kept).
CREATE TABLE fix_proposals (
  id serial PRIMARY KEY,
  token_id integer REFERENCES api_tokens (id) ON DELETE SET NULL,
  token_name text NOT NULL,
  agent_name text NOT NULL CONSTRAINT fix_proposals_agent_name_check CHECK (length(agent_name) <= 100),
  agent_model text NOT NULL CONSTRAINT fix_proposals_agent_model_check CHECK (length(agent_model) <= 100),
  title text NOT NULL CONSTRAINT fix_proposals_title_check CHECK (length(title) <= 120),
  rationale text NOT NULL CONSTRAINT fix_proposals_rationale_check CHECK (length(rationale) <= 10000),
  -- The target as sent: {app, environment} or {cluster, namespace, kind, name}.
  target jsonb NOT NULL,
  -- Known once the target is resolved.
  app_id integer REFERENCES apps (id) ON DELETE SET NULL,
  environment_id integer REFERENCES apps_environments (id) ON DELETE SET NULL,
  -- SHA-256 of the target and change (src/fix/proposal.ts proposalFingerprint).
  fingerprint text NOT NULL CONSTRAINT fix_proposals_fingerprint_check CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
  change_kind text NOT NULL
    CONSTRAINT fix_proposals_change_kind_check CHECK (change_kind IN ('values-patch', 'files', 'diff')),
  state text NOT NULL CONSTRAINT fix_proposals_state_check CHECK (state IN (
    'validating', 'rejected', 'open', 'updated', 'merged', 'closed', 'superseded', 'failed')),
  -- Rejections: the status answered and its reasons, a list of {field, message}.
  status_code integer,
  reasons jsonb NOT NULL DEFAULT '[]',
  pr_number integer,
  pr_url text,
  branch text,
  pushed_head text,
  superseded_by integer REFERENCES fix_proposals (id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fix_proposals_fingerprint ON fix_proposals (fingerprint);
-- One proposal per change while it is on its way or open: the same proposal sent twice at once
-- is one pull request (the API answers the second with the first).
CREATE UNIQUE INDEX fix_proposals_open_fingerprint_key ON fix_proposals (fingerprint)
  WHERE state IN ('validating', 'open', 'updated');
CREATE INDEX fix_proposals_target_state ON fix_proposals (app_id, environment_id, state);

-- Down Migration
DROP TABLE fix_proposals;
