// The checks of a fix proposal's bundle beyond rendering: its Flux objects against the vendored
// Flux CRDs, and the server-side dry run on a protocol-faithful fake kube-apiserver whose live
// diff the pull request shows.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fluxSchemaCheck, liveDryRun } from '../../src/fix/live-check.ts';
import { ClusterClients, type ClusterClient } from '../../src/k8s/client.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { kustomizeBuild } from '../../src/render/kustomize-build.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import type { IacReader } from '../../src/workflows/diff.ts';
import { appFixture } from '../helpers/app-fixture.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
} from '../helpers/fake-kube-apiserver.ts';
import { memoryLog, newToken, rowStore } from '../k8s/support.ts';
import { bundleInput } from '../render/bundle-input.ts';
import type { Environment, Iac } from '../../src/model.ts';

const token = newToken();
const templates = loadTemplates();
const app = appFixture();
let fake: FakeKubeApiserver;
let client: ClusterClient;

const flux: Environment = {
  id: 1,
  appId: 1,
  name: 'staging',
  branch: 'main',
  iacId: 1,
  iacPath: 'clusters/staging/my-app',
  clusterId: 1,
  helmType: 'flux',
  helmNamespace: 'apps',
  helmName: 'my-app',
  iacBranch: null,
  reconciledBranch: null,
  rules: { requiresApproval: false, requiresGreenChecks: false, onlyFromOwnBranch: false },
  createdAt: new Date(0),
};

const iacRow = { id: 1, repoUrl: 'https://git.example.com/platform/iac.git' } as Iac;

function folder(memory: string, password = 'db-secret-7f3a9'): Record<string, string> {
  return renderBundle(
    bundleInput({
      source: { sha: 'a'.repeat(40) },
      values: {
        base: { resources: { limits: { memory } }, database: { password } },
        environment: {},
      },
    }),
    templates,
  ).files;
}

/** The IAC folder as the reader finds it, and what it was asked for. */
function iacHolding(files: Record<string, string> | Error) {
  const asked: string[] = [];
  const reader: IacReader = {
    read: async (target, path) => {
      asked.push(`${target.url} ${path}`);
      if (files instanceof Error) throw files;
      return { branch: 'main', head: 'c'.repeat(40), files };
    },
  };
  return { reader, asked };
}

function dryRun(iac: IacReader, clusters = { get: async () => client }) {
  return liveDryRun({
    store: {
      getIac: async (id) => (id === 1 ? iacRow : undefined),
      iacToken: async () => 'iac-token',
    },
    iac,
    clusters,
  });
}

beforeAll(async () => {
  fake = await startFakeKubeApiserver({ token, crds: FLUX_CRDS });
  const { store } = rowStore(
    new Map([[1, { name: 'staging', apiUrl: fake.url, caCert: fake.caCert, token }]]),
  );
  client = await new ClusterClients({ store, log: memoryLog().log }).get(1);
});
afterAll(() => fake?.stop());

beforeEach(() => {
  fake.objects.clear();
  fake.clearForbidden();
  fake.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps' } });
});

describe('the Flux schema check of a proposal bundle', () => {
  const check = fluxSchemaCheck();

  it("passes DAG's own flux bundle and leaves a plain environment's alone", async () => {
    expect(await check(flux, folder('256Mi'))).toEqual([]);
    expect(await check({ ...flux, helmType: 'plain' }, { 'x.yaml': 'not: flux' })).toEqual([]);
  });

  it('names the object and the schema error of a HelmRelease the CRD rejects', async () => {
    const files = folder('256Mi');
    const release = files['helmrelease.yaml'] ?? '';
    expect(release).toMatch(/^ {2}interval: /m);
    const broken = {
      ...files,
      'helmrelease.yaml': release.replace(/^ {2}interval: .*$/m, '  interval: soon'),
    };
    const problems = await check(flux, broken);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/^HelmRelease my-app: \/spec\/interval must match pattern/);
  });

  it('refuses a Flux API version DAG has no CRD for', async () => {
    const files = folder('256Mi');
    const old = {
      ...files,
      'helmrelease.yaml': (files['helmrelease.yaml'] ?? '').replace(
        'helm.toolkit.fluxcd.io/v2',
        'helm.toolkit.fluxcd.io/v2beta1',
      ),
    };
    expect(await check(flux, old)).toEqual([
      'HelmRelease my-app: no CRD schema for helm.toolkit.fluxcd.io/v2beta1 HelmRelease',
    ]);
  });
});

describe('the dry run of a proposal bundle', () => {
  it('passes with the live diff of what Flux will apply: the values ConfigMap replaced, masked', async () => {
    const current = folder('128Mi');
    for (const object of kustomizeBuild(current)) fake.seed(object, { manager: 'dag' });
    const { reader, asked } = iacHolding(current);

    const result = await dryRun(reader)(app, flux, folder('256Mi'));

    expect(asked).toEqual([`${iacRow.repoUrl} clusters/staging/my-app`]);
    expect(result.status).toBe('passed');
    const live = result.preview;
    expect(live?.iacFiles).toEqual([]);
    expect(live?.objects.map((o) => [o.kind, o.change]).sort()).toEqual(
      [
        ['ConfigMap', 'created'],
        ['ConfigMap', 'deleted'],
        ['GitRepository', 'unchanged'],
        ['HelmRelease', 'changed'],
      ].sort(),
    );
    const created = live?.objects.find((o) => o.change === 'created')?.diff ?? '';
    expect(created).toContain('memory: 256Mi');
    expect(created).not.toContain('db-secret-7f3a9');
    // A dry run writes nothing.
    expect(
      kustomizeBuild(current).every((o) => fake.get(o.apiVersion, o.kind, o.metadata.name, 'apps')),
    ).toBe(true);
    expect([...fake.objects.keys()].filter((k) => k.includes('/ConfigMap/'))).toHaveLength(1);
  });

  it('fails with the API server message when the cluster refuses an object', async () => {
    fake.setForbidden({ verb: 'patch', resource: 'helmreleases' });
    const { reader } = iacHolding({});
    const result = await dryRun(reader)(app, flux, folder('256Mi'));
    expect(result.status).toBe('failed');
    expect(result.status === 'failed' && result.errors.join('\n')).toMatch(/forbidden/i);
  });

  it('is not run when the cluster cannot be reached, and says why', async () => {
    const { reader } = iacHolding({});
    const result = await dryRun(reader, {
      get: async () => {
        throw new Error('cluster staging did not answer');
      },
    })(app, flux, folder('256Mi'));
    expect(result).toMatchObject({
      status: 'unreachable',
      reason: expect.stringContaining('did not answer'),
    });
  });

  it('dry-runs what the new folder applies when the IAC repository cannot be read, and notes it', async () => {
    const { reader } = iacHolding(new Error('remote: Repository not found'));
    const result = await dryRun(reader)(app, flux, folder('256Mi'));
    expect(result.status).toBe('passed');
    expect(result.preview?.notes.join('\n')).toContain(
      'objects the fix would delete are not shown',
    );
    expect(result.preview?.objects.filter((o) => o.change === 'created').length).toBeGreaterThan(0);
  });
});
