import { UserError } from '../errors.ts';

/**
 * A path inside a repository or chart, normalized to POSIX segments (`deploy/chart`). Refuses
 * absolute paths, `..`, backslashes and control characters: such a path could leave the folder
 * it is written to or read from. The repository root is the empty string.
 */
export function safeRelativePath(value: string, what: string): string {
  const trimmed = value
    .trim()
    .replace(/^\.\/+/, '')
    .replace(/\/+$/, '');
  if (trimmed === '' || trimmed === '.') return '';
  const segments = trimmed.split('/');
  const bad =
    value.startsWith('/') ||
    /[\\\p{Cc}]/u.test(trimmed) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (bad) throw new UserError(`${what} ${JSON.stringify(value)} is not a safe relative path`);
  return segments.join('/');
}
