-- Up Migration

-- The configuration store, as documented for operators (seed 000): plain SQL inserts of the
-- documented columns must keep working. Everything DAG adds has a default.

CREATE TABLE apps (
  id serial PRIMARY KEY,
  git_provider text NOT NULL CONSTRAINT apps_git_provider_check CHECK (git_provider IN ('github', 'gitlab')),
  repo_url text NOT NULL CONSTRAINT apps_repo_url_check CHECK (repo_url ~ '^(https?://|ssh://|git@)[^\s]+$'),
  -- Optional short name; when null DAG uses the repo's last path segment.
  name text CONSTRAINT apps_name_check CHECK (name IS NULL OR name ~ '^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- One app per repository, whatever the URL's case, trailing slash or ".git".
CREATE UNIQUE INDEX apps_repo_url_key ON apps (lower(regexp_replace(repo_url, '(\.git)?/*$', '')));
CREATE UNIQUE INDEX apps_name_key ON apps (name) WHERE name IS NOT NULL;

CREATE TABLE iacs (
  id serial PRIMARY KEY,
  name text NOT NULL CONSTRAINT iacs_name_check CHECK (name ~ '^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$'),
  repo_url text NOT NULL CONSTRAINT iacs_repo_url_check CHECK (repo_url ~ '^(https?://|ssh://|git@|file://)[^\s]+$'),
  -- Sealed by DAG (AES-256-GCM, "dag:v1:<key id>:..."); a plaintext insert is sealed at the next start.
  access_token text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT iacs_name_key UNIQUE (name)
);

CREATE TABLE clusters (
  id serial PRIMARY KEY,
  name text NOT NULL CONSTRAINT clusters_name_check CHECK (name ~ '^[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?$'),
  api_url text NOT NULL CONSTRAINT clusters_api_url_check CHECK (api_url ~ '^https?://[^\s/]+'),
  -- Sealed by DAG like iacs.access_token.
  service_account_token text,
  ca_cert text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT clusters_name_key UNIQUE (name)
);

CREATE TABLE apps_environments (
  id serial PRIMARY KEY,
  app_id integer NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
  branch text NOT NULL CONSTRAINT apps_environments_branch_check CHECK (branch <> '' AND branch !~ '\s'),
  iac_id integer NOT NULL REFERENCES iacs (id) ON DELETE RESTRICT,
  iac_path text NOT NULL CONSTRAINT apps_environments_iac_path_check
    CHECK (iac_path ~ '^[^/\s]' AND iac_path !~ '(^|/)\.\.?(/|$)' AND iac_path !~ '\s'),
  cluster_id integer NOT NULL REFERENCES clusters (id) ON DELETE RESTRICT,
  helm_type text NOT NULL CONSTRAINT apps_environments_helm_type_check CHECK (helm_type IN ('flux', 'plain')),
  -- DNS-1123 label (Kubernetes namespace).
  helm_namespace text CONSTRAINT apps_environments_helm_namespace_check
    CHECK (helm_namespace IS NULL OR (helm_namespace ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND length(helm_namespace) <= 63)),
  -- Helm release names: DNS-1123, at most 53 characters.
  helm_name text CONSTRAINT apps_environments_helm_name_check
    CHECK (helm_name IS NULL OR (helm_name ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' AND length(helm_name) <= 53)),
  iac_branch text CONSTRAINT apps_environments_iac_branch_check CHECK (iac_branch IS NULL OR (iac_branch <> '' AND iac_branch !~ '\s')),
  -- The name people type (/diff staging) and GitHub shows; derived by DAG when null.
  name text CONSTRAINT apps_environments_name_check
    CHECK (name IS NULL OR (name ~ '^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$' AND length(name) <= 63)),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX apps_environments_name_key ON apps_environments (app_id, name);
-- Two environments must never write the same folder of the same IAC repo and branch.
CREATE UNIQUE INDEX apps_environments_target_key
  ON apps_environments (iac_id, COALESCE(iac_branch, ''), trim(trailing '/' from iac_path));
CREATE INDEX apps_environments_app_branch ON apps_environments (app_id, branch);

-- Down Migration
DROP TABLE apps_environments;
DROP TABLE clusters;
DROP TABLE iacs;
DROP TABLE apps;
