import type { BundleInput } from './types.ts';
import { withoutCredentials } from './public-url.ts';
import { parseYamlDocuments } from './yaml.ts';

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

/** Which app commit a rendered folder holds, read back from its provenance annotations. */
export type FolderProvenance = { sha: string; branch: string | null; commitUrl: string | null };

function annotationsOf(doc: unknown): Record<string, unknown> | undefined {
  if (typeof doc !== 'object' || doc === null) return undefined;
  const record = doc as Record<string, unknown>;
  // Kubernetes objects keep them in metadata; a Helm Chart.yaml at the top level.
  const metadata = record.metadata;
  const holder =
    typeof metadata === 'object' && metadata !== null
      ? (metadata as Record<string, unknown>)
      : record;
  const annotations = holder.annotations;
  return typeof annotations === 'object' && annotations !== null
    ? (annotations as Record<string, unknown>)
    : undefined;
}

/**
 * The source commit of a release folder DAG rendered (the first file, in path order, whose
 * objects carry `dag.dev/source-commit`), or undefined for a folder DAG did not write. Files
 * that are not YAML, or not valid YAML, are skipped: people may keep other files there.
 */
export function readProvenance(files: Record<string, string>): FolderProvenance | undefined {
  for (const path of Object.keys(files).sort()) {
    if (!/\.ya?ml$/.test(path)) continue;
    let docs: unknown[];
    try {
      docs = parseYamlDocuments(files[path] as string, path);
    } catch {
      continue;
    }
    for (const doc of docs) {
      const annotations = annotationsOf(doc);
      const sha = annotations?.[PROVENANCE.sourceCommit];
      if (typeof sha !== 'string' || !/^[0-9a-f]{7,64}$/.test(sha)) continue;
      const branch = annotations?.[PROVENANCE.sourceBranch];
      const url = annotations?.[PROVENANCE.sourceCommitUrl];
      return {
        sha,
        branch: typeof branch === 'string' ? branch : null,
        commitUrl: typeof url === 'string' ? url : null,
      };
    }
  }
  return undefined;
}
