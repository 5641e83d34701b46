import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';

type ExampleGroup = { name: string; examples: Record<string, unknown>[] };
const require = createRequire(import.meta.url);
const groups = require('@octokit/webhooks-examples/api.github.com/index.json') as ExampleGroup[];

/** A real webhook payload from @octokit/webhooks-examples. */
export function githubExample(
  event: string,
  matches: (payload: Record<string, unknown>) => boolean = () => true,
): Record<string, unknown> {
  const example = groups.find((g) => g.name === event)?.examples.find(matches);
  if (!example) throw new Error(`no ${event} example in @octokit/webhooks-examples`);
  return structuredClone(example);
}

export const branchPush = (payload: Record<string, unknown>): boolean =>
  String(payload.ref).startsWith('refs/heads/') && payload.deleted === false;

export function githubSignature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
