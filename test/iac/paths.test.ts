import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import { backoffDelay } from '../../src/iac/backoff.ts';
import { checkFilePaths, checkFolderPath } from '../../src/iac/change-paths.ts';
import { readFolder, replaceFolder } from '../../src/iac/folder.ts';
import { withKeyedLock } from '../../src/iac/keyed-lock.ts';
import { removeTempDirs, tempDir } from './support.ts';

afterAll(removeTempDirs);

describe('checkFolderPath', () => {
  it.each([
    ['apps/web', 'apps/web'],
    ['apps/web/', 'apps/web'],
    ['./apps/web', 'apps/web'],
    ['clusters/prod/apps', 'clusters/prod/apps'],
  ])('accepts %j as %j', (input, normalized) => {
    expect(checkFolderPath(input)).toBe(normalized);
  });

  it.each([
    '',
    '/',
    '.',
    './',
    '/apps',
    '..',
    '../x',
    'a/../b',
    'a//b',
    'a/./b',
    '.git',
    'a/.Git/b',
    'a\\b',
    'a\nb',
  ])('refuses %j', (path) => {
    expect(() => checkFolderPath(path)).toThrow(UserError);
  });
});

describe('checkFilePaths', () => {
  it('accepts nested relative files', () => {
    expect(() => checkFilePaths('apps/a', { 'a.yaml': '', 'b/c/d.yaml': '' })).not.toThrow();
  });
  it.each([
    [{ '/etc/passwd': '' }],
    [{ '../x': '' }],
    [{ 'dir/': '' }],
    [{ '': '' }],
    [{ '.git/config': '' }],
    [{ x: '', 'x/y': '' }],
  ])('refuses %j', (files) => {
    expect(() => checkFilePaths('apps/a', files)).toThrow(UserError);
  });
});

describe('replaceFolder', () => {
  it('never writes or deletes through a symbolic link in the repository', async () => {
    const root = await tempDir('dag-folder-');
    const outside = await tempDir('dag-outside-');
    await writeFile(join(outside, 'precious.txt'), 'keep me');
    await mkdir(join(root, 'clusters'));
    await symlink(outside, join(root, 'clusters', 'prod'));

    await expect(
      replaceFolder(root, 'clusters/prod/precious.txt', { 'x.yaml': 'x' }),
    ).rejects.toBeInstanceOf(UserError);
    await expect(readFolder(root, 'clusters/prod/x')).rejects.toBeInstanceOf(UserError);
    expect(await readFile(join(outside, 'precious.txt'), 'utf8')).toBe('keep me');

    // The link itself is inside the repository: replacing it replaces the link, not its target.
    await replaceFolder(root, 'clusters/prod', { 'x.yaml': 'x' });
    expect(await readFile(join(outside, 'precious.txt'), 'utf8')).toBe('keep me');
    expect(await readFolder(root, 'clusters/prod')).toEqual({ 'x.yaml': 'x' });
  });

  it('refuses a path that goes through a file', async () => {
    const root = await tempDir('dag-folder-');
    await writeFile(join(root, 'apps'), 'a file');
    await expect(replaceFolder(root, 'apps/a', {})).rejects.toBeInstanceOf(UserError);
  });
});

describe('backoffDelay', () => {
  it('grows exponentially, is capped, and jitters within [d/2, d]', () => {
    expect(backoffDelay(1, 100, () => 0)).toBe(50);
    expect(backoffDelay(1, 100, () => 1)).toBe(100);
    expect(backoffDelay(3, 100, () => 1)).toBe(400);
    expect(backoffDelay(20, 100, () => 1)).toBe(3200);
  });
});

describe('withKeyedLock', () => {
  it('runs calls with one key one at a time, in order, and other keys freely', async () => {
    const events: string[] = [];
    const task = (key: string, name: string, ms: number) =>
      withKeyedLock(key, async () => {
        events.push(`start ${name}`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        events.push(`end ${name}`);
        if (name === 'a2') throw new Error('a2 fails');
        return name;
      });
    const results = await Promise.allSettled([
      task('a', 'a1', 30),
      task('a', 'a2', 10),
      task('b', 'b1', 5),
      task('a', 'a3', 1),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    const a = events.filter((e) => e.endsWith('a1') || e.endsWith('a2') || e.endsWith('a3'));
    expect(a).toEqual(['start a1', 'end a1', 'start a2', 'end a2', 'start a3', 'end a3']);
    expect(events.indexOf('end b1')).toBeLessThan(events.indexOf('end a1'));
  });
});
