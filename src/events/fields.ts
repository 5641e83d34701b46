import { z } from 'zod';

/** A commit id: 40 hex digits, or 64 in a SHA-256 repository. */
export const sha = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/);

/**
 * A git ref (`refs/heads/main`). Real refs are far shorter (each of their path components is a
 * file name, 255 bytes at most); a longer one is not a ref a provider sends.
 */
export const gitRef = z.string().min(1).max(1024);

/** An event's `action` or `object_kind`: a short word. */
export const word = z.string().max(100);

/**
 * The App installation that sent a GitHub delivery. GitHub App deliveries always carry it, and
 * DAG acts on the repository through it: a delivery without one is malformed.
 */
export const githubInstallation = z.looseObject({ id: z.number().int().positive() });

/** GitHub's limit for an issue or pull request comment body, in characters. */
export const MAX_GITHUB_COMMENT_CHARS = 65_536;
