import type { BundleInput } from './types.ts';
import { withoutCredentials } from './public-url.ts';

/** Annotation keys DAG puts on every object it renders, so a cluster object leads back to its push. */
export const PROVENANCE = {
  app: 'dag.dev/app',
  environment: 'dag.dev/environment',
  sourceRepo: 'dag.dev/source-repo',
  sourceBranch: 'dag.dev/source-branch',
  sourceCommit: 'dag.dev/source-commit',
  sourceCommitUrl: 'dag.dev/source-commit-url',
  iacPath: 'dag.dev/iac-path',
} as const;

/** The provenance annotations of a bundle, in a fixed order. Values are strings, as Kubernetes wants. */
export function provenanceAnnotations(input: BundleInput): Record<string, string> {
  return {
    [PROVENANCE.app]: input.app.name,
    [PROVENANCE.environment]: input.environment.name,
    [PROVENANCE.sourceRepo]: withoutCredentials(input.app.repoUrl),
    [PROVENANCE.sourceBranch]: input.source.branch,
    [PROVENANCE.sourceCommit]: input.source.sha,
    [PROVENANCE.sourceCommitUrl]: withoutCredentials(input.source.commitUrl),
    [PROVENANCE.iacPath]: input.environment.iacPath,
  };
}
