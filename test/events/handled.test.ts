import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { GITHUB_EVENT_NAMES } from '../../src/events/handled.ts';

/**
 * app.yml asks GitHub for what DAG does, and no more: the events it subscribes to are the
 * ones DAG has a workflow for (src/events/handled.ts, held to src/workflows/dispatch.ts by the
 * compiler), and its permissions are the ones DAG's GitHub REST calls need, read from src/.
 */
const ROOT = join(import.meta.dirname, '../..');
const manifest = parse(readFileSync(join(ROOT, 'app.yml'), 'utf8')) as {
  default_events: string[];
  default_permissions: Record<string, string>;
};

type Level = 'read' | 'write';
type Need = { permission: string; level: Level } | 'app';

/**
 * What each GitHub REST call DAG makes needs, from GitHub's "Permissions required for GitHub
 * Apps". A call that is not here fails the test: add it, and to app.yml if it needs more.
 * Comments, reactions and labels on a pull request are allowed by `issues` or `pull_requests`;
 * DAG holds `issues: write`, which also covers them in issues (`/promote`).
 */
const NEEDS: [RegExp, Need][] = [
  [/^GET \/repos\/\{owner\}\/\{repo\}\/installation$/, 'app'],
  [
    /^GET \/repos\/\{owner\}\/\{repo\}\/(contents|git\/trees|git\/ref|git\/commits|compare)\//,
    rw('contents', 'read'),
  ],
  // A fix proposal's branch and commit in the application repository (src/fix/publish.ts).
  [
    /^(POST|PATCH) \/repos\/\{owner\}\/\{repo\}\/git\/(trees|commits|refs)\b/,
    rw('contents', 'write'),
  ],
  [/^GET \/repos\/\{owner\}\/\{repo\}\/pulls\b/, rw('pull_requests', 'read')],
  [
    /^GET \/repos\/\{owner\}\/\{repo\}\/commits\/\{commit_sha\}\/pulls$/,
    rw('pull_requests', 'read'),
  ],
  [/^(POST|PATCH) \/repos\/\{owner\}\/\{repo\}\/pulls\b/, rw('pull_requests', 'write')],
  [/^GET \/repos\/\{owner\}\/\{repo\}\/issues\//, rw('issues', 'read')],
  [/^(POST|PATCH|DELETE) \/repos\/\{owner\}\/\{repo\}\/issues\//, rw('issues', 'write')],
  [/^POST \/repos\/\{owner\}\/\{repo\}\/deployments\b/, rw('deployments', 'write')],
  [/^GET \/repos\/\{owner\}\/\{repo\}\/deployments$/, rw('deployments', 'read')],
  [
    /^GET \/repos\/\{owner\}\/\{repo\}\/deployments\/\{deployment_id\}\/statuses$/,
    rw('deployments', 'read'),
  ],
  [/^GET \/repos\/\{owner\}\/\{repo\}\/commits\/\{ref\}\/check-runs$/, rw('checks', 'read')],
  [/^(POST|PATCH) \/repos\/\{owner\}\/\{repo\}\/check-runs\b/, rw('checks', 'write')],
  [/^GET \/repos\/\{owner\}\/\{repo\}\/commits\/\{ref\}\/status$/, rw('statuses', 'read')],
  [
    /^GET \/repos\/\{owner\}\/\{repo\}\/collaborators\/\{username\}\/permission$/,
    rw('metadata', 'read'),
  ],
];

/** The permission GitHub requires before it delivers each event to an App. */
const EVENT_NEEDS: Record<string, { permission: string; level: Level }> = {
  push: rw('contents', 'read'),
  pull_request: rw('pull_requests', 'read'),
  issue_comment: rw('issues', 'read'),
};

function rw(permission: string, level: Level) {
  return { permission, level };
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every `request('METHOD /path', ...)` in src/, the one way DAG calls GitHub's REST API. */
function githubCalls(): string[] {
  const calls = new Set<string>();
  for (const file of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/\.request\(\s*'((?:GET|POST|PUT|PATCH|DELETE) \/[^']*)'/g)) {
      calls.add(match[1] ?? '');
    }
  }
  return [...calls].sort();
}

const enough = (granted: string | undefined, level: Level) =>
  granted === 'write' || (granted === 'read' && level === 'read');

describe('app.yml', () => {
  it('subscribes to exactly the GitHub events DAG handles', () => {
    expect([...manifest.default_events].sort()).toEqual([...GITHUB_EVENT_NAMES].sort());
  });

  it('grants the permission each subscribed event needs', () => {
    for (const event of manifest.default_events) {
      const need = EVENT_NEEDS[event];
      expect(need, `what ${event} needs is not in EVENT_NEEDS`).toBeDefined();
      if (!need) continue;
      expect(enough(manifest.default_permissions[need.permission], need.level), event).toBe(true);
    }
  });

  it('calls GitHub only through request(route) strings this test can read', () => {
    for (const file of sourceFiles(join(ROOT, 'src'))) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/\.(?:rest\.[a-z]+\.|graphql\(|paginate\()/);
    }
    expect(githubCalls().length).toBeGreaterThan(10);
  });

  it('grants what every GitHub call of DAG needs, and nothing no call or event needs', () => {
    const used = new Map<string, Level>();
    const use = (need: { permission: string; level: Level }) => {
      if (used.get(need.permission) !== 'write') used.set(need.permission, need.level);
    };
    for (const call of githubCalls()) {
      const need = NEEDS.find(([route]) => route.test(call))?.[1];
      expect(need, `${call}: add what it needs to NEEDS (and to app.yml)`).toBeDefined();
      if (!need || need === 'app') continue;
      expect(enough(manifest.default_permissions[need.permission], need.level), call).toBe(true);
      use(need);
    }
    for (const event of manifest.default_events) {
      const need = EVENT_NEEDS[event];
      if (need) use(need);
    }
    expect(manifest.default_permissions).toEqual(Object.fromEntries(used));
  });
});
