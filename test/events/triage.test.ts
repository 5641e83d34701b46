import { describe, expect, it } from 'vitest';
import { MAX_GITHUB_COMMENT_CHARS } from '../../src/events/fields.ts';
import { InvalidPayload } from '../../src/events/invalid.ts';
import { triage, type Provider } from '../../src/events/triage.ts';
import { branchPush, githubExample } from '../helpers/github-examples.ts';
import { gitlabExample } from '../helpers/gitlab-examples.ts';

type Payload = Record<string, unknown>;
const installed = (action?: string) => (p: Payload) =>
  p.installation !== undefined && (action === undefined || p.action === action);
const push = () => githubExample('push', branchPush);
const comment = () => githubExample('issue_comment', installed('created'));
const pull = (action = 'opened') => githubExample('pull_request', installed(action));
const merged = () => {
  const p = pull('closed') as Payload & { pull_request: Payload };
  return { ...p, pull_request: { ...p.pull_request, merged: true } };
};
const gitlabNote = () => gitlabExample('note-hook-merge-request');
const gitlabUpdate = (fields: Payload) => {
  const p = gitlabExample('merge-request-hook') as Payload & { object_attributes: Payload };
  return { ...p, object_attributes: { ...p.object_attributes, ...fields } };
};
const gitlabMerge = () => {
  const p = gitlabExample('merge-request-hook') as Payload & { object_attributes: Payload };
  return { ...p, object_attributes: { ...p.object_attributes, action: 'merge', state: 'merged' } };
};

/** DAG's fix marker, as a fix pull request's description starts (what it says: the job's). */
const FIX_BODY = `<!-- dag:fix {"v":1} -->\n## Raise the memory limit`;
const fixPull = (action: string, merged = false) => {
  const p = pull(action) as Payload & { pull_request: Payload };
  return { ...p, pull_request: { ...p.pull_request, merged, body: FIX_BODY } };
};
const gitlabFix = (action: string) => {
  const p = gitlabExample('merge-request-hook') as Payload & { object_attributes: Payload };
  return { ...p, object_attributes: { ...p.object_attributes, action, description: FIX_BODY } };
};

/** The payload with `path` set to `value` (undefined removes it). */
function change(payload: Payload, path: string, value: unknown): Payload {
  const copy = structuredClone(payload);
  const keys = path.split('.');
  const last = keys.pop() as string;
  let at = copy;
  for (const key of keys) at = at[key] as Payload;
  if (value === undefined) delete at[last];
  else at[last] = value;
  return copy;
}

function refusal(provider: Provider, event: string, payload: unknown): InvalidPayload {
  try {
    triage(provider, event, payload);
  } catch (error) {
    if (error instanceof InvalidPayload) return error;
    throw error;
  }
  throw new Error('accepted');
}

describe('triage of verified deliveries', () => {
  it.each<[string, Provider, string, () => unknown]>([
    ['a branch push', 'github', 'push', push],
    ['a new comment', 'github', 'issue_comment', comment],
    ['a pull request opened', 'github', 'pull_request', () => pull('opened')],
    ['a pull request pushed to', 'github', 'pull_request', () => pull('synchronize')],
    ['a pull request merged', 'github', 'pull_request', merged],
    ["GitLab's push", 'gitlab', 'Push Hook', () => gitlabExample('push-hook')],
    ["GitLab's merge", 'gitlab', 'Merge Request Hook', gitlabMerge],
    ['a fix pull request closed unmerged', 'github', 'pull_request', () => fixPull('closed')],
    ['a fix pull request reopened', 'github', 'pull_request', () => fixPull('reopened')],
    ['a fix merge request closed', 'gitlab', 'Merge Request Hook', () => gitlabFix('close')],
    ['a fix merge request reopened', 'gitlab', 'Merge Request Hook', () => gitlabFix('reopen')],
    [
      'a merge request opened',
      'gitlab',
      'Merge Request Hook',
      () => gitlabExample('merge-request-hook'),
    ],
    [
      'a merge request pushed to',
      'gitlab',
      'Merge Request Hook',
      () => gitlabUpdate({ action: 'update', oldrev: 'a'.repeat(40) }),
    ],
    ['a merge request note', 'gitlab', 'Note Hook', gitlabNote],
    ['an issue note', 'gitlab', 'Note Hook', () => gitlabExample('note-hook-issue')],
  ])('enqueues %s', (_what, provider, event, payload) => {
    expect(triage(provider, event, payload())).toEqual({ status: 'enqueue' });
  });

  it.each<[string, Provider, string, () => unknown]>([
    ['an event DAG does not handle', 'github', 'star', () => githubExample('star')],
    ['a tag push', 'github', 'push', () => ({ ...push(), ref: 'refs/tags/v1' })],
    ['an edited comment', 'github', 'issue_comment', () => ({ ...comment(), action: 'edited' })],
    ['a pull request labeled', 'github', 'pull_request', () => pull('labeled')],
    ['a pull request closed unmerged', 'github', 'pull_request', () => pull('closed')],
    [
      'a merge request retitled',
      'gitlab',
      'Merge Request Hook',
      () => gitlabUpdate({ action: 'update' }),
    ],
    [
      'a merge request closed',
      'gitlab',
      'Merge Request Hook',
      () => gitlabUpdate({ action: 'close' }),
    ],
    [
      'a system note',
      'gitlab',
      'Note Hook',
      () => change(gitlabNote(), 'object_attributes.system', true),
    ],
    [
      'a commit note',
      'gitlab',
      'Note Hook',
      () => change(gitlabNote(), 'object_attributes.noteable_type', 'Commit'),
    ],
    ['an issue hook', 'gitlab', 'Issue Hook', () => ({ object_kind: 'issue' })],
    [
      'a merge request closed (not a fix)',
      'gitlab',
      'Merge Request Hook',
      () => change(gitlabMerge(), 'object_attributes.action', 'close'),
    ],
    ['a fix merge request edited', 'gitlab', 'Merge Request Hook', () => gitlabFix('update')],
    [
      'an action named like a property',
      'gitlab',
      'Merge Request Hook',
      () => gitlabFix('constructor'),
    ],
  ])('acknowledges %s without a job', (_what, provider, event, payload) => {
    expect(triage(provider, event, payload())).toEqual({
      status: 'ignore',
      reason: expect.any(String),
    });
  });

  it.each<[string, Provider, string, () => Payload, string]>([
    ['push', 'github', 'push', () => change(push(), 'repository', undefined), 'repository'],
    ['push', 'github', 'push', () => change(push(), 'ref', 7), 'ref'],
    [
      'push',
      'github',
      'push',
      () => change(push(), 'ref', `refs/heads/${'a'.repeat(1100)}`),
      'ref',
    ],
    ['push', 'github', 'push', () => change(push(), 'after', 'A'.repeat(40)), 'after'],
    ['push', 'github', 'push', () => change(push(), 'installation', undefined), 'installation'],
    ['push', 'github', 'push', () => change(push(), 'installation.id', '1'), 'installation.id'],
    [
      'issue_comment',
      'github',
      'issue_comment',
      () => change(comment(), 'comment.body', 'x'.repeat(MAX_GITHUB_COMMENT_CHARS + 1)),
      'comment.body',
    ],
    [
      'issue_comment',
      'github',
      'issue_comment',
      () => change(comment(), 'installation', undefined),
      'installation',
    ],
    [
      'pull_request',
      'github',
      'pull_request',
      () => change(pull(), 'pull_request.head.sha', 'f00'),
      'pull_request.head.sha',
    ],
    [
      'pull_request',
      'github',
      'pull_request',
      () => change(merged(), 'installation', undefined),
      'installation',
    ],
    [
      'Push Hook',
      'gitlab',
      'Push Hook',
      () => change(gitlabExample('push-hook'), 'before', 'x'),
      'before',
    ],
    [
      'Merge Request Hook',
      'gitlab',
      'Merge Request Hook',
      () => change(gitlabMerge(), 'project', undefined),
      'project',
    ],
    [
      'Merge Request Hook',
      'gitlab',
      'Merge Request Hook',
      () => change(gitlabExample('merge-request-hook'), 'object_attributes.last_commit.id', 'x'),
      'object_attributes.last_commit.id',
    ],
    [
      'Note Hook',
      'gitlab',
      'Note Hook',
      () => change(gitlabNote(), 'object_attributes.note', 'x'.repeat(1_000_001)),
      'object_attributes.note',
    ],
    [
      'Note Hook',
      'gitlab',
      'Note Hook',
      () => change(gitlabNote(), 'merge_request', undefined),
      'merge_request',
    ],
  ])('refuses a malformed %s, naming the field', (_what, provider, event, payload, field) => {
    const error = refusal(provider, event, payload());
    expect(error.field).toBe(field);
    expect(error.kind).toBe('user');
    expect(error.message).toMatch(
      new RegExp(` payload is invalid at ${field.replace('.', '\\.')}: `),
    );
  });

  it('names the field and the expectation, never the value it found', () => {
    const secretish = 'ghp_thisIsNotAShaButAValue0123456789abcd';
    const error = refusal('github', 'push', change(push(), 'after', secretish));
    expect(error.message).not.toContain(secretish);
  });
});
