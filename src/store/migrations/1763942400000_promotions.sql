-- Up Migration

-- The IAC repository's provider, where DAG opens promotion pull requests.
-- NULL: told by the repository URL.
ALTER TABLE iacs ADD COLUMN git_provider text
  CONSTRAINT iacs_git_provider_check CHECK (git_provider IN ('github', 'gitlab'));

-- Which environment of an app promotes to which (e.g. staging to production).
CREATE TABLE promotion_routes (
  id serial PRIMARY KEY,
  app_id integer NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  from_environment_id integer NOT NULL REFERENCES apps_environments (id) ON DELETE CASCADE,
  to_environment_id integer NOT NULL REFERENCES apps_environments (id) ON DELETE CASCADE,
  -- 'folder', 'iac-branch' or 'app-branch'; NULL: DAG infers it from the two environments
  -- ('iac-branch' when both write one IAC repository on different branches, else 'folder').
  strategy text CONSTRAINT promotion_routes_strategy_check
    CHECK (strategy IN ('folder', 'iac-branch', 'app-branch')),
  -- Open or update the promotion after every successful deploy to the source environment.
  automatic boolean NOT NULL DEFAULT false,
  -- Who may /promote: the least permission on the app repository. NULL: DAG's default, 'maintain'
  -- into an environment named production or prod, 'write' otherwise.
  required_permission text CONSTRAINT promotion_routes_permission_check
    CHECK (required_permission IN ('read', 'triage', 'write', 'maintain', 'admin')),
  created_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT promotion_routes_distinct_check CHECK (from_environment_id <> to_environment_id),
  CONSTRAINT promotion_routes_key UNIQUE (from_environment_id, to_environment_id)
);

-- DAG's promotion pull requests: at most one open per route.
CREATE TABLE promotions (
  id bigserial PRIMARY KEY,
  route_id integer NOT NULL REFERENCES promotion_routes (id) ON DELETE CASCADE,
  -- The repository the pull request lives in (IAC or app repository), its number and page.
  repo_url text NOT NULL,
  number integer NOT NULL,
  url text NOT NULL,
  -- Head and base branch of the pull request.
  branch text NOT NULL,
  base_branch text NOT NULL,
  -- The commit DAG last pushed to its branch ('folder' strategy).
  pushed_head text,
  -- The app commit being promoted.
  source_sha text,
  state text NOT NULL CONSTRAINT promotions_state_check CHECK (state IN ('open', 'closed', 'merged')),
  -- A person pushed to DAG's branch: DAG no longer rewrites it.
  hands_off boolean NOT NULL DEFAULT false,
  -- The target environment's deploy was reported after the merge.
  reported boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT promotions_pull_request_key UNIQUE (repo_url, number)
);
CREATE UNIQUE INDEX promotions_open_key ON promotions (route_id) WHERE state = 'open';
CREATE INDEX promotions_route ON promotions (route_id, id);

-- Down Migration
DROP TABLE promotions;
DROP TABLE promotion_routes;
ALTER TABLE iacs DROP COLUMN git_provider;
