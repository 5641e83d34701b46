// Flux objects checked against the Flux CRDs vendored in schemas/flux-crds (see its README), with
// ajv: the objects DAG renders (tests) and the bundles of AI fix proposals (verification, before
// a pull request is opened). A missing folder is a failure with a clear message, never a skip.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { parse } from 'yaml';
import type { KubeObject } from '../k8s/object.ts';
import { kustomizeBuild } from './kustomize-build.ts';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const FLUX_CRD_DIR = path.resolve(repoRoot, 'schemas', 'flux-crds');

/** Schema errors reported per object: the first few say what is wrong. */
const MAX_ERRORS_PER_OBJECT = 10;

type Crd = {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema?: { openAPIV3Schema?: object } }[];
  };
};

/** `<group>/<version>:<kind>` -> validator of that version's openAPIV3Schema. */
export type FluxValidators = Map<string, ValidateFunction>;

export async function loadFluxValidators(dir: string = FLUX_CRD_DIR): Promise<FluxValidators> {
  if (!existsSync(dir)) {
    throw new Error(
      `Flux CRD reference data is missing: ${dir} does not exist. ` +
        'The schemas are vendored in the repository (schemas/flux-crds); restore them from git.',
    );
  }
  const ajv = new Ajv({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: under NodeNext its default import is module.exports, whose
  // `default` is the plugin; at run time either may be the function.
  const plugin = formats as unknown as { default?: unknown };
  const addFormats = (typeof plugin === 'function' ? plugin : plugin.default) as (ajv: Ajv) => Ajv;
  addFormats(ajv);
  ajv.addFormat('int32', true);
  ajv.addFormat('int64', true);
  const validators: FluxValidators = new Map();
  for (const name of (await readdir(dir)).filter((file) => /\.ya?ml$/.test(file)).sort()) {
    const crd = parse(await readFile(path.join(dir, name), 'utf8')) as Crd;
    for (const version of crd.spec.versions) {
      const schema = version.schema?.openAPIV3Schema;
      if (!schema) continue;
      validators.set(
        `${crd.spec.group}/${version.name}:${crd.spec.names.kind}`,
        ajv.compile(schema),
      );
    }
  }
  if (validators.size === 0) throw new Error(`no CRD schemas found in ${dir}`);
  return validators;
}

/** Schema errors of a Flux object, or a message that no CRD covers its apiVersion and kind. */
export function fluxSchemaErrors(validators: FluxValidators, object: unknown): string[] {
  const { apiVersion, kind } = object as { apiVersion?: string; kind?: string };
  const validate = validators.get(`${apiVersion}:${kind}`);
  if (!validate) return [`no CRD schema for ${apiVersion} ${kind}`];
  if (validate(object)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`);
}

/** Whether an object belongs to one of Flux's APIs (`*.toolkit.fluxcd.io/<version>`). */
function isFluxObject(object: KubeObject): boolean {
  return /^[a-z0-9.-]+\.toolkit\.fluxcd\.io\//.test(object.apiVersion);
}

/**
 * The problems of a Flux bundle's objects, each `<Kind> <name>: <error>`: the folder is built as
 * kustomize-controller builds it (kustomizeBuild), and every object of a Flux API among what it
 * applies is checked against its CRD (an API version DAG has no CRD for is a problem too). Other
 * objects (the values ConfigMap) are not Flux's to check. Empty: valid. A folder that does not
 * build throws, as it would for Flux.
 */
export function fluxBundleProblems(
  validators: FluxValidators,
  files: Record<string, string>,
): string[] {
  const problems: string[] = [];
  for (const object of kustomizeBuild(files)) {
    if (!isFluxObject(object)) continue;
    for (const error of fluxSchemaErrors(validators, object).slice(0, MAX_ERRORS_PER_OBJECT)) {
      problems.push(`${object.kind} ${object.metadata.name}: ${error.trim()}`);
    }
  }
  return problems;
}
