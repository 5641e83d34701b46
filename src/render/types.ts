/** What a release bundle is rendered from: plain data, no I/O. */
export type ChartSource =
  | { kind: 'app-repo'; path: string }
  | { kind: 'helm'; url: string; chart: string; version: string | null }
  | { kind: 'oci'; url: string; version: string | null }
  | { kind: 'git'; url: string; ref: string | null; path: string };

export type BundleInput = {
  app: {
    name: string;
    repoUrl: string;
    gitProvider: 'github' | 'gitlab';
    chart: ChartSource;
    /** Secret with credentials for the chart source (Flux secretRef), if any. */
    chartSecretRef: string | null;
    /** `apps.image_repository`: when set, wins over `image.repository` in the values. */
    imageRepository: string | null;
    /**
     * The image repository when neither the app nor its values name one, derived from the app's
     * repository where the registry is known (github.com, gitlab.com); null: DAG knows none.
     */
    defaultImageRepository: string | null;
    /** Handlebars format: {{sha}}, {{shortSha}}, {{branch}}. */
    imageTagFormat: string;
  };
  environment: {
    name: string;
    helmType: 'flux' | 'plain';
    namespace: string;
    releaseName: string;
    iacPath: string;
  };
  source: {
    sha: string;
    branch: string;
    /** Link to the source commit on its provider. */
    commitUrl: string;
  };
  /** Values from the app repo, already parsed: base, then the environment's on top. */
  values: { base: Record<string, unknown>; environment: Record<string, unknown> };
  /**
   * 'plain' only: the app repo's chart files at the pushed commit (paths relative to the
   * chart folder), or undefined when the app repo has no chart there.
   */
  appChart?: Record<string, string> | undefined;
};

/** A rendered bundle: the exact files of the environment's folder in the IAC repo. */
export type Bundle = {
  /** Relative path inside iac_path -> file content. */
  files: Record<string, string>;
};
