import { ConfigError, UserError } from '../errors.ts';
import type { BundleContext } from './bundle-context.ts';
import { safeRelativePath } from './chart-path.ts';
import { annotateChartYaml } from './chart-yaml.ts';
import { withDagValues } from './dag-values.ts';
import { chooseImageRepository, NO_IMAGE_REPOSITORY_NOTE } from './image-repository.ts';
import { mergeValues } from './merge-values.ts';
import type { Templates } from './templates.ts';
import { renderTemplate, templatesUnder } from './templates.ts';
import type { BundleInput } from './types.ts';
import { dumpYaml, dumpYamlDocuments, parseValuesFile, parseYamlDocuments } from './yaml.ts';

export type PlainContext = BundleContext & {
  chart: { version: string; description: string };
};

type ChartParts = {
  chartYaml: { text: string; source: string };
  /** The chart's own values.yaml: the bottom layer of the merged values. */
  defaults: { text: string; source: string } | null;
  /** Every other file of the chart, by path relative to the chart folder. */
  files: Record<string, string>;
};

const CHART_YAML = 'Chart.yaml';
const VALUES = 'values.yaml';

/** `0.0.0-g<shortSha>`: valid semver whatever the sha (a purely numeric pre-release may not start with 0). */
export function plainContext(base: BundleContext): PlainContext {
  return {
    ...base,
    chart: {
      version: `0.0.0-g${base.source.shortSha}`,
      description: `${base.app.name} in ${base.environment.name}, delivered by DAG`,
    },
  };
}

/**
 * The files of a plain Helm chart: the app repo's chart when it has one, else DAG's default chart;
 * Chart.yaml with appVersion = sha and provenance annotations; values.yaml = the chart's defaults,
 * then the app's base and environment values, then DAG's image and dag.annotations. DAG's default
 * chart needs an image repository; an app's own chart may do without one.
 */
export function renderPlainFiles(
  templates: Templates,
  input: BundleInput,
  context: PlainContext,
): Record<string, string> {
  // No chart folder in the app repo (undefined, or nothing in it): DAG's default chart.
  const appChart =
    input.appChart && Object.keys(input.appChart).length > 0 ? input.appChart : undefined;
  const fromApp = appChart !== undefined;
  const chart = appChart ? appChartParts(appChart) : defaultChartParts(templates, context);
  // A broken default chart is the operator's templates, not the user's push.
  const blame = <T>(read: () => T): T => (fromApp ? read() : asConfigError(read));
  const defaultsFile = chart.defaults;
  const defaults = defaultsFile
    ? blame(() => parseValuesFile(defaultsFile.text, defaultsFile.source))
    : {};
  // The app's values files name the image, not the chart's defaults (a `helm create` chart
  // says `nginx`): the same rule as for Flux, where DAG never sees the chart's defaults.
  const image = chooseImageRepository(
    input.app,
    mergeValues(input.values.base, input.values.environment),
  );
  const merged = mergeValues(defaults, input.values.base, input.values.environment);
  if (image.from === 'none' && !fromApp) {
    throw new UserError(
      `app ${input.app.name} names no image repository, and DAG's default chart needs one: set image.repository in the app's values files, or the app's image_repository (dag apps set --image-repository)`,
    );
  }
  const values = withDagValues(merged, {
    image: { repository: image.repository, tag: context.image.tag },
    annotations: context.annotations,
  });
  const chartYaml = blame(() =>
    annotateChartYaml(chart.chartYaml.text, chart.chartYaml.source, {
      appVersion: context.source.sha,
      annotations: context.annotations,
    }),
  );
  const note = image.from === 'none' ? NO_IMAGE_REPOSITORY_NOTE : '';
  return { ...chart.files, [CHART_YAML]: chartYaml, [VALUES]: note + dumpYaml(values) };
}

function asConfigError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof UserError) throw new ConfigError(error.message, { cause: error });
    throw error;
  }
}

function appChartParts(appChart: Record<string, string>): ChartParts {
  const files: Record<string, string> = {};
  for (const [rawPath, content] of Object.entries(appChart)) {
    const path = safeRelativePath(rawPath, 'app chart file');
    if (path === '') throw new UserError(`app chart file ${JSON.stringify(rawPath)} has no name`);
    files[path] = content;
  }
  const chartYaml = files[CHART_YAML];
  if (chartYaml === undefined) throw new UserError(`the app repo's chart has no ${CHART_YAML}`);
  const values = files[VALUES];
  delete files[CHART_YAML];
  delete files[VALUES];
  return {
    chartYaml: { text: chartYaml, source: `app chart ${CHART_YAML}` },
    defaults: values === undefined ? null : { text: values, source: `app chart ${VALUES}` },
    files,
  };
}

/**
 * DAG's default chart from the `plain/` templates: `Chart.yaml(.hbs)` rendered, and everything
 * under `plain/chart/` (Helm templates, copied verbatim) at the same path in the bundle.
 */
function defaultChartParts(templates: Templates, context: PlainContext): ChartParts {
  let chartYaml: ChartParts['chartYaml'] | undefined;
  let defaults: ChartParts['defaults'] = null;
  const files: Record<string, string> = {};
  for (const entry of templatesUnder(templates, 'plain')) {
    const text = renderTemplate(entry, context);
    if (entry.name === CHART_YAML) {
      // Rendered through {{yaml ...}}: re-serialize so the file is canonical like the others.
      const docs = asConfigError(() => parseYamlDocuments(text, `${entry.file} (rendered)`));
      chartYaml = { text: dumpYamlDocuments(docs), source: entry.file };
    } else if (entry.name === `chart/${VALUES}`) {
      defaults = { text, source: entry.file };
    } else if (entry.name.startsWith('chart/')) {
      const name = entry.name.slice('chart/'.length);
      if (name === CHART_YAML) {
        throw new ConfigError(
          `${entry.file}: the default chart's Chart.yaml is plain/${CHART_YAML}.hbs`,
        );
      }
      files[name] = text;
    }
  }
  if (chartYaml === undefined) {
    throw new ConfigError(`the templates have no plain/${CHART_YAML}.hbs for the default chart`);
  }
  return { chartYaml, defaults, files };
}
