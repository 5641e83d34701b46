import { UserError } from '../errors.ts';
import { FOLDER_LIMITS } from './types.ts';

/**
 * Reads the files of a folder listed by a provider's tree API, within FOLDER_LIMITS: too many
 * files, or sizes the listing already shows to be too large, are refused before any read;
 * otherwise the bytes actually read are counted. Paths come back relative to the folder.
 */
export async function readListedFolder(
  folder: string,
  blobs: { path: string; size?: number | undefined }[],
  read: (path: string) => Promise<string | undefined>,
): Promise<Record<string, string> | undefined> {
  if (blobs.length === 0) return undefined;
  if (blobs.length > FOLDER_LIMITS.files) {
    throw new UserError(`${folder} has more than ${FOLDER_LIMITS.files} files`);
  }
  const tooLarge = () => new UserError(`${folder} is larger than 2 MiB`);
  if (blobs.reduce((n, b) => n + (b.size ?? 0), 0) > FOLDER_LIMITS.bytes) throw tooLarge();
  const prefix = `${folder.replace(/\/+$/, '')}/`;
  const files: Record<string, string> = {};
  let bytes = 0;
  for (const blob of blobs) {
    const text = (await read(blob.path)) ?? '';
    bytes += Buffer.byteLength(text);
    if (bytes > FOLDER_LIMITS.bytes) throw tooLarge();
    files[blob.path.slice(prefix.length)] = text;
  }
  return files;
}
