import { UserError } from '../errors.ts';

/**
 * Checks a folder path inside the IAC repository and returns it normalized (no leading `./`,
 * no trailing `/`). Refused: empty or root, absolute, `..`, `.` or empty segments, `.git`
 * segments (in any case), backslashes and control characters.
 */
export function checkFolderPath(path: string): string {
  const trimmed = path.replace(/^(\.\/)+/, '').replace(/\/$/, '');
  if (trimmed === '' || trimmed === '.' || path.startsWith('/')) {
    throw new UserError(
      `the IAC path ${JSON.stringify(path)} must be a folder inside the repository, not its root or an absolute path`,
    );
  }
  checkSegments(trimmed, `the IAC path ${JSON.stringify(path)}`);
  return trimmed;
}

/** Checks the relative file paths of a change and that no file is also used as a folder. */
export function checkFilePaths(folder: string, files: Record<string, string>): void {
  const names = Object.keys(files);
  for (const name of names) {
    const what = `the file ${JSON.stringify(name)} of IAC path ${JSON.stringify(folder)}`;
    if (name === '' || name.startsWith('/') || name.endsWith('/')) {
      throw new UserError(`${what} must be a relative file path`);
    }
    checkSegments(name, what);
    if (typeof files[name] !== 'string') throw new UserError(`${what} has no text content`);
  }
  const set = new Set(names);
  for (const name of names) {
    const segments = name.split('/');
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join('/');
      if (set.has(parent)) {
        throw new UserError(
          `the IAC path ${JSON.stringify(folder)} cannot hold both a file ${JSON.stringify(parent)} and a file inside it (${JSON.stringify(name)})`,
        );
      }
    }
  }
}

function checkSegments(path: string, what: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\\\x00-\x1f\x7f]/.test(path)) {
    throw new UserError(`${what} contains a backslash or a control character`);
  }
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new UserError(`${what} must not contain empty, "." or ".." segments`);
    }
    if (segment.toLowerCase() === '.git') {
      throw new UserError(`${what} must not contain a ".git" segment`);
    }
  }
}
