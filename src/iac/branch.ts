// DAG's own branches in an IAC repository (e.g. the head branch of a promotion pull request),
// worked on from the cached clone of their base branch. They are read with ls-remote and
// rewritten or deleted only with a lease on the commit DAG last pushed, never with a plain
// force: a commit a person pushed to such a branch is never overwritten.

import { UserError } from '../errors.ts';
import type { IacClone } from './clone.ts';
import { GitFailure, gitFailureOf } from './git-errors.ts';

export type ChangedFile = { path: string; change: 'added' | 'modified' | 'deleted' };

/** Checks a commit id DAG recorded for a branch (a full SHA-1 or SHA-256 id, or null). */
export function checkCommitId(sha: string | null): string | null {
  if (sha !== null && !/^([0-9a-f]{40}|[0-9a-f]{64})$/.test(sha)) {
    throw new UserError(`the expected IAC branch head ${JSON.stringify(sha)} is not a commit id`);
  }
  return sha;
}

/** The commit `branch` points at in the remote repository, or null when it does not exist. */
export async function remoteBranchHead(clone: IacClone, branch: string): Promise<string | null> {
  const ref = `refs/heads/${branch}`;
  // ls-remote matches patterns against the tail of ref names: keep the exact name only.
  const out = await clone.git(['ls-remote', '--', 'origin', ref]);
  for (const line of out.stdout.split('\n')) {
    const [sha, name] = line.split('\t');
    if (name === ref && sha) return sha;
  }
  return null;
}

/**
 * Fetches `branch` into FETCH_HEAD only (no ref is left behind in the clone): its commit, or
 * null when the branch no longer exists.
 */
export async function fetchBranch(clone: IacClone, branch: string): Promise<string | null> {
  try {
    await clone.git(['fetch', '--no-tags', 'origin', `refs/heads/${branch}`]);
  } catch (error) {
    if (gitFailureOf(error) === GitFailure.branchNotFound) return null;
    throw error;
  }
  return (await clone.git(['rev-parse', '--verify', 'FETCH_HEAD^{commit}'])).stdout.trim();
}

/** True when `commit` is one commit on top of `base` with exactly the tree of `like`. */
export async function isRebuildOf(
  clone: IacClone,
  commit: string,
  base: string,
  like: string,
): Promise<boolean> {
  const out = await clone.git(['rev-parse', `${commit}^{tree}`, `${like}^{tree}`, `${commit}^@`]);
  const [tree, likeTree, ...parents] = out.stdout.trim().split('\n');
  return tree === likeTree && parents.length === 1 && parents[0] === base;
}

/**
 * Points the remote `branch` at `source` (a commit; '' deletes the branch), but only while it
 * still is at `expected` (null: only while it does not exist). False when git rejected that
 * lease: the branch moved since DAG looked.
 */
export async function pushWithLease(
  clone: IacClone,
  branch: string,
  source: string,
  expected: string | null,
): Promise<boolean> {
  const ref = `refs/heads/${branch}`;
  try {
    await clone.git([
      'push',
      '--porcelain',
      `--force-with-lease=${ref}:${expected ?? ''}`,
      'origin',
      `${source}:${ref}`,
    ]);
    return true;
  } catch (error) {
    // For a leased push, a rejection because the ref moved means the lease did not hold.
    if (gitFailureOf(error) === GitFailure.remoteMoved) return false;
    throw error;
  }
}

/** The files that differ between two commits, sorted by path. */
export async function changedFiles(
  clone: IacClone,
  from: string,
  to: string,
): Promise<ChangedFile[]> {
  const out = await clone.git(['diff-tree', '-r', '--name-status', '--no-renames', '-z', from, to]);
  const fields = out.stdout.split('\0');
  const files: ChangedFile[] = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const status = fields[i];
    const path = fields[i + 1] ?? '';
    const change = status === 'A' ? 'added' : status === 'D' ? 'deleted' : 'modified';
    files.push({ path, change });
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
