import { isPlainObject, setOwn } from './plain-object.ts';

/**
 * Helm-style layering: each layer goes on top of the ones before. Mappings merge key by key;
 * sequences, scalars and null replace. Key order is first appearance, so output is stable.
 * Inputs are not modified.
 */
export function mergeValues(
  ...layers: readonly Record<string, unknown>[]
): Record<string, unknown> {
  let merged: Record<string, unknown> = {};
  for (const layer of layers) merged = mergeTwo(merged, layer);
  return merged;
}

function mergeTwo(
  base: Record<string, unknown>,
  top: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(base)) setOwn(out, key, copy(value));
  for (const [key, value] of Object.entries(top)) {
    const below = Object.hasOwn(out, key) ? out[key] : undefined;
    setOwn(
      out,
      key,
      isPlainObject(below) && isPlainObject(value) ? mergeTwo(below, value) : copy(value),
    );
  }
  return out;
}

function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (isPlainObject(value)) return mergeTwo({}, value);
  return value;
}
