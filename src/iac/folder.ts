import { lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.ts';

/**
 * Refuses a folder path whose existing parents in the work tree are not plain directories.
 * A symbolic link committed to the IAC repository (`apps -> /etc`) must never let DAG delete
 * or write outside the clone. The folder itself may be anything: it is replaced.
 */
export async function checkParents(root: string, folder: string): Promise<void> {
  const segments = folder.split('/');
  for (let i = 1; i < segments.length; i++) {
    const parent = segments.slice(0, i).join('/');
    const stat = await lstat(join(root, parent)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    });
    if (!stat) return;
    if (stat.isSymbolicLink()) {
      throw new UserError(
        `the IAC path ${JSON.stringify(folder)} goes through a symbolic link (${JSON.stringify(parent)}) in the IAC repository; DAG does not write through links`,
      );
    }
    if (!stat.isDirectory()) {
      throw new UserError(
        `the IAC path ${JSON.stringify(folder)} goes through ${JSON.stringify(parent)}, which is a file in the IAC repository`,
      );
    }
  }
}

/** Makes `folder` (under root) contain exactly `files`: everything else in it is deleted. */
export async function replaceFolder(
  root: string,
  folder: string,
  files: Record<string, string>,
): Promise<void> {
  await checkParents(root, folder);
  const base = join(root, folder);
  await rm(base, { recursive: true, force: true });
  for (const [name, content] of Object.entries(files)) {
    const file = join(base, name);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** The files under `folder` (relative names, `/`-separated, sorted); symbolic links skipped. */
export async function readFolder(root: string, folder: string): Promise<Record<string, string>> {
  await checkParents(root, folder);
  const files: Record<string, string> = {};
  const base = join(root, folder);
  const stat = await lstat(base).catch(() => null);
  if (!stat?.isDirectory()) return files;
  const walk = async (dir: string, prefix: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const name = prefix ? `${prefix}/${entry.name}` : entry.name;
      if (entry.isDirectory() && entry.name !== '.git') await walk(join(dir, entry.name), name);
      else if (entry.isFile()) files[name] = await readFile(join(dir, entry.name), 'utf8');
    }
  };
  await walk(base, '');
  return files;
}
