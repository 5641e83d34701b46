// The secret catalogue: each placement of test/fixtures/secrets/placements.ts plants its own
// values, old on the live side and in the IAC folder, new in the bundle, and goes through the
// paths people see: the diff comment (whole and split), the dag/diff check run, a promotion PR's
// description, what DAG sends GitHub, and DAG's log lines at trace. No planted value, nor a
// piece of one, may reach any of them.

import { Writable } from 'node:stream';
import nock from 'nock';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiffCommentModel, EnvironmentDiff } from '../../src/diff/comment-model.ts';
import { MASKED } from '../../src/diff/masking.ts';
import { checkRunSet, checkRunTitle, mainSummary } from '../../src/diff/check-runs.ts';
import { renderDiffComments } from '../../src/diff/split.ts';
import type { ClusterClient } from '../../src/k8s/cluster-client.ts';
import { ClusterError } from '../../src/k8s/cluster-error.ts';
import { isKubeObject, type KubeObject } from '../../src/k8s/object.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { GitHubPlatform } from '../../src/platform/github/github-platform.ts';
import type { CheckReport } from '../../src/platform/types.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import { dumpYamlDocuments, parseValuesFile, parseYamlDocuments } from '../../src/render/yaml.ts';
import { createProbot } from '../../src/server/github.ts';
import type { ConfigStore } from '../../src/store/types.ts';
import { previewEnvironment, runDiff } from '../../src/workflows/diff.ts';
import { renderPromotionBody } from '../../src/workflows/promotion-body.ts';
import { b64, PLACEMENTS, type Placement } from '../fixtures/secrets/placements.ts';
import { testPrivateKey } from '../helpers/service.ts';
import { APP_REPO, FakeReviewPlatform } from '../workflows/fakes.ts';
import type { App, Environment, Iac } from '../../src/model.ts';

/** A piece of a planted value this long in any output counts as a leak. */
const PIECE = 12;

/** The forms a planted value can leak in: as it is, base64, JSON-escaped, as the file holds it. */
function forms(placement: Placement, value: string): string[] {
  return [
    value,
    b64(value),
    JSON.stringify(value).slice(1, -1),
    ...(placement.encode ? [placement.encode(value)] : []),
  ];
}

/** Every planted value (or a PIECE-long part of one) found in the outputs. */
function leaks(outputs: readonly string[], placements: readonly Placement[], step = 1): string[] {
  const text = outputs.join('\n\u0000\n');
  const found = new Set<string>();
  for (const placement of placements) {
    for (const value of [placement.old, placement.secret]) {
      for (const form of forms(placement, value)) {
        if (form.length <= PIECE) {
          if (text.includes(form)) found.add(`${placement.name}: ${form}`);
          continue;
        }
        for (let i = 0; i + PIECE <= form.length; i += step) {
          const piece = form.slice(i, i + PIECE);
          if (text.includes(piece)) {
            found.add(`${placement.name}: ${piece}`);
            break;
          }
        }
      }
    }
  }
  return [...found];
}

/** The planted value as the file holds it (Secret `data` holds base64). */
const planted = (placement: Placement, value: string) =>
  placement.encode ? placement.encode(value) : value;

const app: App = {
  id: 1,
  gitProvider: 'github',
  repoUrl: 'https://github.com/org/my-app',
  name: 'web',
  chart: {
    source: 'app-repo',
    path: 'chart',
    repoUrl: null,
    name: null,
    version: null,
    secretRef: null,
  },
  imageRepository: null,
  imageTagFormat: '{{sha}}',
  valuesPath: 'deploy',
  autoDiff: true,
  createdAt: new Date(0),
};

const environment: Environment = {
  id: 1,
  appId: 1,
  name: 'production',
  branch: 'main',
  iacId: 1,
  iacPath: 'clusters/production/web',
  clusterId: 1,
  helmType: 'flux',
  helmNamespace: 'apps',
  helmName: null,
  iacBranch: null,
  reconciledBranch: null,
  rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
  createdAt: new Date(0),
};

const kindName = (o: { kind?: unknown; metadata?: { name?: unknown } }) =>
  `${String(o.kind)}/${String(o.metadata?.name)}`;

/** A cluster holding `live` objects; a dry-run answers the object as sent. */
function clusterWith(live: readonly unknown[]): ClusterClient {
  const byName = new Map<string, KubeObject>();
  for (const object of live) if (isKubeObject(object)) byName.set(kindName(object), object);
  return {
    cluster: { id: 1, name: 'c1', apiUrl: 'https://k8s.example.com' },
    isNamespaced: async () => true,
    dryRunApply: async (object) => structuredClone(object),
    read: async (object) => structuredClone(byName.get(kindName(object))),
  };
}

const helmRelease = (values: unknown) => ({
  apiVersion: 'helm.toolkit.fluxcd.io/v2',
  kind: 'HelmRelease',
  metadata: { name: 'web', namespace: 'apps' },
  spec: { interval: '5m', values },
});

/** A placement's files with `value` planted: values files also as a HelmRelease's values. */
function filesOf(placement: Placement, value: string): Record<string, string> {
  const text = placement.text(value);
  if (placement.kind !== 'values') return { [placement.file]: text };
  const values = parseYamlDocuments(text, placement.file)[0];
  return { [placement.file]: text, 'helmrelease.yaml': dumpYamlDocuments([helmRelease(values)]) };
}

function liveObjects(files: Record<string, string>): unknown[] {
  return Object.entries(files)
    .filter(([path]) => /\.ya?ml$/.test(path) && path !== 'values.yaml')
    .flatMap(([path, text]) => parseYamlDocuments(text, path));
}

async function preview(current: Record<string, string>, files: Record<string, string>) {
  return previewEnvironment(
    { env: environment, app, current, files, notes: [] },
    { clusters: { get: async () => clusterWith(liveObjects(current)) } },
  );
}

/** The string in `value` (at any depth) that contains `needle`. */
function leafWith(value: unknown, needle: string): string | undefined {
  if (typeof value === 'string') return value.includes(needle) ? value : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const item of Object.values(value)) {
    const found = leafWith(item, needle);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The objects of the placements (with `value` planted), `copies` times with names of their own. */
function objectsOf(placements: readonly Placement[], version: 'old' | 'secret', copies = 1) {
  return Array.from({ length: copies * placements.length }, (_, i) => {
    const placement = placements[i % placements.length] as Placement;
    const [object] = parseYamlDocuments(placement.text(placement[version]), placement.file);
    if (copies === 1 || !isKubeObject(object)) return object;
    return { ...object, metadata: { ...object.metadata, name: `${object.metadata.name}-${i}` } };
  });
}

/** Every title, summary and text of the check runs a preview is published as. */
function checkRunTexts(model: DiffCommentModel): string[] {
  const set = checkRunSet(model);
  return [
    checkRunTitle(model),
    mainSummary(model),
    set.main.title,
    set.main.text,
    ...set.parts.flatMap((part) => [part.title, part.summary, part.text]),
  ];
}

/** Everything people read of a preview: comments (whole and split), check runs, promotion PR. */
function outputsOf(diff: EnvironmentDiff, splitAt: number): { outputs: string[]; parts: number } {
  const model = { pr: 7, headSha: 'b'.repeat(40), environments: [diff] };
  const whole = renderDiffComments(model).bodies;
  const split = renderDiffComments(model, { maxChars: splitAt }).bodies;
  const check = checkRunTexts(model);
  const promotion = renderPromotionBody(
    {
      noun: 'pull request',
      metadata: {
        v: 1,
        route: 1,
        strategy: 'folder',
        from: 'staging',
        to: 'production',
        source: 'a'.repeat(40),
        target: null,
        appRepo: { provider: 'github', fullName: 'org/my-app', webUrl: APP_REPO.webUrl },
      },
      app: 'web',
      from: 'staging',
      to: 'production',
      strategy: 'folder',
      where: { repo: 'org/iac', head: 'dag/promote-web', base: 'main' },
      source: { sha: 'a'.repeat(40), url: null },
      target: { sha: null, url: null },
      files: [{ path: 'clusters/production/web/values.yaml', change: 'modified' }],
      preview: diff,
    },
    65_536,
  );
  return {
    outputs: [...whole, ...split, ...check, promotion],
    parts: split.length,
  };
}

describe('the secret catalogue', () => {
  it('has at least 30 placements, each with values of its own', () => {
    expect(PLACEMENTS.length).toBeGreaterThanOrEqual(30);
    const values = PLACEMENTS.flatMap((p) => [p.old, p.secret]);
    expect(new Set(values).size).toBe(values.length);
    expect(new Set(PLACEMENTS.map((p) => p.name)).size).toBe(PLACEMENTS.length);
  });

  it.each(PLACEMENTS.map((p) => [p.name, p] as const))(
    '%s: masked in comments, check run and promotion body, and shown as changed',
    async (_name, placement) => {
      const current = filesOf(placement, placement.old);
      const files = filesOf(placement, placement.secret);
      // Without the masker, the planted values would be in what DAG diffs.
      expect(JSON.stringify(current)).toContain(
        JSON.stringify(planted(placement, placement.old)).slice(1, -1),
      );
      expect(JSON.stringify(files)).toContain(
        JSON.stringify(planted(placement, placement.secret)).slice(1, -1),
      );

      const diff = await preview(current, files);
      expect(diff.validation).toEqual({ result: 'passed' });
      expect(diff.iacFiles.length).toBeGreaterThan(0);
      if (placement.kind !== 'text') {
        expect(diff.objects.map((o) => o.change)).toContain('changed');
      }
      const { outputs } = outputsOf(diff, 2_500);
      expect(leaks(outputs, [placement])).toEqual([]);
      // The change still shows, without the value.
      const body = outputs[0] ?? '';
      if (placement.kind === 'text') expect(body).toMatch(/^[-+].*\*\*\*/m);
      else expect(body).toContain(MASKED.changed);
    },
  );

  it.each(PLACEMENTS.filter((p) => p.kind === 'object').map((p) => [p.name, p] as const))(
    '%s: masked in an API server error that echoes it',
    async (_name, placement) => {
      // The server quotes the whole field that holds the value.
      const object = parseYamlDocuments(placement.text(placement.secret), placement.file)[0];
      const echo = JSON.stringify(leafWith(object, planted(placement, placement.secret)));
      const cluster: ClusterClient = {
        ...clusterWith([]),
        dryRunApply: async (object) => {
          throw new ClusterError(
            'invalid',
            `${object.kind} "${String(object.metadata.name)}" is invalid: spec: Invalid value: ${echo}: not allowed`,
            { cluster: 'c1' },
          );
        },
      };
      const files = filesOf(placement, placement.secret);
      const diff = await previewEnvironment(
        { env: environment, app, current: {}, files, notes: [] },
        { clusters: { get: async () => cluster } },
      );
      expect(diff.validation.result).toBe('failed');
      const { outputs } = outputsOf(diff, 2_500);
      expect(outputs[0]).toContain('Invalid value: ');
      expect(leaks(outputs, [placement])).toEqual([]);
    },
  );

  it('masks 2,000 objects with secrets planted throughout, split over several comments', async () => {
    // A big plain chart: `helm template` renders the objects, the cluster holds older ones.
    const objects = PLACEMENTS.filter((p) => p.kind === 'object');
    const copies = Math.ceil(2_000 / objects.length);
    const desired = objectsOf(objects, 'secret', copies).slice(0, 2_000);
    const live = objectsOf(objects, 'old', copies).slice(0, 2_000);
    const diff = await previewEnvironment(
      { env: { ...environment, helmType: 'plain' }, app, current: {}, files: {}, notes: [] },
      {
        clusters: { get: async () => clusterWith(live) },
        helmTemplate: async () => ({ objects: desired }),
      },
    );
    expect(diff.objects).toHaveLength(2_000);
    expect(diff.objects.every((o) => o.change === 'changed')).toBe(true);
    // Without the masker, every planted value would be in what DAG diffs.
    const unmasked = [JSON.stringify([desired, live])];
    for (const placement of objects) expect(leaks(unmasked, [placement], 3)).not.toEqual([]);

    const model = { pr: 7, headSha: 'b'.repeat(40), environments: [diff] };
    const fitted = renderDiffComments(model);
    // Split at object boundaries into as many comments as it takes.
    const split = renderDiffComments(model, { maxParts: 100 });
    expect(split.bodies.length).toBeGreaterThan(10);
    const outputs = [...fitted.bodies, ...split.bodies, ...checkRunTexts(model)];
    expect(split.bodies.join('').length).toBeGreaterThan(500_000);
    expect(leaks(outputs, objects, 3)).toEqual([]);
    expect(split.bodies.join('')).toContain(MASKED.changed);
  });
});

describe('the catalogue through runDiff, GitHub and the logs', () => {
  const API = 'https://api.github.com';
  const sent: string[] = [];
  const lines: string[] = [];
  let log: Logger;

  beforeAll(() => {
    nock.disableNetConnect();
    log = createLogger({
      level: 'trace',
      destination: new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    });
  });
  afterAll(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('sends GitHub and logs no planted value, even when GitHub refuses a comment', async () => {
    {
      // What runDiff reads of the configuration: a flux and a plain environment of one app.
      const iac: Iac = {
        id: 1,
        name: 'iac',
        repoUrl: 'https://github.com/org/iac.git',
        gitProvider: 'github',
        hasToken: false,
        createdAt: new Date(0),
      };
      const environments = [
        environment,
        {
          ...environment,
          id: 2,
          name: 'staging',
          iacPath: 'clusters/staging/web',
          helmType: 'plain',
        },
      ] satisfies Environment[];
      const store = {
        getEnvironment: async (id: number) => environments.find((e) => e.id === id),
        getApp: async () => app,
        getIac: async () => iac,
        iacToken: async () => null,
      } as unknown as ConfigStore;

      // The app repository: every values placement under a key of its own (flux environment);
      // the plain environment's chart renders every object placement.
      const valuesPlacements = PLACEMENTS.filter((p) => p.kind === 'values');
      const objectPlacements = PLACEMENTS.filter((p) => p.kind === 'object');
      const values = Object.fromEntries(
        valuesPlacements.map((p, i) => [`p${i}`, parseYamlDocuments(p.text(p.secret), p.file)[0]]),
      );

      const probot = createProbot(
        {
          appId: '4242',
          privateKey: testPrivateKey,
          webhookSecret: 'catalogue-webhook-secret',
          webhookPath: '/api/github/webhooks',
          baseUrl: undefined,
        },
        log,
        { throttle: false },
      );
      const record = (body: unknown) => {
        sent.push(JSON.stringify(body));
        return true;
      };
      nock(API)
        .post('/app/installations/1/access_tokens')
        .reply(201, { token: 'ghs_x', expires_at: new Date(Date.now() + 3_600_000).toISOString() })
        .persist()
        .get('/repos/org/my-app/issues/7/comments')
        .query(true)
        .reply(200, [])
        .get(/\/repos\/org\/my-app\/commits\/[0-9a-f]+\/check-runs/)
        .query(true)
        .reply(200, { total_count: 0, check_runs: [] })
        .post('/repos/org/my-app/check-runs', record)
        .reply(201, { id: 1 });
      // The first comment is refused (its body comes back in the error DAG logs), then accepted.
      nock(API)
        .post('/repos/org/my-app/issues/7/comments', record)
        .reply(422, { message: 'Validation Failed', errors: [{ code: 'custom' }] });
      nock(API).persist().post('/repos/org/my-app/issues/7/comments', record).reply(201, { id: 2 });

      const github = new GitHubPlatform(
        (await probot.auth(1)) as unknown as ConstructorParameters<typeof GitHubPlatform>[0],
      );
      const platform = new FakeReviewPlatform();
      platform.files['deploy/values.yaml'] = dumpYamlDocuments([values]);
      platform.upsertComments = (repo, number, topic, bodies) =>
        github.upsertComments(repo, number, topic, bodies);
      platform.publishCheck = async (repo, check: CheckReport) =>
        (await github.publishCheck(repo, check)) ?? '';
      const templates = loadTemplates();
      const deps = {
        store,
        platform,
        iac: { read: async () => ({ branch: 'main', head: 'f'.repeat(40), files: {} }) },
        clusters: { get: async () => clusterWith(objectsOf(objectPlacements, 'old')) },
        tools: {
          render: (input: Parameters<typeof renderBundle>[0]) => renderBundle(input, templates),
          parseValues: parseValuesFile,
        },
        helmTemplate: async () => ({ objects: objectsOf(objectPlacements, 'secret') }),
        log: log.child({ jobId: 'job-1', queue: 'diff' }),
      };
      const request = {
        repo: APP_REPO,
        appId: 1,
        pr: { ...platform.pr },
        environmentIds: [1, 2],
        origin: 'command' as const,
      };

      // Without the masker, the planted values would be in what DAG previews.
      expect(platform.files['deploy/values.yaml']).toContain(valuesPlacements[0]?.secret);

      const refused = await runDiff(request, deps).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(Error);
      // What the job queue logs for a failed job.
      deps.log.warn({ err: refused, retryCount: 0 }, 'job failed; it will be retried');
      const model = await runDiff(request, deps);

      const [production, staging] = model.environments;
      expect(production?.objects.length).toBeGreaterThan(0);
      expect(staging?.objects.filter((o) => o.change === 'changed')).toHaveLength(
        objectPlacements.length,
      );
      expect(sent.length).toBeGreaterThanOrEqual(4);
      expect(sent.join('\n')).toContain('(value changed)');
      expect(lines.some((line) => line.includes('diff preview posted'))).toBe(true);
      expect(lines.some((line) => line.includes('Validation Failed'))).toBe(true);
      expect(leaks(sent, PLACEMENTS)).toEqual([]);
      expect(leaks(lines, PLACEMENTS)).toEqual([]);
      // Logs carry no comment or check-run body at all.
      expect(lines.join('\n')).not.toContain('Diff preview');
      expect(lines.join('\n')).not.toContain('```diff');
    }
  });
});
