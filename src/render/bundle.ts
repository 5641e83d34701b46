import { bundleContext } from './bundle-context.ts';
import { fluxContext } from './flux-context.ts';
import { renderFluxFiles } from './flux-bundle.ts';
import { withDagValues } from './dag-values.ts';
import { chooseImageRepository, NO_IMAGE_REPOSITORY_NOTE } from './image-repository.ts';
import { mergeValues } from './merge-values.ts';
import { plainContext, renderPlainFiles } from './plain-bundle.ts';
import type { Templates } from './templates.ts';
import type { Bundle, BundleInput } from './types.ts';

/**
 * The exact files of an environment's folder (`iac_path`) for one push. Pure: no I/O, and the
 * same input gives byte-identical files.
 *
 * - `flux`: HelmRelease, its chart source and a kustomization generating the values ConfigMap
 *   from `values.yaml` (base values, then the environment's, then DAG's image and provenance).
 *   The image repository: the app's setting, else the values', else a derived default
 *   (chooseImageRepository); with none, values.yaml says so in a comment.
 * - `plain`: a Helm chart (the app repo's, or DAG's default) with the merged `values.yaml`.
 *
 * Throws UserError for problems in what the user pushed (values, image tag format, chart) and
 * ConfigError for problems in DAG's configuration or templates.
 */
export function renderBundle(input: BundleInput, templates: Templates): Bundle {
  const base = bundleContext(input);
  if (input.environment.helmType === 'plain') {
    return { files: sorted(renderPlainFiles(templates, input, plainContext(base))) };
  }
  const merged = mergeValues(input.values.base, input.values.environment);
  const image = chooseImageRepository(input.app, merged);
  const values = withDagValues(merged, {
    image: { repository: image.repository, tag: base.image.tag },
    annotations: base.annotations,
  });
  const files = renderFluxFiles(templates, fluxContext(input, base), values);
  if (image.from === 'none') files['values.yaml'] = NO_IMAGE_REPOSITORY_NOTE + files['values.yaml'];
  return { files: sorted(files) };
}

function sorted(files: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(files).sort()) out[name] = files[name] ?? '';
  return out;
}
