import { PROPOSAL_LIMITS } from './proposal.ts';
import type { App, Environment } from '../model.ts';

/** Why a path cannot be written, with the status that fits. */
export type PathProblem = { status: 400 | 413 | 422; message: string };

/** A path relative to a repository root as DAG reads it: no leading `./`, no trailing `/`. */
export function repoFolder(value: string): string {
  return value
    .trim()
    .replace(/^(\.\/+)+/, '')
    .replace(/\/+$/, '')
    .replace(/^\.$/, '');
}

/**
 * A path as a proposal may name it: relative, normalized, POSIX. Refused: absolute paths (also
 * `C:`), `..`, `.` and empty segments, backslashes, NUL and other control characters, lone
 * surrogates (no UTF-8 encoding), a `.git` segment, more than `pathChars` characters.
 */
export function unsafePath(path: string): PathProblem | undefined {
  const bad = (message: string): PathProblem => ({ status: 400, message });
  if (path.length > PROPOSAL_LIMITS.pathChars) {
    return {
      status: 413,
      message: `is ${path.length} characters long; the limit is ${PROPOSAL_LIMITS.pathChars}`,
    };
  }
  if (!path.isWellFormed()) return bad('is not valid Unicode (it has no UTF-8 encoding)');
  if (path === '') return bad('is empty');
  if (path.includes('\0')) return bad('contains a NUL character');
  if (/\p{Cc}/u.test(path)) return bad('contains a control character');
  if (path.includes('\\')) return bad('contains a backslash; use / between folders');
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return bad('is absolute');
  const segments = path.split('/');
  if (segments.includes('..')) return bad('contains ..');
  if (segments.some((s) => s === '' || s === '.'))
    return bad('is not normalized (empty or . part)');
  if (segments.some((s) => s.toLowerCase() === '.git')) return bad('is inside .git');
  return undefined;
}

/** The files a proposal for an environment may change in the app repository. */
export type AllowedPaths = {
  /** `<values_path>/values-<environment>.yaml`. */
  environmentValues: string;
  /** `<values_path>/values.yaml`: every environment reads it. */
  baseValues: string;
  /** The app's own chart folder (chart source `app-repo`, not the repository root), or null. */
  chartFolder: string | null;
};

export function allowedPaths(app: App, env: Environment): AllowedPaths {
  const folder = repoFolder(app.valuesPath);
  const join = (file: string) => (folder === '' ? file : `${folder}/${file}`);
  const chart = app.chart.source === 'app-repo' ? repoFolder(app.chart.path) : '';
  return {
    environmentValues: join(`values-${env.name}.yaml`),
    baseValues: join('values.yaml'),
    chartFolder: chart === '' ? null : chart,
  };
}

/** What a safe path is to the target: one of its values files, a chart file, or outside. */
export type PathRole = 'environment-values' | 'base-values' | 'chart' | 'outside';

export function pathRole(path: string, allowed: AllowedPaths): PathRole {
  if (path === allowed.environmentValues) return 'environment-values';
  if (path === allowed.baseValues) return 'base-values';
  if (allowed.chartFolder !== null && path.startsWith(`${allowed.chartFolder}/`)) return 'chart';
  return 'outside';
}

/** The message for a path outside what the target allows, naming what it does allow. */
export function outsideMessage(allowed: AllowedPaths): string {
  const chart =
    allowed.chartFolder === null
      ? ''
      : `, or a file under ${allowed.chartFolder}/ (the app's chart)`;
  return `is not a file DAG renders this environment from; allowed: ${allowed.environmentValues}, ${allowed.baseValues} (base)${chart}`;
}
