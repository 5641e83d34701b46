import { ConfigError, DagError } from '../errors.ts';
import type { FluxContext } from './flux-context.ts';
import { asKubernetesObject, withAnnotations } from './kubernetes-object.ts';
import { isPlainObject } from './plain-object.ts';
import type { TemplateEntry, Templates } from './templates.ts';
import { renderTemplate, templatesUnder } from './templates.ts';
import { dumpYaml, dumpYamlDocuments, parseYamlDocuments } from './yaml.ts';

const KUSTOMIZATION = 'kustomization.yaml';
/** Kustomize transformer configuration: YAML, but not a Kubernetes object. */
const KUSTOMIZE_CONFIG = 'kustomizeconfig.yaml';
const VALUES = 'values.yaml';
/** Flux post-build substitution must not touch values that come from an app repository. */
const NO_SUBSTITUTION = { 'kustomize.toolkit.fluxcd.io/substitute': 'disabled' } as const;

/**
 * The files of a Flux bundle: every `flux/` template rendered, each Kubernetes object checked and
 * given the provenance annotations, re-serialized canonically; plus `values.yaml` (the merged
 * values, for the ConfigMap kustomization.yaml generates).
 */
export function renderFluxFiles(
  templates: Templates,
  context: FluxContext,
  values: Record<string, unknown>,
): Record<string, string> {
  const entries = templatesUnder(templates, 'flux');
  if (!entries.some((entry) => entry.name === KUSTOMIZATION)) {
    throw new ConfigError(`the templates have no flux/${KUSTOMIZATION}.hbs`);
  }
  const files: Record<string, string> = {};
  const objectFiles: string[] = [];
  for (const entry of entries) {
    if (entry.name === VALUES) {
      throw new ConfigError(`${entry.file}: flux/${VALUES} is written by DAG, not by a template`);
    }
    const text = renderTemplate(entry, context);
    if (entry.name === KUSTOMIZATION) {
      files[entry.name] = kustomizationFile(entry, text, context.annotations);
    } else if (entry.name === KUSTOMIZE_CONFIG || !/\.ya?ml$/.test(entry.name)) {
      if (entry.name === KUSTOMIZE_CONFIG) parseRendered(entry, text);
      files[entry.name] = text;
    } else {
      files[entry.name] = objectsFile(entry, text, context.annotations);
      objectFiles.push(entry.name);
    }
  }
  checkListed(files[KUSTOMIZATION] ?? '', objectFiles);
  files[VALUES] = dumpYaml(values);
  return files;
}

function objectsFile(
  entry: TemplateEntry,
  text: string,
  annotations: Record<string, string>,
): string {
  const docs = parseRendered(entry, text);
  if (docs.length === 0) throw new ConfigError(`${entry.file}: rendered no YAML document`);
  const objects = docs.map((doc, index) => {
    const where = docs.length > 1 ? `${entry.file} (document ${index + 1})` : entry.file;
    return withAnnotations(asKubernetesObject(doc, where), annotations);
  });
  return dumpYamlDocuments(objects);
}

/** kustomization.yaml: a Kustomization whose generated ConfigMaps carry the annotations too. */
function kustomizationFile(
  entry: TemplateEntry,
  text: string,
  annotations: Record<string, string>,
): string {
  const docs = parseRendered(entry, text);
  const doc = docs[0];
  if (docs.length !== 1 || !isPlainObject(doc) || doc.kind !== 'Kustomization') {
    throw new ConfigError(`${entry.file}: must render one kustomize Kustomization`);
  }
  const options = isPlainObject(doc.generatorOptions) ? doc.generatorOptions : {};
  const existing = isPlainObject(options.annotations) ? options.annotations : {};
  return dumpYaml({
    ...doc,
    generatorOptions: {
      ...options,
      annotations: { ...existing, ...NO_SUBSTITUTION, ...annotations },
    },
  });
}

function parseRendered(entry: TemplateEntry, text: string): unknown[] {
  try {
    return parseYamlDocuments(text, `${entry.file} (rendered)`);
  } catch (error) {
    if (error instanceof DagError) throw new ConfigError(error.message, { cause: error });
    throw error;
  }
}

/** An object file the kustomization does not list would silently never reach the cluster. */
function checkListed(kustomization: string, objectFiles: readonly string[]): void {
  const [doc] = parseYamlDocuments(kustomization, KUSTOMIZATION);
  const listed = isPlainObject(doc) && Array.isArray(doc.resources) ? doc.resources : [];
  const resources = listed.map((item) =>
    typeof item === 'string' ? item.replace(/^\.\//, '') : item,
  );
  const missing = objectFiles.filter((file) => !resources.includes(file));
  if (missing.length > 0) {
    throw new ConfigError(
      `flux/${KUSTOMIZATION}.hbs does not list ${missing.join(', ')} under resources`,
    );
  }
}
