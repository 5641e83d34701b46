-- Up Migration

-- How each app's Helm release is built. Every column has a default, so the documented
-- `INSERT INTO apps (git_provider, repo_url)` keeps working.
ALTER TABLE apps
  -- Where the chart comes from: the app repository itself at the pushed commit ('app-repo'),
  -- a Helm repository ('helm'), an OCI registry ('oci') or another git repository ('git').
  ADD COLUMN chart_source text NOT NULL DEFAULT 'app-repo'
    CONSTRAINT apps_chart_source_check CHECK (chart_source IN ('app-repo', 'helm', 'oci', 'git')),
  -- Folder of the chart in the app repository ('app-repo') or in the chart git repository ('git').
  ADD COLUMN chart_path text NOT NULL DEFAULT 'chart'
    CONSTRAINT apps_chart_path_check CHECK (chart_path ~ '^[^/\s]' AND chart_path !~ '(^|/)\.\.(/|$)'),
  -- 'helm': https:// repository URL; 'oci': oci:// URL of the chart; 'git': repository URL.
  ADD COLUMN chart_repo_url text
    CONSTRAINT apps_chart_repo_url_check CHECK (chart_repo_url IS NULL OR chart_repo_url ~ '^(https?|oci)://[^\s]+$'),
  ADD COLUMN chart_name text,
  -- 'helm'/'oci': chart version or semver range; 'git': branch or tag.
  ADD COLUMN chart_version text,
  -- Name of a Secret in the namespace with credentials for the chart source, if it needs one.
  ADD COLUMN chart_secret_ref text,
  -- Container image to deploy; null: derived from the repository (ghcr.io/<owner>/<repo>,
  -- registry.gitlab.com/<path>).
  ADD COLUMN image_repository text,
  -- Handlebars format of the image tag: {{sha}}, {{shortSha}}, {{branch}}.
  ADD COLUMN image_tag_format text NOT NULL DEFAULT '{{sha}}',
  -- Folder in the app repository with values.yaml and values-<environment>.yaml.
  ADD COLUMN values_path text NOT NULL DEFAULT 'deploy'
    CONSTRAINT apps_values_path_check CHECK (values_path ~ '^[^/\s]' AND values_path !~ '(^|/)\.\.(/|$)');

-- One row per environment and source commit DAG was asked to deploy: makes the deploy
-- idempotent (one provider Deployment, one IAC commit) and records how it ended.
CREATE TABLE deploys (
  id bigserial PRIMARY KEY,
  environment_id integer NOT NULL REFERENCES apps_environments (id) ON DELETE CASCADE,
  sha text NOT NULL CONSTRAINT deploys_sha_check CHECK (sha ~ '^[0-9a-f]{40}([0-9a-f]{24})?$'),
  ref text NOT NULL,
  -- Who pushed, as the provider shows them.
  pusher text,
  state text NOT NULL DEFAULT 'queued'
    CONSTRAINT deploys_state_check CHECK (state IN ('queued', 'in_progress', 'success', 'failure')),
  -- The provider's deployment id (GitHub Deployment, GitLab deployment), once created.
  provider_deployment_id text,
  iac_commit text,
  error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT deploys_environment_sha_key UNIQUE (environment_id, sha)
);

-- Down Migration
DROP TABLE deploys;
ALTER TABLE apps
  DROP COLUMN chart_source, DROP COLUMN chart_path, DROP COLUMN chart_repo_url,
  DROP COLUMN chart_name, DROP COLUMN chart_version, DROP COLUMN chart_secret_ref,
  DROP COLUMN image_repository, DROP COLUMN image_tag_format, DROP COLUMN values_path;
