import { isPlainObject, setOwn } from './plain-object.ts';

export type DagValues = {
  /** `repository` null: the values' own (or none) stays; see chooseImageRepository. */
  image: { repository: string | null; tag: string };
  annotations: Record<string, string>;
};

/**
 * The values DAG owns, set on top of the merged values: `image.repository` (the one
 * chooseImageRepository picked), `image.tag` and `dag.annotations` (provenance, for charts that
 * put it on their objects). Other keys under `image` and `dag` are kept; a non-mapping `image`
 * or `dag` is replaced.
 */
export function withDagValues(
  values: Record<string, unknown>,
  dag: DagValues,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) setOwn(out, key, value);
  const image = isPlainObject(out.image) ? out.image : {};
  const repository = dag.image.repository === null ? {} : { repository: dag.image.repository };
  setOwn(out, 'image', { ...image, ...repository, tag: dag.image.tag });
  const dagValues = isPlainObject(out.dag) ? out.dag : {};
  setOwn(out, 'dag', { ...dagValues, annotations: { ...dag.annotations } });
  return out;
}
