-- Up Migration

-- Bearer tokens for DAG's REST API and MCP server, issued and revoked with `dag tokens`. The
-- secret (`dag_` + 43 base62 characters + a 6-character checksum) is shown once and never
-- stored: only its SHA-256 (it is 256 bits of randomness, so a slow hash adds nothing) and a
-- short prefix that people and the lookup use to tell tokens apart. Rows are never deleted, so
-- that audit rows can name the token that sent something; revoked_at ends one for good.
CREATE TABLE api_tokens (
  id serial PRIMARY KEY,
  -- Starts with a letter, so `dag tokens revoke 12` can only mean the id.
  name text NOT NULL CONSTRAINT api_tokens_name_check
    CHECK (name ~ '^[A-Za-z]([-A-Za-z0-9._]*[A-Za-z0-9])?$' AND length(name) <= 100),
  -- `dag_` and the first 8 characters of the secret: not enough to use it, enough to find it.
  prefix text NOT NULL CONSTRAINT api_tokens_prefix_check CHECK (prefix ~ '^dag_[A-Za-z0-9]{8}$'),
  secret_sha256 bytea NOT NULL CONSTRAINT api_tokens_secret_sha256_check CHECK (length(secret_sha256) = 32),
  -- propose implies read.
  permission text NOT NULL CONSTRAINT api_tokens_permission_check CHECK (permission IN ('read', 'propose')),
  -- true: every app, present and future; false: the apps and environments in api_token_scopes
  -- (none left, when they were all removed: then the token grants nothing).
  all_apps boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- Required, and at most a year (and a day, for clocks and time zones) after creation.
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  -- Updated at most once a minute per token (see src/store/api-tokens.ts).
  last_used_at timestamptz,
  CONSTRAINT api_tokens_expiry_check
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '366 days'),
  CONSTRAINT api_tokens_secret_sha256_key UNIQUE (secret_sha256)
);
-- A name is reused only once its token is revoked.
CREATE UNIQUE INDEX api_tokens_name_key ON api_tokens (name) WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_prefix ON api_tokens (prefix);

-- What a token that is not for all apps may reach: a whole app, or one environment of an app.
-- Rows go with the app or environment they name: a token never reaches an app that was removed
-- and added again under the same name.
CREATE TABLE api_token_scopes (
  id serial PRIMARY KEY,
  token_id integer NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  app_id integer REFERENCES apps (id) ON DELETE CASCADE,
  environment_id integer REFERENCES apps_environments (id) ON DELETE CASCADE,
  CONSTRAINT api_token_scopes_target_check CHECK ((app_id IS NULL) <> (environment_id IS NULL))
);
CREATE UNIQUE INDEX api_token_scopes_app_key ON api_token_scopes (token_id, app_id) WHERE app_id IS NOT NULL;
CREATE UNIQUE INDEX api_token_scopes_environment_key
  ON api_token_scopes (token_id, environment_id) WHERE environment_id IS NOT NULL;

-- Requests per token and window, shared by all DAG processes (rate-limiter-flexible's Postgres
-- store: its own layout, `expire` in epoch ms).
CREATE TABLE api_token_limits (
  key varchar(255) PRIMARY KEY,
  points integer NOT NULL DEFAULT 0,
  expire bigint
);

-- Down Migration
DROP TABLE api_token_limits;
DROP TABLE api_token_scopes;
DROP TABLE api_tokens;
