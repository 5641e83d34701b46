import { isPlainObject } from '../render/plain-object.ts';
import {
  findSecretRanges,
  findSecretRangesPair,
  isCredentialGroupKey,
  isCredentialKey,
  isDescriptiveKey,
  MASK_PREFIX,
  replaceRanges,
} from './credential-patterns.ts';

/**
 * What a masked value becomes. A marker says only whether the value differs between the live and
 * the desired object, never anything about the value itself (not even its length).
 */
export const MASKED = {
  /** Both sides hold the same value. */
  unchanged: `${MASK_PREFIX} (value unchanged)`,
  /** Live side of a value that changes. */
  old: `${MASK_PREFIX} (old value)`,
  /** Desired side of a value that changes. */
  changed: `${MASK_PREFIX} (value changed)`,
  /** Desired side of a value the live object does not have. */
  added: `${MASK_PREFIX} (new value)`,
  /** Live side of a value the desired object drops. */
  removed: `${MASK_PREFIX} (value removed)`,
} as const;

export type MaskedPair = { live: unknown; desired: unknown };

type Side = 'live' | 'desired';

/** Annotations that repeat the whole object (Secret data included): masked as one value. */
const WHOLE_VALUE_KEYS = new Set(['kubectl.kubernetes.io/last-applied-configuration']);

/** Deeper than this, a subtree is masked whole: no real object nests this far. */
const MAX_DEPTH = 100;

/** `--password`, `-token` as a command-line flag whose value is the next argument. */
const CREDENTIAL_FLAG = /^--?([A-Za-z][A-Za-z0-9_.-]*)$/;

/**
 * Keys under a group of credentials (`secrets:`, `imagePullSecrets:`) that say which or how,
 * rather than holding one: the rest of the group's values are masked whatever their key.
 */
const GROUP_SETTINGS = new Set([
  'user',
  'username',
  'optional',
  'audience',
  'algorithm',
  'source',
  'namespace',
  'region',
]);

/** A value that stands for a credential rather than being one: `${DB_PASSWORD}`, `{{ .x }}`. */
const PLACEHOLDER = /^(?:\$\{[^}]*\}|\$\([^)]*\)|\{\{[^}]*\}\})$/;

/**
 * Masks a Kubernetes object's secrets on both sides of a diff at once, so each marker can say
 * whether the value changed. `live` or `desired` may be null/undefined (an object being created
 * or deleted). Inputs are not modified; the results share every part of them that needs no mask,
 * so they must not be modified either.
 *
 * - `Secret` `data` and `stringData`: every value (compared after base64-decoding `data`, so a
 *   `stringData` value equal to the live `data` value is unchanged).
 * - Anywhere (ConfigMap data, container `env[].value`, HelmRelease values, custom resources):
 *   values under credential-named keys (`password`, `apiKey`, `{name: DB_PASSWORD, value}`),
 *   and credential-shaped text (tokens, JWTs, PEM blocks, URL passwords, `password=...` lines).
 * - The `kubectl.kubernetes.io/last-applied-configuration` annotation, which repeats the object.
 */
export function maskPair(live: unknown, desired: unknown): MaskedPair {
  const secret = isSecret(live) || isSecret(desired);
  const l = isPlainObject(live) ? live : undefined;
  const d = isPlainObject(desired) ? desired : undefined;
  if (!secret || (l === undefined && d === undefined)) {
    const [ml, md] = walk(nullToUndefined(live), nullToUndefined(desired), false, 0);
    return { live: ml ?? null, desired: md ?? null };
  }
  const [ml, md] = walkMap(l, d, 0, false, (key) =>
    key === 'data' || key === 'stringData' ? secretData : undefined,
  );
  return { live: ml ?? null, desired: md ?? null };
}

/** Masks a Helm values map (or any other untyped tree) on both sides of a diff. */
export function maskValuesPair(live: unknown, desired: unknown): MaskedPair {
  const [ml, md] = walk(nullToUndefined(live), nullToUndefined(desired), false, 0);
  return { live: ml ?? null, desired: md ?? null };
}

/** Masks one object on its own (nothing to compare with): every marker is "unchanged". */
export function maskObject(value: unknown): unknown {
  return maskPair(value, value).desired;
}

/**
 * Whether a mapping key anywhere in `value` holds credential-shaped text (`{ghp_…: ci-bot}`). The
 * masker hides values, never keys (two keys masked alike would become one), so the printed
 * lines of such an object need the line masker too (`objectChange`).
 */
export function hasSecretKey(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH) return true;
  if (Array.isArray(value)) return value.some((item) => hasSecretKey(item, depth + 1));
  if (!isPlainObject(value)) return false;
  for (const key of Object.keys(value)) {
    if (secretKey(key) || hasSecretKey(value[key], depth + 1)) return true;
  }
  return false;
}

const secretKeys = new Map<string, boolean>();

function secretKey(key: string): boolean {
  let found = secretKeys.get(key);
  if (found === undefined) {
    found = findSecretRanges(key).length > 0;
    if (secretKeys.size > 10_000) secretKeys.clear();
    secretKeys.set(key, found);
  }
  return found;
}

function isSecret(value: unknown): boolean {
  return (
    isPlainObject(value) &&
    value.kind === 'Secret' &&
    (value.apiVersion === undefined || value.apiVersion === 'v1')
  );
}

function nullToUndefined(value: unknown): unknown {
  return value === null ? undefined : value;
}

type Pair = [unknown, unknown];
type Special = (live: unknown, desired: unknown, liveRoot: Pair) => Pair;

/** The marker for one side of a fully masked value, given the value on the other side. */
export function marker(side: Side, own: unknown, other: unknown): string {
  if (other === undefined) return side === 'live' ? MASKED.removed : MASKED.added;
  if (sameValue(own, other)) return MASKED.unchanged;
  return side === 'live' ? MASKED.old : MASKED.changed;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function walk(live: unknown, desired: unknown, credential: boolean, depth: number): Pair {
  if (depth > MAX_DEPTH) return maskWhole(live, desired);
  const liveMap = isPlainObject(live);
  const desiredMap = isPlainObject(desired);
  if (liveMap || desiredMap) {
    if (liveMap && desiredMap) return walkMap(live, desired, depth, credential);
    // A mapping on one side only: mask each side on its own.
    return [
      liveMap
        ? walkMap(live, undefined, depth, credential)[0]
        : walk(live, undefined, credential, depth)[0],
      desiredMap
        ? walkMap(undefined, desired, depth, credential)[1]
        : walk(undefined, desired, credential, depth)[1],
    ];
  }
  const liveList = Array.isArray(live);
  const desiredList = Array.isArray(desired);
  if (liveList || desiredList) {
    if (liveList && desiredList) return walkList(live, desired, credential, depth);
    return [
      liveList
        ? walkList(live, undefined, credential, depth)[0]
        : walk(live, undefined, credential, depth)[0],
      desiredList
        ? walkList(undefined, desired, credential, depth)[1]
        : walk(undefined, desired, credential, depth)[1],
    ];
  }
  return leaf(live, desired, credential);
}

/**
 * `group`: the map is (inside) a group of credentials (`secrets: {stripe: ..., mailgun: ...}`),
 * so its values are credentials whatever their keys, save names and settings (`secretName`,
 * `optional`).
 */
function walkMap(
  live: Record<string, unknown> | undefined,
  desired: Record<string, unknown> | undefined,
  depth: number,
  group: boolean,
  special?: (key: string) => Special | undefined,
): [Record<string, unknown> | undefined, Record<string, unknown> | undefined] {
  // Live's keys, then those only desired has.
  const keys = live ? Object.keys(live) : desired ? Object.keys(desired) : [];
  if (live && desired) {
    for (const key of Object.keys(desired)) if (!Object.hasOwn(live, key)) keys.push(key);
  }
  // Each side's values in `keys` order, for a copy only when something in it is masked.
  const liveValues: unknown[] = [];
  const desiredValues: unknown[] = [];
  let liveMasked = false;
  let desiredMasked = false;
  for (const key of keys) {
    const inLive = live !== undefined && Object.hasOwn(live, key);
    const inDesired = desired !== undefined && Object.hasOwn(desired, key);
    const l = inLive ? live[key] : undefined;
    const d = inDesired ? desired[key] : undefined;
    const handler = special?.(key);
    let pair: Pair;
    if (handler) {
      pair = handler(l, d, [live, desired]);
    } else if (WHOLE_VALUE_KEYS.has(key)) {
      pair = maskWhole(l, d);
    } else if (group && !isDescriptiveKey(key) && !GROUP_SETTINGS.has(key)) {
      pair = walk(l, d, true, depth + 1);
    } else {
      // (isCredentialGroupKey is isCredentialKey and more: asked only of a credential key.)
      const credentialKey = isCredentialKey(key);
      const credential =
        (credentialKey &&
          (isCredentialGroupKey(key) || (!isPlainObject(l) && !isPlainObject(d)))) ||
        (key === 'value' && namedCredential(live, desired));
      pair = walk(l, d, credential, depth + 1);
    }
    if (inLive) {
      liveValues.push(pair[0]);
      liveMasked ||= pair[0] !== l;
    }
    if (inDesired) {
      desiredValues.push(pair[1]);
      desiredMasked ||= pair[1] !== d;
    }
  }
  // A side with nothing masked is returned as it is (callers never modify the results); a
  // masked one is a copy.
  return [
    live && liveMasked ? copyWith(keys, live, liveValues) : live,
    desired && desiredMasked ? copyWith(keys, desired, desiredValues) : desired,
  ];
}

/**
 * A copy of `map` with `values` for its keys, in `keys` order (the keys `map` lacks are skipped).
 * Object.fromEntries defines own properties, so a `__proto__` key stays a plain key.
 */
function copyWith(
  keys: readonly string[],
  map: Record<string, unknown>,
  values: readonly unknown[],
): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  for (const key of keys) {
    if (Object.hasOwn(map, key)) entries.push([key, values[entries.length]]);
  }
  return Object.fromEntries(entries);
}

/**
 * `{name: DB_PASSWORD, value: ...}` (container env, `extraEnv`, Helm `set` lists) or
 * `{key: API_TOKEN, value: ...}`: the name says it, on either side.
 */
function namedCredential(
  live: Record<string, unknown> | undefined,
  desired: Record<string, unknown> | undefined,
): boolean {
  return [desired?.name, live?.name, desired?.key, live?.key].some(
    (name) => typeof name === 'string' && isCredentialKey(name),
  );
}

function walkList(
  live: unknown[] | undefined,
  desired: unknown[] | undefined,
  credential: boolean,
  depth: number,
): [unknown[] | undefined, unknown[] | undefined] {
  const outLive = live ? new Array<unknown>(live.length) : undefined;
  const outDesired = desired ? new Array<unknown>(desired.length) : undefined;
  const byName = namedItems(live) && namedItems(desired);
  if (byName && live && desired) {
    // Containers, env vars, volumes...: pair items by name, not by position.
    const liveIndex = new Map<unknown, number>();
    live.forEach((item, i) => liveIndex.set((item as { name: unknown }).name, i));
    const paired = new Set<number>();
    desired.forEach((item, i) => {
      const j = liveIndex.get((item as { name: unknown }).name);
      if (j !== undefined && !paired.has(j)) paired.add(j);
      const [l, d] = walk(j === undefined ? undefined : live[j], item, credential, depth + 1);
      if (outDesired) outDesired[i] = d;
      if (j !== undefined && outLive) outLive[j] = l;
    });
    live.forEach((item, j) => {
      if (!paired.has(j) && outLive) outLive[j] = walk(item, undefined, credential, depth + 1)[0];
    });
    return [sameOr(live, outLive), sameOr(desired, outDesired)];
  }
  const length = Math.max(live?.length ?? 0, desired?.length ?? 0);
  for (let i = 0; i < length; i++) {
    // `["--password", "x"]`: the argument after a credential flag is the credential.
    const flag = (list: unknown[] | undefined) => {
      const previous = i > 0 ? list?.[i - 1] : undefined;
      const name = typeof previous === 'string' ? CREDENTIAL_FLAG.exec(previous)?.[1] : undefined;
      return name !== undefined && isCredentialKey(name);
    };
    const itemCredential = credential || flag(live) || flag(desired);
    const [l, d] = walk(
      live && i < live.length ? live[i] : undefined,
      desired && i < desired.length ? desired[i] : undefined,
      itemCredential,
      depth + 1,
    );
    if (outLive && i < outLive.length) outLive[i] = l;
    if (outDesired && i < outDesired.length) outDesired[i] = d;
  }
  return [sameOr(live, outLive), sameOr(desired, outDesired)];
}

/** `list` itself when its masked copy holds the same items (nothing in it was masked). */
function sameOr(list: unknown[] | undefined, out: unknown[] | undefined): unknown[] | undefined {
  if (!list || !out) return out;
  for (let i = 0; i < list.length; i++) if (list[i] !== out[i]) return out;
  return list;
}

function namedItems(list: unknown[] | undefined): boolean {
  if (!list || list.length === 0) return false;
  const names = new Set<unknown>();
  for (const item of list) {
    if (!isPlainObject(item) || typeof item.name !== 'string' || names.has(item.name)) return false;
    names.add(item.name);
  }
  return true;
}

function leaf(live: unknown, desired: unknown, credential: boolean): Pair {
  if (credential) {
    return [
      maskable(live) ? marker('live', live, desired) : live,
      maskable(desired) ? marker('desired', desired, live) : desired,
    ];
  }
  if (typeof live !== 'string' && typeof desired !== 'string') return [live, desired];
  return maskTextPair(live, desired);
}

/** Under a credential key, strings and numbers are masked; booleans, null and "" are not. */
function maskable(value: unknown): boolean {
  if (typeof value === 'number' || typeof value === 'bigint') return true;
  if (typeof value !== 'string' || value === '') return false;
  return !value.startsWith(MASK_PREFIX) && !PLACEHOLDER.test(value.trim());
}

/** Credential-shaped parts of two strings, each marked against the other side's secrets. */
function maskTextPair(live: unknown, desired: unknown): Pair {
  if (live === desired && typeof live === 'string') {
    // The common case: the same text on both sides, so every secret in it is unchanged.
    const ranges = findSecretRanges(live);
    if (ranges.length === 0) return [live, desired];
    const masked = replaceRanges(live, ranges, () => MASKED.unchanged);
    return [masked, masked];
  }
  const [liveRanges, desiredRanges] =
    typeof live === 'string' && typeof desired === 'string'
      ? findSecretRangesPair(live, desired)
      : [
          typeof live === 'string' ? findSecretRanges(live) : [],
          typeof desired === 'string' ? findSecretRanges(desired) : [],
        ];
  if (liveRanges.length === 0 && desiredRanges.length === 0) return [live, desired];
  const secretsOf = (text: unknown, ranges: typeof liveRanges) =>
    new Set(ranges.map(({ start, end }) => (text as string).slice(start, end)));
  const liveSecrets = secretsOf(live, liveRanges);
  const desiredSecrets = secretsOf(desired, desiredRanges);
  const liveOut =
    typeof live === 'string'
      ? replaceRanges(live, liveRanges, (secret) =>
          desiredSecrets.has(secret)
            ? MASKED.unchanged
            : desired === undefined
              ? MASKED.removed
              : MASKED.old,
        )
      : live;
  const desiredOut =
    typeof desired === 'string'
      ? replaceRanges(desired, desiredRanges, (secret) =>
          liveSecrets.has(secret)
            ? MASKED.unchanged
            : live === undefined
              ? MASKED.added
              : MASKED.changed,
        )
      : desired;
  return [liveOut, desiredOut];
}

/** A whole subtree (or scalar) replaced by one marker on each side where it exists. */
function maskWhole(live: unknown, desired: unknown): Pair {
  return [
    live === undefined ? undefined : marker('live', live, desired),
    desired === undefined ? undefined : marker('desired', desired, live),
  ];
}

/**
 * A Secret's `data` or `stringData`: every value masked, compared with the other side's value
 * for the same key after decoding (`stringData` wins over `data`, as the API server merges them).
 */
const secretData: Special = (live, desired, [liveRoot, desiredRoot]) => {
  const liveValues = effectiveSecretValues(liveRoot);
  const desiredValues = effectiveSecretValues(desiredRoot);
  const side = (value: unknown, which: Side, other: Map<string, string> | undefined) => {
    if (value === undefined) return undefined;
    if (!isPlainObject(value))
      return which === 'live' ? maskWhole(value, desired)[0] : maskWhole(live, value)[1];
    const own = which === 'live' ? liveValues : desiredValues;
    return Object.fromEntries(
      Object.keys(value).map((key) => {
        const item = value[key];
        if (item === null || item === '') return [key, item];
        const otherValue = other === undefined ? undefined : other.get(key);
        return [key, marker(which, own?.get(key), otherValue)];
      }),
    );
  };
  return [side(live, 'live', desiredValues), side(desired, 'desired', liveValues)];
};

/** key -> value as base64 of the bytes the Secret will hold; undefined when there is no object. */
function effectiveSecretValues(root: unknown): Map<string, string> | undefined {
  if (!isPlainObject(root)) return undefined;
  const values = new Map<string, string>();
  if (isPlainObject(root.data)) {
    for (const [key, value] of Object.entries(root.data)) {
      if (typeof value === 'string')
        values.set(key, Buffer.from(value, 'base64').toString('base64'));
      else values.set(key, JSON.stringify(value) ?? '');
    }
  }
  if (isPlainObject(root.stringData)) {
    for (const [key, value] of Object.entries(root.stringData)) {
      values.set(key, Buffer.from(String(value), 'utf8').toString('base64'));
    }
  }
  return values;
}

/**
 * `text` (an error about the objects: an API server or admission webhook echoing a field's
 * value) with every value `maskPair` hides in `live` and `desired` replaced by `***`, and then
 * credential-shaped parts too (the line masker). A message cannot be masked by structure, but it
 * can be masked by what the structure says is secret.
 */
export function maskMessageAbout(text: string, live: unknown, desired: unknown): string {
  const masked = maskPair(live, desired);
  const hidden = new Map<string, string>();
  collectHidden(live ?? undefined, masked.live ?? undefined, hidden, 0);
  collectHidden(desired ?? undefined, masked.desired ?? undefined, hidden, 0);
  let out = text;
  // Longest first, so that a value containing another is replaced whole.
  for (const value of [...hidden.keys()].sort((a, b) => b.length - a.length)) {
    if (value.length >= 4 && out.includes(value)) {
      out = out.split(value).join(hidden.get(value) ?? MASK_PREFIX);
    }
  }
  return replaceRanges(out, findSecretRanges(out), () => MASK_PREFIX);
}

/**
 * Each original value where `masked` differs from `original` -> what to show instead: a masked
 * value whole, or partly masked text (a URL with a password) as masked, and its secret parts.
 * Also as a message quotes them (JSON/Go-escaped).
 */
function collectHidden(
  original: unknown,
  masked: unknown,
  out: Map<string, string>,
  depth: number,
) {
  if (depth > MAX_DEPTH || original === masked) return;
  const add = (value: string, replacement: string) => {
    out.set(value, replacement);
    const quoted = JSON.stringify(value).slice(1, -1);
    if (quoted !== value) out.set(quoted, JSON.stringify(replacement).slice(1, -1));
  };
  if (typeof original === 'string' && typeof masked === 'string') {
    const whole = masked.startsWith(MASK_PREFIX) && masked.indexOf(MASK_PREFIX, 1) === -1;
    add(original, whole ? MASK_PREFIX : masked);
    for (const { start, end } of findSecretRanges(original)) {
      add(original.slice(start, end), MASK_PREFIX);
    }
    return;
  }
  if (typeof original === 'number' || typeof original === 'bigint') {
    add(String(original), MASK_PREFIX);
    return;
  }
  if (Array.isArray(original) && Array.isArray(masked)) {
    original.forEach((item, i) => collectHidden(item, masked[i], out, depth + 1));
  } else if (isPlainObject(original) && isPlainObject(masked)) {
    for (const key of Object.keys(original)) {
      collectHidden(original[key], masked[key], out, depth + 1);
    }
  } else if (typeof masked === 'string' && masked.startsWith(MASK_PREFIX)) {
    // A subtree masked whole (the last-applied annotation, a pathologically deep value).
    add(JSON.stringify(original) ?? '', MASK_PREFIX);
  }
}
