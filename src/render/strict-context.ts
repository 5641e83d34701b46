import { isPlainObject } from './plain-object.ts';

/** Thrown when a template reads a field its context does not have. */
export class MissingFieldError extends Error {
  readonly field: string;
  readonly path: string;

  constructor(path: string, field: string) {
    super(`${JSON.stringify(path ? `${path}.${field}` : field)} is not defined`);
    this.name = 'MissingFieldError';
    this.path = path;
    this.field = field;
  }
}

const targets = new WeakMap<object, unknown>();

/**
 * A read-only view of a template context that throws on any field it does not have. Handlebars'
 * own `strict` mode covers `{{x}}` only, not helper arguments or `{{#if x}}`, so without this a
 * typo such as `{{#if flux.chart.verison}}` would silently render nothing.
 */
export function strictContext<T>(value: T, path = ''): T {
  if (!Array.isArray(value) && !isPlainObject(value)) return value;
  const proxy = new Proxy(value, {
    get(target, property, receiver) {
      if (typeof property === 'symbol' || property in target) {
        const found: unknown = Reflect.get(target, property, receiver);
        if (typeof property === 'symbol' || !Object.hasOwn(target, property)) return found;
        return strictContext(found, path ? `${path}.${property}` : property);
      }
      throw new MissingFieldError(path, property);
    },
    set: () => false,
    deleteProperty: () => false,
    defineProperty: () => false,
  });
  targets.set(proxy, value);
  return proxy;
}

/** The plain value behind a strict view (helpers serialize plain values). */
export function unwrapStrict(value: unknown): unknown {
  if (typeof value === 'object' && value !== null && targets.has(value)) return targets.get(value);
  return value;
}
