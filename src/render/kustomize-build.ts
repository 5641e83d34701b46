import { createHash } from 'node:crypto';
import { UserError } from '../errors.ts';
import { groupOf, isKubeObject, type KubeObject } from '../k8s/object.ts';
import { isPlainObject, setOwn } from './plain-object.ts';
import { parseYamlDocuments } from './yaml.ts';

/**
 * A kustomization that uses something `kustomizeBuild` does not build. The message says what, so
 * the preview can answer with it instead of showing objects that differ from what Flux applies.
 */
export class UnsupportedKustomization extends UserError {}

const KUSTOMIZATION = 'kustomization.yaml';
const KUSTOMIZE_API_VERSION = 'kustomize.config.k8s.io/v1beta1';

/** The kustomization fields built; any other field is refused. */
const KUSTOMIZATION_FIELDS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'resources',
  'configMapGenerator',
  'generatorOptions',
  'configurations',
]);
const GENERATOR_FIELDS = new Set(['name', 'files']);
const GENERATOR_OPTION_FIELDS = new Set(['labels', 'annotations', 'disableNameSuffixHash']);
const FIELD_SPEC_FIELDS = new Set(['path', 'kind', 'group', 'version']);
const NAME_REFERENCE_FIELDS = new Set(['kind', 'version', 'fieldSpecs']);

/** A ConfigMap data key, as the API server (and kustomize) accept it. */
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Kinds kustomize leaves out of its `namespace` (cluster-scoped), or whose references to a
 * namespace it rewrites too (binding subjects, webhook services). Not built: refused.
 */
const NAMESPACE_SPECIAL_KINDS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'RoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'APIService',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'MutatingAdmissionPolicy',
  'MutatingAdmissionPolicyBinding',
  'PodSecurityPolicy',
  'CertificateSigningRequest',
  'FlowSchema',
  'PriorityLevelConfiguration',
]);

/**
 * Kinds in which kustomize's built-in name references point at ConfigMaps or Secrets (pod
 * volumes, env, image pull secrets, ...). Not built: refused next to a generated ConfigMap.
 */
const BUILTIN_REFERRER_KINDS = new Set([
  'Pod',
  'PodTemplate',
  'Deployment',
  'ReplicaSet',
  'ReplicationController',
  'DaemonSet',
  'StatefulSet',
  'Job',
  'CronJob',
  'Ingress',
  'ServiceAccount',
  'Service',
  'Role',
  'ClusterRole',
  'StorageClass',
  'PersistentVolume',
  'Node',
]);

type FieldSpec = { path: string[]; kind?: string; group?: string; version?: string };
type Generated = { object: KubeObject; originalName: string };

/**
 * The objects `kubectl kustomize` builds from a folder of DAG's Flux bundle (`files`: path ->
 * text, flat), for the kustomize features those bundles use and nothing more:
 *
 * - `resources`: files of the folder (not directories, not URLs);
 * - `configMapGenerator` from `files` (`key=path` or `path`), with kustomize's name hash suffix;
 * - `generatorOptions`: `labels`, `annotations`, `disableNameSuffixHash`;
 * - `namespace`, set on every object;
 * - `configurations` declaring `nameReference` field specs for ConfigMaps (such as HelmRelease
 *   `spec/valuesFrom/name`), so references to a generated ConfigMap get its hashed name.
 *
 * Anything else (patches, name prefixes, secret generators, literals, other configurations, kinds
 * kustomize treats specially...) throws UnsupportedKustomization rather than guess.
 */
export function kustomizeBuild(files: Record<string, string>): KubeObject[] {
  const kustomization = readKustomization(files);
  const resources = stringList(kustomization.resources, 'resources').flatMap((entry) =>
    resourceObjects(files, entry),
  );
  const options = generatorOptions(kustomization.generatorOptions);
  const generated = listOf(kustomization.configMapGenerator, 'configMapGenerator').map((entry) =>
    generateConfigMap(files, entry, options),
  );
  const references = stringList(kustomization.configurations, 'configurations').flatMap((file) =>
    nameReferences(files, file),
  );

  checkKinds(resources, generated.length > 0);
  const namespace = kustomization.namespace;
  if (namespace !== undefined && (typeof namespace !== 'string' || namespace === '')) {
    throw unsupported('`namespace` must be a non-empty string');
  }
  const all = [...generated.map((g) => g.object), ...resources];
  if (namespace !== undefined) {
    for (const object of all) object.metadata.namespace = namespace;
  }
  checkUnique(all);
  for (const { object, originalName } of generated) {
    for (const referrer of resources) {
      if (!sameNamespace(referrer, object)) continue;
      for (const spec of references) {
        if (matches(spec, referrer))
          rename(referrer, spec.path, originalName, object.metadata.name);
      }
    }
  }
  return all;
}

/**
 * kustomize's name suffix for a generated ConfigMap: the first 10 hex digits of the SHA-256 of
 * `{"data":...,"kind":"ConfigMap","name":""}` as Go's encoding/json writes it, some digits
 * swapped for letters. (kustomize looks the name up as one field called `metadata/name`, finds
 * none and hashes "" — so the hash depends on the data only.)
 */
export function configMapHash(data: Record<string, string> | undefined): string {
  const sorted =
    data === undefined
      ? ''
      : Object.fromEntries(
          Object.keys(data)
            .sort()
            .map((key) => [key, data[key]]),
        );
  const json = goJson({ data: sorted, kind: 'ConfigMap', name: '' });
  const hex = createHash('sha256').update(json, 'utf8').digest('hex').slice(0, 10);
  const swap: Record<string, string> = { '0': 'g', '1': 'h', '3': 'k', a: 'm', e: 't' };
  return hex.replace(/[013ae]/g, (digit) => swap[digit] ?? digit);
}

/** JSON as Go's json.Marshal writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function unsupported(what: string): UnsupportedKustomization {
  return new UnsupportedKustomization(`${KUSTOMIZATION}: ${what} is not built by DAG`);
}

function readKustomization(files: Record<string, string>): Record<string, unknown> {
  const text = files[KUSTOMIZATION];
  if (text === undefined) return generatedKustomization(files);
  const docs = parseYamlDocuments(text, KUSTOMIZATION);
  const doc = docs[0];
  if (docs.length !== 1 || !isPlainObject(doc)) {
    throw new UnsupportedKustomization(`${KUSTOMIZATION} must hold one mapping`);
  }
  const unknown = Object.keys(doc).filter((key) => !KUSTOMIZATION_FIELDS.has(key));
  if (unknown.length > 0) throw unsupported(unknown.map((key) => `\`${key}\``).join(', '));
  if (doc.apiVersion !== undefined && doc.apiVersion !== KUSTOMIZE_API_VERSION) {
    throw unsupported(`apiVersion ${String(doc.apiVersion)}`);
  }
  if (doc.kind !== undefined && doc.kind !== 'Kustomization') {
    throw unsupported(`kind ${String(doc.kind)}`);
  }
  return doc;
}

/**
 * What Flux's kustomize-controller builds a folder without a kustomization.yaml as: a generated
 * one whose resources are the folder's Kubernetes manifests (files whose YAML documents are
 * all Kubernetes objects; other YAML files are left out, as Flux leaves them out). Flux also
 * scans sub-folders; DAG refuses a folder whose sub-folders hold YAML rather than guess.
 */
function generatedKustomization(files: Record<string, string>): Record<string, unknown> {
  const yamlFiles = Object.keys(files)
    .filter((path) => /\.ya?ml$/.test(path))
    .sort();
  const nested = yamlFiles.find((path) => path.includes('/'));
  if (nested !== undefined) {
    throw new UnsupportedKustomization(
      `the folder has no ${KUSTOMIZATION} and YAML in a sub-folder (${nested}), which DAG does not build`,
    );
  }
  const resources = yamlFiles.filter((path) => {
    try {
      const docs = parseYamlDocuments(files[path] ?? '', path);
      return docs.length > 0 && docs.every(isKubeObject);
    } catch {
      return false;
    }
  });
  return { resources };
}

function listOf(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw unsupported(`\`${field}\` that is not a list`);
  return value;
}

function stringList(value: unknown, field: string): string[] {
  return listOf(value, field).map((item) => {
    if (typeof item !== 'string') throw unsupported(`a \`${field}\` entry that is not a string`);
    return item;
  });
}

/** A file of the (flat) folder, by a path relative to it. */
function folderFile(files: Record<string, string>, path: string, field: string): [string, string] {
  const name = path.replace(/^\.\//, '');
  const text = Object.hasOwn(files, name) ? files[name] : undefined;
  if (name.includes('/') || name.includes('\\') || name.includes('://') || text === undefined) {
    throw unsupported(`${field} \`${path}\` (only files of the folder itself are built)`);
  }
  return [name, text];
}

function resourceObjects(files: Record<string, string>, entry: string): KubeObject[] {
  const [name, text] = folderFile(files, entry, 'resource');
  return parseYamlDocuments(text, name).map((doc, index) => {
    if (!isKubeObject(doc)) {
      throw new UnsupportedKustomization(
        `${name} (document ${index + 1}) is not a Kubernetes object with apiVersion, kind and metadata.name`,
      );
    }
    return doc;
  });
}

type Options = {
  labels: Record<string, string> | undefined;
  annotations: Record<string, string> | undefined;
  hash: boolean;
};

function generatorOptions(value: unknown): Options {
  if (value === undefined || value === null)
    return { labels: undefined, annotations: undefined, hash: true };
  if (!isPlainObject(value)) throw unsupported('`generatorOptions` that is not a mapping');
  const unknown = Object.keys(value).filter((key) => !GENERATOR_OPTION_FIELDS.has(key));
  if (unknown.length > 0) {
    throw unsupported(unknown.map((key) => `generatorOptions \`${key}\``).join(', '));
  }
  const disable = value.disableNameSuffixHash ?? false;
  if (typeof disable !== 'boolean') throw unsupported('a non-boolean `disableNameSuffixHash`');
  return {
    labels: stringMap(value.labels, 'generatorOptions.labels'),
    annotations: stringMap(value.annotations, 'generatorOptions.annotations'),
    hash: !disable,
  };
}

function stringMap(value: unknown, field: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw unsupported(`\`${field}\` that is not a map of strings`);
  }
  return { ...(value as Record<string, string>) };
}

function generateConfigMap(
  files: Record<string, string>,
  entry: unknown,
  options: Options,
): Generated {
  if (!isPlainObject(entry))
    throw unsupported('a `configMapGenerator` entry that is not a mapping');
  const unknown = Object.keys(entry).filter((key) => !GENERATOR_FIELDS.has(key));
  if (unknown.length > 0) {
    throw unsupported(unknown.map((key) => `configMapGenerator \`${key}\``).join(', '));
  }
  const name = entry.name;
  if (typeof name !== 'string' || name === '') {
    throw unsupported('a `configMapGenerator` entry without a name');
  }
  const sources = stringList(entry.files, `configMapGenerator ${name} files`);
  let data: Record<string, string> | undefined;
  for (const source of sources) {
    const equals = source.indexOf('=');
    const path = equals === -1 ? source : source.slice(equals + 1);
    const [file, text] = folderFile(files, path, `configMapGenerator ${name} file`);
    const key = equals === -1 ? file : source.slice(0, equals);
    if (!DATA_KEY.test(key)) throw unsupported(`configMapGenerator ${name} key \`${key}\``);
    data ??= {};
    if (Object.hasOwn(data, key))
      throw unsupported(`configMapGenerator ${name} repeating key ${key}`);
    setOwn(data, key, text);
  }
  const metadata: KubeObject['metadata'] = {
    name: options.hash ? `${name}-${configMapHash(data)}` : name,
  };
  if (options.labels) metadata.labels = { ...options.labels };
  if (options.annotations) metadata.annotations = { ...options.annotations };
  const object: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata };
  if (data) object.data = data;
  return { object, originalName: name };
}

function nameReferences(files: Record<string, string>, entry: string): FieldSpec[] {
  const [name, text] = folderFile(files, entry, 'configurations');
  const docs = parseYamlDocuments(text, name);
  const doc = docs[0];
  if (docs.length !== 1 || !isPlainObject(doc)) {
    throw new UnsupportedKustomization(`${name} must hold one mapping`);
  }
  const unknown = Object.keys(doc).filter((key) => key !== 'nameReference');
  if (unknown.length > 0) {
    throw new UnsupportedKustomization(
      `${name}: ${unknown.map((key) => `\`${key}\``).join(', ')} is not built by DAG`,
    );
  }
  const refused = (what: string) =>
    new UnsupportedKustomization(`${name}: ${what} is not built by DAG`);
  return listOf(doc.nameReference, 'nameReference').flatMap((reference) => {
    if (
      !isPlainObject(reference) ||
      Object.keys(reference).some((key) => !NAME_REFERENCE_FIELDS.has(key)) ||
      reference.kind !== 'ConfigMap' ||
      (reference.version !== undefined && reference.version !== 'v1')
    ) {
      throw refused('a nameReference other than to a v1 ConfigMap');
    }
    return listOf(reference.fieldSpecs, 'fieldSpecs').map((spec): FieldSpec => {
      if (
        !isPlainObject(spec) ||
        Object.keys(spec).some((key) => !FIELD_SPEC_FIELDS.has(key)) ||
        typeof spec.path !== 'string' ||
        !/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(spec.path) ||
        [spec.kind, spec.group, spec.version].some((v) => v !== undefined && typeof v !== 'string')
      ) {
        throw refused('a fieldSpec other than a plain `path` with optional kind, group, version');
      }
      return {
        path: spec.path.split('/'),
        ...(spec.kind === undefined ? {} : { kind: spec.kind as string }),
        ...(spec.group === undefined ? {} : { group: spec.group as string }),
        ...(spec.version === undefined ? {} : { version: spec.version as string }),
      };
    });
  });
}

function checkKinds(resources: readonly KubeObject[], generates: boolean): void {
  for (const object of resources) {
    if (NAMESPACE_SPECIAL_KINDS.has(object.kind)) {
      throw unsupported(`a ${object.kind} (${object.metadata.name})`);
    }
    if (generates && BUILTIN_REFERRER_KINDS.has(object.kind)) {
      throw unsupported(
        `a ${object.kind} (${object.metadata.name}) next to a generated ConfigMap (kustomize's built-in name references)`,
      );
    }
  }
}

function checkUnique(objects: readonly KubeObject[]): void {
  const seen = new Set<string>();
  for (const o of objects) {
    const key = `${groupOf(o.apiVersion)}/${o.kind}/${String(o.metadata.namespace ?? '')}/${o.metadata.name}`;
    if (seen.has(key)) throw new UnsupportedKustomization(`${KUSTOMIZATION}: ${key} appears twice`);
    seen.add(key);
  }
}

function namespaceKey(object: KubeObject): string {
  const namespace = object.metadata.namespace;
  return typeof namespace === 'string' && namespace !== '' ? namespace : 'default';
}

/** kustomize rewrites a namespaced object's reference only to a ConfigMap of its namespace. */
function sameNamespace(a: KubeObject, b: KubeObject): boolean {
  return namespaceKey(a) === namespaceKey(b);
}

function matches(spec: FieldSpec, object: KubeObject): boolean {
  const slash = object.apiVersion.indexOf('/');
  const version = slash === -1 ? object.apiVersion : object.apiVersion.slice(slash + 1);
  return (
    (spec.kind === undefined || spec.kind === object.kind) &&
    (spec.group === undefined || spec.group === groupOf(object.apiVersion)) &&
    (spec.version === undefined || spec.version === version)
  );
}

/** Every string at `path` (through lists, item by item) equal to `from` becomes `to`. */
function rename(node: unknown, path: readonly string[], from: string, to: string): void {
  if (Array.isArray(node)) {
    for (const item of node) rename(item, path, from, to);
    return;
  }
  if (!isPlainObject(node) || path.length === 0) return;
  const [field, ...rest] = path as [string, ...string[]];
  if (!Object.hasOwn(node, field)) return;
  const value = node[field];
  if (rest.length > 0) return rename(value, rest, from, to);
  if (value === from) node[field] = to;
  else if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === from) value[i] = to;
    });
  }
}
