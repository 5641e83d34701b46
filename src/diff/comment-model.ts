import type { ShownFacts } from './shown-diff.ts';

/** What a `dag/diff` preview says about one pull request: the input of every renderer. */

export type FileChange = 'created' | 'changed' | 'deleted';

/** The provider's word for a change request, in text DAG writes. */
export type ChangeRequestNoun = 'pull request' | 'merge request';
export type ObjectChange = FileChange | 'unchanged';

/** A file of the IAC repository that the pull request would change. */
export type IacFileDiff = {
  path: string;
  change: FileChange;
  /** Unified diff of the file (masked: see `maskDiffText`). */
  diff: string;
};

/** A Kubernetes object the change would create, change or delete (or leave as it is). */
export type ObjectDiff = {
  /** Stable identity, e.g. `Deployment.apps/prod/web` (see `objectRef`). */
  key: string;
  kind: string;
  namespace: string | null;
  name: string;
  change: ObjectChange;
  /**
   * kubectl-diff-style unified diff, secrets masked (see `diffObjects`, then `maskDiffText`); with
   * `shown`, as its code block shows it (`shownDiff`).
   */
  diff?: string;
  /** The diff's counts and fence, worked out with it (`objectChange`), so renderers need not. */
  shown?: ShownFacts;
  /** Why the object could not be diffed or validated (e.g. the dry-run's message). */
  error?: string;
  /**
   * Characters of diff DAG did not keep: the preview's diffs before this object already fill
   * every check run a preview may have (see `keepDiffsWithin`), so this one is listed by name.
   */
  diffOmitted?: number;
};

export type ValidationResult = 'passed' | 'failed' | 'skipped';

/** The server-side dry-run: `skipped` with a reason such as "cluster unreachable". */
export type Validation = { result: ValidationResult; reason?: string };

export type EnvironmentDiff = {
  environment: string;
  iacFiles: IacFileDiff[];
  objects: ObjectDiff[];
  validation: Validation;
  notes: string[];
};

export type DiffCommentModel = {
  pr: number;
  /** The pull request head the preview was computed for. */
  headSha: string;
  /** What the provider calls the change request (default: `pull request`; GitLab's `merge request`). */
  changeRequest?: ChangeRequestNoun;
  /** The head moved on since: the preview is stale and a new one is on its way. */
  outdated?: boolean;
  environments: EnvironmentDiff[];
  /** Where the whole diff is when a comment cannot hold it (default: the dag/diff check runs). */
  fullDiffAt?: FullDiffAt;
  /** The check runs that hold the whole diff, which the comment links (pull-request previews). */
  checkRuns?: CheckRunIndex;
  /** The most characters of one comment (the provider's; absent: GitHub's, MAX_COMMENT_CHARS). */
  commentMaxChars?: number;
};

/** The check runs a preview is spread over, in order, and what did not fit in any of them. */
export type CheckRunIndex = {
  parts: CheckRunLink[];
  /** Files and objects whose diff is in no check run (past the cap), listed in the last part. */
  unshown: number;
  /** Of those, how many not even the list could name (only counted). */
  unlisted: number;
};

export type CheckRunLink = {
  name: string;
  /** The check run's page (known once it was published); absent when the provider has none. */
  url?: string | undefined;
  /** What it holds, as plain text, e.g. `staging: Deployment web/api … ConfigMap web/x`. */
  holds: string;
};

/** Where the whole preview can be read when a comment cannot hold it, as text, Markdown, HTML. */
export type FullDiffAt = { text: string; markdown: string; html: string };

export type EnvironmentCounts = {
  created: number;
  changed: number;
  deleted: number;
  unchanged: number;
  errors: number;
  iacFiles: number;
};

export function environmentCounts(environment: EnvironmentDiff): EnvironmentCounts {
  const counts = { created: 0, changed: 0, deleted: 0, unchanged: 0, errors: 0 };
  for (const object of environment.objects) {
    counts[object.change]++;
    if (object.error) counts.errors++;
  }
  return { ...counts, iacFiles: environment.iacFiles.length };
}
