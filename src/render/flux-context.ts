import type { BundleContext } from './bundle-context.ts';
import { safeRelativePath } from './chart-path.ts';
import { fluxGitUrl, ociUrl, withoutCredentials } from './public-url.ts';
import type { BundleInput, ChartSource } from './types.ts';

export const FLUX_SOURCE_API_VERSION = 'source.toolkit.fluxcd.io/v1';
export const HELM_CHART_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

export type FluxSource = {
  apiVersion: string;
  kind: 'GitRepository' | 'HelmRepository' | 'OCIRepository';
  name: string;
  url: string;
  isGit: boolean;
  isHelm: boolean;
  isOci: boolean;
  /** Flux `secretRef.name` for the source's credentials, or null. */
  secretRef: string | null;
  /** GitRepository `spec.ref`, or null for the repository's default. */
  gitRef: Record<string, string> | null;
  /** HelmRepository `spec.type`: `oci` for an `oci://` URL, else null (the default). */
  helmRepositoryType: 'oci' | null;
  /** OCIRepository `spec.ref`. */
  ociRef: Record<string, string> | null;
  ociLayerMediaType: string;
};

export type FluxContext = BundleContext & {
  flux: {
    interval: string;
    /** Name of the ConfigMap generated from values.yaml (kustomize adds a hash suffix). */
    valuesConfigMap: string;
    valuesKey: string;
    source: FluxSource;
    /** `spec.chartRef` (OCIRepository) rather than `spec.chart.spec`. */
    useChartRef: boolean;
    chart: {
      /** Chart name in a Helm repository, or `./path` in a Git repository. */
      name: string | null;
      version: string | null;
      /** `Revision` for a chart in the app repo: every pushed commit is a new chart build. */
      reconcileStrategy: 'Revision' | null;
    };
  };
};

/** The template context of a Flux bundle: one HelmRelease, its chart source and its values. */
export function fluxContext(input: BundleInput, base: BundleContext): FluxContext {
  const chart = input.app.chart;
  const source = fluxSource(input, base, chart);
  return {
    ...base,
    flux: {
      interval: '10m',
      valuesConfigMap: `${base.environment.releaseName}-values`,
      valuesKey: 'values.yaml',
      source,
      useChartRef: chart.kind === 'oci',
      chart: {
        name:
          chart.kind === 'helm'
            ? chart.chart
            : chart.kind === 'oci'
              ? null
              : `./${safeRelativePath(chart.path, 'chart path')}`,
        version: chart.kind === 'helm' ? chart.version : null,
        reconcileStrategy: chart.kind === 'app-repo' ? 'Revision' : null,
      },
    },
  };
}

function fluxSource(input: BundleInput, base: BundleContext, chart: ChartSource): FluxSource {
  const common = {
    apiVersion: FLUX_SOURCE_API_VERSION,
    name: base.environment.releaseName,
    secretRef: input.app.chartSecretRef,
    gitRef: null,
    helmRepositoryType: null,
    ociRef: null,
    ociLayerMediaType: HELM_CHART_LAYER,
    isGit: false,
    isHelm: false,
    isOci: false,
  };
  switch (chart.kind) {
    case 'app-repo':
      // The chart at exactly the pushed commit; the branch lets Flux clone that branch only.
      return {
        ...common,
        kind: 'GitRepository',
        isGit: true,
        url: fluxGitUrl(input.app.repoUrl),
        gitRef:
          base.source.branch === ''
            ? { commit: base.source.sha }
            : { branch: base.source.branch, commit: base.source.sha },
      };
    case 'git':
      return {
        ...common,
        kind: 'GitRepository',
        isGit: true,
        url: fluxGitUrl(chart.url),
        gitRef: gitRef(chart.ref),
      };
    case 'helm': {
      const url = withoutCredentials(chart.url);
      return {
        ...common,
        kind: 'HelmRepository',
        isHelm: true,
        url,
        helmRepositoryType: /^oci:\/\//i.test(url) ? 'oci' : null,
      };
    }
    case 'oci':
      return {
        ...common,
        kind: 'OCIRepository',
        isOci: true,
        url: ociUrl(chart.url),
        ociRef: ociRef(chart.version),
      };
  }
}

/** `refs/...` is a full ref name, 40 or 64 hex digits a commit, anything else a branch. */
function gitRef(ref: string | null): Record<string, string> | null {
  if (ref === null || ref.trim() === '') return null;
  const text = ref.trim();
  if (text.startsWith('refs/')) return { name: text };
  if (/^([0-9a-f]{40}|[0-9a-f]{64})$/i.test(text)) return { commit: text.toLowerCase() };
  return { branch: text };
}

/**
 * A version range (`>=1.0.0`, `1.x`, `^2`) selects by semver; an exact version is the tag Helm
 * pushed (`+` becomes `_` in OCI tags); no version means the latest stable release, as Helm does.
 */
function ociRef(version: string | null): Record<string, string> {
  if (version === null || version.trim() === '') return { semver: '*' };
  const text = version.trim();
  if (/[\s<>=~^*|,]|(^|\.)[xX](\.|$)/.test(text)) return { semver: text };
  return { tag: text.replace(/\+/g, '_') };
}
