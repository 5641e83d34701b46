import { ConfigError } from '../errors.ts';
import { isPlainObject, setOwn } from './plain-object.ts';

export type KubernetesObject = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: Record<string, unknown> & { name: string };
};

/** Checks that a rendered document is a Kubernetes object; `where` names the template and document. */
export function asKubernetesObject(value: unknown, where: string): KubernetesObject {
  if (!isPlainObject(value)) {
    throw new ConfigError(`${where}: not a Kubernetes object (the document is not a mapping)`);
  }
  const missing: string[] = [];
  if (typeof value.apiVersion !== 'string' || value.apiVersion === '') missing.push('apiVersion');
  if (typeof value.kind !== 'string' || value.kind === '') missing.push('kind');
  const metadata = value.metadata;
  if (!isPlainObject(metadata) || typeof metadata.name !== 'string' || metadata.name === '') {
    missing.push('metadata.name');
  }
  if (missing.length > 0) {
    throw new ConfigError(`${where}: not a Kubernetes object (missing ${missing.join(', ')})`);
  }
  return value as KubernetesObject;
}

/**
 * A copy of the object with `annotations` set on its metadata. Existing annotations keep their
 * place; DAG's keys overwrite any of the same name, so a template cannot fake provenance.
 */
export function withAnnotations<T extends { metadata: Record<string, unknown> }>(
  object: T,
  annotations: Readonly<Record<string, string>>,
): T {
  const existing = isPlainObject(object.metadata.annotations) ? object.metadata.annotations : {};
  const merged: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(existing)) setOwn(merged, key, value);
  for (const [key, value] of Object.entries(annotations)) setOwn(merged, key, value);
  return { ...object, metadata: { ...object.metadata, annotations: merged } };
}
