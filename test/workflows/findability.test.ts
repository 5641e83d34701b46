// Everything findable (issue 11): with 2,000 changed objects over two environments, Secrets and
// one object whose diff alone is larger than a check run among them, every object is named in the
// pull request and its whole diff can be read, through the comments and the check runs they link.
import { Buffer } from 'node:buffer';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CHECK_RUN_TEXT_LIMIT, RETIRED_CHECK } from '../../src/diff/check-runs.ts';
import type { DiffCommentModel, ObjectDiff } from '../../src/diff/comment-model.ts';
import { sanitizeCode, trimTrailingNewlines } from '../../src/diff/markdown.ts';
import { maskDiffText } from '../../src/diff/mask-text.ts';
import type { ClusterClient } from '../../src/k8s/cluster-client.ts';
import { objectKey } from '../../src/k8s/normalize.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import type { CheckReport } from '../../src/platform/types.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import { parseValuesFile } from '../../src/render/yaml.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { runDiff, type DiffDeps } from '../../src/workflows/diff.ts';
import { generatePairs } from '../diff/generate-objects.ts';
import { expectBalanced } from '../diff/markdown-checks.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { quiet } from '../helpers/quiet-log.ts';
import { APP_REPO, FakeReviewPlatform } from './fakes.ts';

/** GitHub's limit for a comment body. */
const COMMENT_LIMIT = 65_536;
const SECRET_VALUE = 'hunter2-Zq8#vLr2-findable';

const templates = loadTemplates();
let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakeReviewPlatform;

type Pair = { live: KubeObject | undefined; desired: KubeObject };
/** Per environment (its Helm namespace), the objects `helm template` renders and the live ones. */
const cluster = new Map<string, Pair[]>();

function secret(index: number, environment: string): Pair {
  const metadata = { name: `db-credentials-${index}`, namespace: `team-${environment}` };
  const data = (v: string) => ({
    password: Buffer.from(`${SECRET_VALUE}-${v}`).toString('base64'),
  });
  return {
    live: { apiVersion: 'v1', kind: 'Secret', metadata, data: data('old') } as KubeObject,
    desired: { apiVersion: 'v1', kind: 'Secret', metadata, data: data('new') } as KubeObject,
  };
}

/** A values change of 3,000 keys: its diff alone is larger than a check run's page. */
function huge(): Pair {
  const metadata = { name: 'huge-values', namespace: 'team-prod' };
  const side = (v: number) =>
    Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`key-${i}`, `value-${i}-v${v}`]));
  return {
    live: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: side(0) } as KubeObject,
    desired: { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: side(1) } as KubeObject,
  };
}

function clusterClient(): ClusterClient {
  const live = new Map<string, KubeObject>();
  for (const pairs of cluster.values()) {
    for (const pair of pairs) if (pair.live) live.set(objectKey(pair.live), pair.live);
  }
  return {
    cluster: { id: 1, name: 'c1', apiUrl: 'https://k8s.example.com' },
    isNamespaced: async () => true,
    dryRunApply: async (o) => o,
    read: async (o) => live.get(objectKey(o)),
  };
}

function deps(): DiffDeps {
  const client = clusterClient();
  return {
    store,
    platform,
    iac: { read: async () => ({ branch: 'main', head: 'f'.repeat(40), files: {} }) },
    clusters: { get: async () => client },
    helmTemplate: async (_chart, release) => ({
      objects: (cluster.get(release.namespace) ?? []).map((pair) => pair.desired),
    }),
    tools: { render: (input) => renderBundle(input, templates), parseValues: parseValuesFile },
    log: quiet,
  };
}

const request = (environmentIds: number[]) => ({
  repo: APP_REPO,
  appId: 1,
  pr: {
    number: 7,
    headSha: platform.pr.headSha,
    headRef: 'feature',
    baseRef: 'main',
    fork: false,
    open: true,
  },
  environmentIds,
  origin: 'command' as const,
});

/** What a reader reaches from the pull request: its comments and the check runs they link. */
function reachable(): { comments: string[]; linked: CheckReport[]; pages: string[] } {
  const comments = platform.comments.get('diff') ?? [];
  const urls = new Set(
    comments.flatMap((body) =>
      [...body.matchAll(/\]\((https:\/\/github\.com\/org\/my-app\/runs\/[^)]+)\)/g)].map(
        (m) => m[1]!,
      ),
    ),
  );
  const byUrl = new Map(
    [...platform.checkRuns.values()].map((run) => [
      `https://github.com/org/my-app/runs/${encodeURIComponent(run.name)}`,
      run,
    ]),
  );
  // dag/diff itself is on the pull request's checks even when the comment does not link it.
  const linked = [platform.checkRuns.get('dag/diff')!];
  for (const url of urls) {
    const run = byUrl.get(url);
    if (run && run.name !== 'dag/diff') linked.push(run);
  }
  linked.sort((a, b) => partNumber(a.name) - partNumber(b.name));
  const pages = linked.flatMap((run) =>
    run.name === 'dag/diff' ? [run.text ?? ''] : [run.summary, run.text ?? ''],
  );
  return { comments, linked, pages };
}

function partNumber(name: string): number {
  return name === 'dag/diff' ? 1 : Number(/ part (\d+)$/.exec(name)?.[1]);
}

/**
 * The diff code of every `<details>` section of the pages, by environment and title (without
 * its counts and line range), the pieces of a split diff joined in order.
 */
function diffsIn(pages: string[]): Map<string, string[]> {
  const diffs = new Map<string, string[]>();
  let environment = '';
  let title: string | null = null;
  let fence: string | null = null;
  for (const page of pages) {
    for (const line of page.split('\n')) {
      if (fence !== null) {
        if (line === fence) fence = null;
        else if (title !== null) diffs.get(`${environment} ${title}`)!.push(line);
        continue;
      }
      const heading = /^### (\S+)(?: \(continued\))?$/.exec(line);
      if (heading) environment = heading[1]!;
      const summary =
        /^<details><summary>(.*?)(?: \(\+\d+ −\d+\))?(?: · lines \d+–\d+ of \d+)?<\/summary>$/.exec(
          line,
        );
      if (summary) {
        title = summary[1]!;
        const key = `${environment} ${title}`;
        if (!diffs.has(key)) diffs.set(key, []);
      }
      const open = /^(`{3,})diff$/.exec(line);
      if (open) fence = open[1]!;
      if (line === '</details>') title = null;
    }
  }
  return diffs;
}

function titleOf(object: ObjectDiff): string {
  const where = object.namespace === null ? object.name : `${object.namespace}/${object.name}`;
  return `<b>${object.change}</b> ${object.kind} <code>${where}</code>`;
}

beforeAll(() => {
  const generated = generatePairs(2_000) as unknown as { live: KubeObject; desired: KubeObject }[];
  cluster.set('prod', [...generated.slice(0, 1_000), huge(), secret(1, 'prod'), secret(2, 'prod')]);
  cluster.set('stage', [...generated.slice(1_000), secret(1, 'stage')]);
});

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace, name)
      VALUES (1, 'main', 1, 'clusters/production/my-app', 1, 'plain', 'prod', 'production'),
             (1, 'develop', 1, 'clusters/staging/my-app', 1, 'plain', 'stage', 'staging');
  `);
  await store.normalize();
  platform = new FakeReviewPlatform();
});
afterEach(() => lane.drop());

describe('a 2,000-object preview', () => {
  let model: DiffCommentModel;

  it('names every object and gives every diff whole, through the comments and the check runs they link', async () => {
    model = await runDiff(request([1, 2]), deps());
    const objects = model.environments.flatMap((environment) =>
      environment.objects.map((object) => ({ environment: environment.environment, object })),
    );
    expect(objects.filter(({ object }) => object.change === 'changed')).toHaveLength(2_004);

    const { comments, linked, pages } = reachable();
    // Every check run holding part of the preview is linked from the comment, in order.
    const parts = [...platform.checkRuns.keys()].filter((name) => name !== 'dag/diff');
    expect(parts.length).toBeGreaterThan(1);
    expect(linked.map((run) => run.name)).toEqual(['dag/diff', ...parts]);
    expect(model.checkRuns?.unshown).toBe(0);

    // Within GitHub's limits, and well-formed.
    for (const body of comments) {
      expect(body.length).toBeLessThanOrEqual(COMMENT_LIMIT);
      expectBalanced(body);
    }
    for (const run of platform.checkRuns.values()) {
      expect(Buffer.byteLength(run.summary)).toBeLessThanOrEqual(CHECK_RUN_TEXT_LIMIT);
      expect(Buffer.byteLength(run.text ?? '')).toBeLessThanOrEqual(CHECK_RUN_TEXT_LIMIT);
      expect(run.title.length).toBeLessThanOrEqual(200);
    }
    for (const page of pages) expectBalanced(page);

    // Every object is named, and its whole diff is there (pieces joined in order).
    const everything = [...comments, ...pages].join('\n');
    const named = new Set(everything.match(/<b>\w+<\/b> \w+ <code>[^<]*<\/code>/g));
    const diffs = diffsIn(pages);
    for (const { environment, object } of objects) {
      expect(named.has(titleOf(object)), object.key).toBe(true);
      const expected = trimTrailingNewlines(sanitizeCode(maskDiffText(object.diff ?? '')));
      const shown = diffs.get(`${environment} ${titleOf(object)}`)?.join('\n');
      expect(shown, `${environment} ${object.key}`).toBe(expected);
    }
    // The huge values change is split between check runs, saying where it goes on.
    const hugeDiff = diffs.get(
      'production <b>changed</b> ConfigMap <code>team-prod/huge-values</code>',
    );
    expect(hugeDiff?.length).toBeGreaterThan(6_000);
    expect(pages.join('\n')).toMatch(/_Continued in \*\*dag\/diff part \d+\*\*\._/);
    expect(pages.join('\n')).toMatch(/_Continued from \*\*dag\/diff part \d+\*\*\._/);
    // And no Secret value is anywhere.
    expect(everything).not.toContain(SECRET_VALUE);
    expect(everything).not.toContain(Buffer.from(`${SECRET_VALUE}-new`).toString('base64'));
  });

  it('updates the same check runs on a re-run, and says which parts hold nothing any more', async () => {
    await runDiff(request([2]), deps());
    const before = [...platform.checkRuns.keys()];
    expect(before.length).toBeGreaterThan(2);
    cluster.set('stage-small', cluster.get('stage')!.slice(0, 5));
    await lane.db.query(`UPDATE apps_environments SET helm_namespace = 'stage-small' WHERE id = 2`);
    await runDiff(request([2]), deps());
    expect([...platform.checkRuns.keys()]).toEqual(before);
    const retired = [...platform.checkRuns.values()].filter((run) => run.name !== 'dag/diff');
    for (const run of retired) {
      expect(run).toMatchObject({ status: 'completed', conclusion: 'neutral', ...RETIRED_CHECK });
      expect(run.text).toBeUndefined();
    }
    const comment = platform.comments.get('diff')!.join('\n');
    expect(comment).not.toContain('dag/diff part');
    expect(platform.checkRuns.get('dag/diff')?.text).toContain('svc-1000');
  });
});

/** GitLab's side of the platform: a commit status holds no text, a note up to 1,000,000. */
class NotesOnlyPlatform extends FakeReviewPlatform {
  readonly fullPreviewIn = 'comments' as const;
  readonly commentMaxChars = 990_000;
}

describe('a 2,000-object preview where check runs hold no pages (GitLab)', () => {
  it('puts every object and every diff in the notes, within the provider limit, and points to no check run', async () => {
    platform = new NotesOnlyPlatform();
    const model = await runDiff(request([1, 2]), deps());
    const objects = model.environments.flatMap((environment) =>
      environment.objects.map((object) => ({ environment: environment.environment, object })),
    );
    expect(objects.filter(({ object }) => object.change === 'changed')).toHaveLength(2_004);
    // Only dag/diff's status: no part is published where it would hold nothing.
    expect([...platform.checkRuns.keys()]).toEqual(['dag/diff']);
    const comments = platform.comments.get('diff') ?? [];
    expect(comments.length).toBeGreaterThan(0);
    expect(comments.some((body) => body.length > COMMENT_LIMIT)).toBe(true);
    for (const body of comments) {
      expect(body.length).toBeLessThanOrEqual(1_000_000);
      expectBalanced(body);
      expect(body).not.toMatch(/check run/);
    }
    const everything = comments.join('\n');
    const diffs = diffsIn(comments);
    for (const { environment, object } of objects) {
      const expected = trimTrailingNewlines(sanitizeCode(maskDiffText(object.diff ?? '')));
      const shown = diffs.get(`${environment} ${titleOf(object)}`)?.join('\n');
      expect(shown, `${environment} ${object.key}`).toBe(expected);
    }
    expect(everything).not.toContain(SECRET_VALUE);
  });
});
