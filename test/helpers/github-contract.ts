// Request bodies of the GitHub REST routes DAG writes application repositories with, as
// docs.github.com documents them: required fields, allowed values, and no field GitHub does not
// know (it would be ignored, so DAG sending one is a bug). `documented` turns a schema into a
// nock body matcher that records what GitHub would not accept; tests assert none was recorded.

import { z } from 'zod';

const SHA = z.string().regex(/^[0-9a-f]{40}$/, 'is not a commit SHA');
const PERSON = z.strictObject({ name: z.string(), email: z.string(), date: z.string().optional() });

export const GITHUB_BODIES = {
  /** rest/git/trees#create-a-tree: an entry has either `sha` (null deletes) or `content`. */
  createTree: z.strictObject({
    base_tree: z.string().optional(),
    tree: z
      .array(
        z
          .strictObject({
            path: z.string().min(1),
            mode: z.enum(['100644', '100755', '040000', '160000', '120000']),
            type: z.enum(['blob', 'tree', 'commit']),
            sha: SHA.nullable().optional(),
            content: z.string().optional(),
          })
          .refine(
            (e) => (e.sha === undefined) !== (e.content === undefined),
            'either sha or content',
          ),
      )
      .min(1),
  }),
  /** rest/git/commits#create-a-commit */
  createCommit: z.strictObject({
    message: z.string().min(1),
    tree: SHA,
    parents: z.array(SHA).optional(),
    author: PERSON.optional(),
    committer: PERSON.optional(),
    signature: z.string().optional(),
  }),
  /** rest/git/refs#create-a-reference: `ref` starts with `refs` and has at least two slashes. */
  createRef: z.strictObject({ ref: z.string().regex(/^refs\/[^/]+\/.+/), sha: SHA }),
  /** rest/git/refs#update-a-reference */
  updateRef: z.strictObject({ sha: SHA, force: z.boolean().optional() }),
  /** rest/pulls/pulls#create-a-pull-request */
  createPull: z.strictObject({
    title: z.string().min(1).optional(),
    head: z.string().min(1),
    head_repo: z.string().optional(),
    base: z.string().min(1),
    body: z.string().max(65_536).optional(),
    maintainer_can_modify: z.boolean().optional(),
    draft: z.boolean().optional(),
    issue: z.number().int().optional(),
  }),
  /** rest/pulls/pulls#update-a-pull-request */
  updatePull: z.strictObject({
    title: z.string().optional(),
    body: z.string().max(65_536).optional(),
    state: z.enum(['open', 'closed']).optional(),
    base: z.string().optional(),
    maintainer_can_modify: z.boolean().optional(),
  }),
  /** rest/issues/labels#add-labels-to-an-issue */
  addLabels: z.strictObject({ labels: z.array(z.string().min(1)).min(1) }),
  /** rest/issues/comments#create-an-issue-comment */
  createComment: z.strictObject({ body: z.string().min(1).max(65_536) }),
} as const;

/** What mocks accepted that GitHub's documentation does not allow; tests expect it empty. */
export const githubViolations: string[] = [];

/** A nock body matcher: records a body GitHub would not accept, then matches `want`. */
export function documented<T>(schema: z.ZodType<T>, want: (body: T) => boolean = () => true) {
  return (body: unknown): boolean => {
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      githubViolations.push(
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      );
      return false;
    }
    return want(parsed.data);
  };
}
