import { ConfigError, UserError } from '../errors.ts';
import { renderImageTag } from './image-tag.ts';
import { provenanceAnnotations } from './provenance.ts';
import { withoutCredentials } from './public-url.ts';
import type { BundleInput } from './types.ts';

/** What every bundle template sees. Values always reach YAML through `{{yaml ...}}`. */
export type BundleContext = {
  app: { name: string; repoUrl: string };
  environment: { name: string; namespace: string; releaseName: string; iacPath: string };
  source: { sha: string; shortSha: string; branch: string; commitUrl: string };
  /** The image tag DAG deploys (its repository depends on the values: chooseImageRepository). */
  image: { tag: string };
  /** Provenance annotations; DAG also adds them to every object after rendering. */
  annotations: Record<string, string>;
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks the input and derives the fields templates share. */
export function bundleContext(input: BundleInput): BundleContext {
  const { app, environment, source } = input;
  if (!/^[0-9a-f]{7,64}$/i.test(source.sha)) {
    throw new UserError(`${JSON.stringify(source.sha)} is not a commit sha`);
  }
  checkName('namespace', environment.namespace, 63);
  // Helm limits release names to 53 characters.
  checkName('release name', environment.releaseName, 53);
  const sha = source.sha.toLowerCase();
  const shortSha = sha.slice(0, 7);
  const tag = renderImageTag(app.imageTagFormat, { sha, shortSha, branch: source.branch });
  return {
    app: { name: app.name, repoUrl: withoutCredentials(app.repoUrl) },
    environment: {
      name: environment.name,
      namespace: environment.namespace,
      releaseName: environment.releaseName,
      iacPath: environment.iacPath,
    },
    source: {
      sha,
      shortSha,
      branch: source.branch,
      commitUrl: withoutCredentials(source.commitUrl),
    },
    image: { tag },
    annotations: provenanceAnnotations({ ...input, source: { ...source, sha } }),
  };
}

function checkName(what: string, value: string, maxLength: number): void {
  if (value.length > maxLength || !DNS_LABEL.test(value)) {
    throw new ConfigError(
      `${what} ${JSON.stringify(value)} is not a valid Kubernetes name (lower-case letters, digits and "-", at most ${maxLength} characters)`,
    );
  }
}
