import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from '../errors.ts';
import type { SourceReader } from '../workflows/deploy.ts';

/** Reads an app repository from a local checkout, for `dag render` (no provider API). */
export function localSource(root: string): SourceReader {
  const inside = (relative: string) => {
    const full = path.resolve(root, relative);
    if (full !== root && !full.startsWith(`${root}${path.sep}`)) {
      throw new UserError(`${relative} is outside ${root}`);
    }
    return full;
  };
  return {
    async readFile(relative) {
      try {
        return await readFile(inside(relative), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async readFolder(relative) {
      const base = inside(relative);
      const isDir = await stat(base).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!isDir) return undefined;
      const files: Record<string, string> = {};
      const walk = async (dir: string) => {
        for (const entry of await readdir(dir, { withFileTypes: true })) {
          const full = path.join(dir, entry.name);
          if (entry.isDirectory()) await walk(full);
          else if (entry.isFile())
            files[path.relative(base, full).split(path.sep).join('/')] = await readFile(
              full,
              'utf8',
            );
        }
      };
      await walk(base);
      return files;
    },
  };
}
