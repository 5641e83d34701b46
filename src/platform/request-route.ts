/**
 * The route a provider API request is counted under in metrics: its method and path with every
 * name and number replaced by a placeholder (`GET /repos/{owner}/{repo}/contents/{path}`,
 * `POST /projects/{id}/statuses/{sha}`). Paths hold repository, branch, file and user names,
 * which must never become label values: a label set that grows with them has no bound.
 *
 * Octokit's routes are templates already (their `{placeholders}` pass through); concrete paths
 * (gitbeaker's endpoints, Octokit's pagination links) are templated segment by segment: a
 * segment is kept only when it is one of the API's resource words below, and anything else
 * becomes the placeholder of the resource it follows. Every route is therefore made of a fixed
 * vocabulary and capped in length, whatever the path: the label's values are bounded.
 */

type Provider = 'github' | 'gitlab';

/** What follows a resource word: always N names (a namespace), an optional id, or the rest. */
type Param = { always: string[] } | { optional: string } | { rest: string } | Record<string, never>;

const GITHUB: Record<string, Param> = {
  repos: { always: ['{owner}', '{repo}'] },
  orgs: { always: ['{org}'] },
  users: { always: ['{username}'] },
  app: {},
  apps: { optional: '{app_slug}' },
  installation: {},
  installations: { optional: '{installation_id}' },
  access_tokens: {},
  user: {},
  rate_limit: {},
  graphql: {},
  search: {},
  contents: { rest: '{path}' },
  readme: {},
  deployments: { optional: '{deployment_id}' },
  statuses: { optional: '{sha}' },
  status: {},
  commits: { optional: '{ref}' },
  'check-runs': { optional: '{check_run_id}' },
  'check-suites': { optional: '{check_suite_id}' },
  issues: { optional: '{issue_number}' },
  comments: { optional: '{comment_id}' },
  pulls: { optional: '{pull_number}' },
  reviews: { optional: '{review_id}' },
  requested_reviewers: {},
  files: {},
  merge: {},
  merges: {},
  labels: { optional: '{name}' },
  collaborators: { optional: '{username}' },
  permission: {},
  compare: { rest: '{basehead}' },
  git: {},
  refs: { rest: '{ref}' },
  ref: { rest: '{ref}' },
  trees: { optional: '{tree_sha}' },
  blobs: { optional: '{file_sha}' },
  branches: { optional: '{branch}' },
  protection: {},
  releases: { optional: '{release_id}' },
  reactions: { optional: '{reaction_id}' },
  hooks: { optional: '{hook_id}' },
  actions: {},
  runs: { optional: '{run_id}' },
  jobs: { optional: '{job_id}' },
  workflows: { optional: '{workflow_id}' },
  tags: { optional: '{tag}' },
  events: {},
  timeline: {},
  assignees: {},
  milestones: { optional: '{milestone_number}' },
  teams: { optional: '{team_slug}' },
  members: { optional: '{username}' },
  dispatches: {},
};

const GITLAB: Record<string, Param> = {
  projects: { always: ['{id}'] },
  groups: { always: ['{id}'] },
  users: { optional: '{user_id}' },
  user: {},
  version: {},
  personal_access_tokens: { optional: '{id}' },
  self: {},
  search: {},
  repository: {},
  files: { optional: '{file_path}' },
  raw: {},
  tree: {},
  blobs: { optional: '{sha}' },
  compare: {},
  archive: {},
  contributors: {},
  merge_base: {},
  commits: { optional: '{sha}' },
  statuses: { optional: '{sha}' },
  statuses_all: {},
  diff: {},
  refs: {},
  comments: {},
  branches: { optional: '{branch}' },
  protected_branches: { optional: '{name}' },
  tags: { optional: '{tag_name}' },
  deployments: { optional: '{deployment_id}' },
  environments: { optional: '{environment_id}' },
  merge_requests: { optional: '{merge_request_iid}' },
  notes: { optional: '{note_id}' },
  discussions: { optional: '{discussion_id}' },
  award_emoji: { optional: '{award_id}' },
  approvals: {},
  approve: {},
  unapprove: {},
  changes: {},
  diffs: {},
  merge: {},
  rebase: {},
  versions: {},
  pipeline: {},
  pipelines: { optional: '{pipeline_id}' },
  jobs: { optional: '{job_id}' },
  labels: { optional: '{label_id}' },
  members: { optional: '{user_id}' },
  hooks: { optional: '{hook_id}' },
  variables: { optional: '{key}' },
  access_tokens: { optional: '{token_id}' },
  status: {},
};

const VOCABULARY: Record<Provider, Record<string, Param>> = { github: GITHUB, gitlab: GITLAB };
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Longer routes are cut here (DAG calls none that long): a bound on the label's values. */
const MAX_SEGMENTS = 10;
const TEMPLATE = /^\{[a-z_]{1,40}\}$/;

function pathOf(url: string): string {
  let path = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? new URL(url).pathname : url;
  path = path.replace(/\{\?[^}]*\}$/, ''); // Octokit's query template, e.g. `{?ref}`
  path = path.split('?')[0] ?? '';
  // The API's own prefix on GitHub Enterprise Server and GitLab.
  return path.replace(/^\/?api\/v[34](?=\/|$)/, '');
}

/** The path's segments with names and numbers replaced by placeholders (see the file comment). */
export function templatePath(provider: Provider, path: string): string {
  const words = VOCABULARY[provider];
  const segments = pathOf(path).split('/').filter(Boolean);
  const out: string[] = [];
  let param: Param = {};
  // True right after a name became a placeholder: a run of names is one placeholder.
  let inName = false;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string;
    if (TEMPLATE.test(segment)) {
      out.push(segment);
      param = {};
      inName = false;
      continue;
    }
    if (Object.hasOwn(words, segment)) {
      out.push(segment);
      param = words[segment] as Param;
      inName = false;
      if ('always' in param) {
        // A namespace: the next names are owner and repository (or project), whatever they say.
        for (const name of param.always) {
          const next = segments[i + 1];
          if (next === undefined) break;
          out.push(TEMPLATE.test(next) ? next : name);
          i++;
        }
        param = {};
      }
      continue;
    }
    // A name or a number: the placeholder of the resource word before it.
    if (inName) continue;
    if ('rest' in param) {
      out.push(param.rest);
      break;
    }
    out.push('optional' in param ? param.optional : '{id}');
    param = {};
    inName = true;
  }
  const cut = out.length > MAX_SEGMENTS ? [...out.slice(0, MAX_SEGMENTS), '…'] : out;
  return `/${cut.join('/')}`;
}

/** `METHOD /templated/route`, the `route` label of provider request metrics. */
export function routeLabel(provider: Provider, method: string, path: string): string {
  const verb = method.toUpperCase();
  return `${METHODS.has(verb) ? verb : 'OTHER'} ${templatePath(provider, path)}`;
}
