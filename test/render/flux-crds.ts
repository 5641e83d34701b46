// Validators for Flux objects from the Flux CRDs vendored in schemas/flux-crds (see its README).
// A missing folder is a failure with a clear message, never a silent skip.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { parse } from 'yaml';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');
export const FLUX_CRD_DIR = path.resolve(repoRoot, 'schemas', 'flux-crds');

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
