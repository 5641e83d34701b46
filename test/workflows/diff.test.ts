import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.ts';
import type { ClusterClient } from '../../src/k8s/cluster-client.ts';
import { ClusterError } from '../../src/k8s/cluster-error.ts';
import type { KubeObject } from '../../src/k8s/object.ts';
import { renderBundle } from '../../src/render/bundle.ts';
import { loadTemplates } from '../../src/render/templates.ts';
import { parseValuesFile } from '../../src/render/yaml.ts';
import { SqlConfigStore } from '../../src/store/config-store.ts';
import { Keyring } from '../../src/store/crypto.ts';
import { inThread, PreviewError, PreviewPool } from '../../src/diff/preview-pool.ts';
import { runDiff, type DiffDeps } from '../../src/workflows/diff.ts';
import { openLane, randomKey, type LaneDb } from '../helpers/lanes.ts';
import { APP_REPO, FakeReviewPlatform } from './fakes.ts';
import { quiet } from '../helpers/quiet-log.ts';

const templates = loadTemplates();
const repo = APP_REPO;

let lane: LaneDb;
let store: SqlConfigStore;
let platform: FakeReviewPlatform;
let client: ClusterClient;

const cluster = { id: 1, name: 'c1', apiUrl: 'https://k8s.example.com' };
/** A cluster where every object exists as DAG last applied it, except what a test changes. */
function clusterAnswering(apply: (o: KubeObject) => Promise<KubeObject>): ClusterClient {
  return {
    cluster,
    isNamespaced: async () => true,
    dryRunApply: apply,
    read: async () => undefined,
  };
}

function deps(): DiffDeps {
  return {
    store,
    platform,
    iac: { read: async () => ({ branch: 'main', head: 'f'.repeat(40), files: {} }) },
    clusters: { get: async () => client },
    tools: { render: (input) => renderBundle(input, templates), parseValues: parseValuesFile },
    log: quiet,
  };
}

const request = (environmentIds: number[]) => ({
  repo,
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

beforeEach(async () => {
  lane = await openLane('embedded');
  store = new SqlConfigStore(lane.db, new Keyring(randomKey()));
  await lane.db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, helm_namespace)
      VALUES (1, 'main', 1, 'clusters/production/my-app', 1, 'flux', 'apps'),
             (1, 'develop', 1, 'clusters/staging/my-app', 1, 'plain', 'apps');
  `);
  await store.normalize();
  platform = new FakeReviewPlatform();
  client = clusterAnswering(async (o) => ({ ...o, metadata: { ...o.metadata, uid: 'u1' } }));
});
afterEach(() => lane.drop());

describe('runDiff', () => {
  it('shows new objects as created, with the IAC files, and concludes neutral', async () => {
    const model = await runDiff(request([1]), deps());
    const env = model.environments[0];
    expect(env?.validation).toEqual({ result: 'passed' });
    // The folder as kustomize builds it: the values ConfigMap (hash-suffixed) comes first.
    expect(env?.objects.map((o) => [o.kind, o.change])).toEqual([
      ['ConfigMap', 'created'],
      ['GitRepository', 'created'],
      ['HelmRelease', 'created'],
    ]);
    expect(env?.iacFiles.map((f) => f.change)).toEqual([
      'created',
      'created',
      'created',
      'created',
      'created',
    ]);
    expect(platform.comments.get('diff')?.[0]).toContain('production');
    expect(platform.checks.map((c) => [c.status, c.conclusion])).toEqual([
      ['in_progress', undefined],
      ['completed', 'neutral'],
    ]);
  });

  it('gives the /diff comment its final reaction once the preview is posted', async () => {
    await runDiff({ ...request([1]), commentId: 99 }, deps());
    expect(platform.reactions).toEqual(['+1']);
    await runDiff(request([1]), deps());
    expect(platform.reactions).toEqual(['+1']);
  });

  it('answers an unreachable cluster in the preview, keeping the IAC diff', async () => {
    client = clusterAnswering(async () => {
      throw new ClusterError('unreachable', 'cluster c1 is unreachable (connection refused)', {
        cluster: 'c1',
      });
    });
    const model = await runDiff(request([1]), deps());
    expect(model.environments[0]?.validation).toEqual({
      result: 'skipped',
      reason: 'cluster c1 is unreachable (connection refused)',
    });
    expect(model.environments[0]?.iacFiles.length).toBeGreaterThan(0);
    expect(platform.comments.get('diff')?.[0]).toContain('unreachable');
  });

  it('fails the check when the API server rejects an object, with its message', async () => {
    client = clusterAnswering(async (o) => {
      if (o.kind === 'HelmRelease') {
        throw new ClusterError(
          'invalid',
          'HelmRelease "my-app" is invalid: spec.interval: Invalid value',
          { cluster: 'c1' },
        );
      }
      return o;
    });
    const model = await runDiff(request([1]), deps());
    expect(model.environments[0]?.validation.result).toBe('failed');
    expect(platform.checks.at(-1)?.conclusion).toBe('failure');
    expect(platform.comments.get('diff')?.[0]).toContain('spec.interval: Invalid value');
  });

  it('dry-runs the objects helm template renders for a plain chart', async () => {
    const seen: string[] = [];
    const model = await runDiff(request([2]), {
      ...deps(),
      helmTemplate: async (chart, release) => {
        seen.push(Object.keys(chart).sort().join(','), release.name, release.namespace);
        return {
          objects: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'my-app', namespace: 'apps' },
            },
          ],
        };
      },
    });
    expect(seen[0]).toContain('Chart.yaml');
    expect(seen.slice(1)).toEqual(['my-app', 'apps']);
    expect(model.environments[0]?.validation).toEqual({ result: 'passed' });
    expect(model.environments[0]?.objects.map((o) => [o.kind, o.change])).toEqual([
      ['Deployment', 'created'],
    ]);
  });

  it('renders a plain chart under the release name a deploy uses, not the raw app name', async () => {
    await lane.db.query(`UPDATE apps SET name = 'my_app.v2' WHERE id = 1`);
    await store.normalize();
    const names: string[] = [];
    await runDiff(request([2]), {
      ...deps(),
      helmTemplate: async (_chart, release) => {
        names.push(release.name);
        return { objects: [] };
      },
    });
    expect(names).toEqual(['my-app-v2']);
  });

  it('adds what a Flux HelmRelease’s chart in the app repo renders, with the bundle’s values', async () => {
    const seen: {
      chart: string[];
      release: { name: string; namespace: string; values?: string };
    }[] = [];
    platform.files['chart/Chart.yaml'] = 'apiVersion: v2\nname: my-app\nversion: 0.1.0\n';
    platform.files['chart/templates/deployment.yaml'] = 'kind: Deployment\n';
    const model = await runDiff(request([1]), {
      ...deps(),
      helmTemplate: async (chart, release) => {
        seen.push({ chart: Object.keys(chart).sort(), release });
        return {
          objects: [
            {
              apiVersion: 'apps/v1',
              kind: 'Deployment',
              metadata: { name: 'my-app', namespace: 'apps' },
            },
          ],
        };
      },
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.chart).toEqual(['Chart.yaml', 'templates/deployment.yaml']);
    expect(seen[0]?.release).toMatchObject({ name: 'my-app', namespace: 'apps' });
    // The values the HelmRelease gets through its ConfigMap: the bundle's values.yaml.
    const iacValues = model.environments[0]?.iacFiles.find((f) => f.path.endsWith('/values.yaml'));
    expect(iacValues).toBeDefined();
    expect(seen[0]?.release.values).toMatch(/^dag:|\ndag:/);
    expect(model.environments[0]?.objects.map((o) => [o.kind, o.change])).toEqual([
      ['ConfigMap', 'created'],
      ['GitRepository', 'created'],
      ['HelmRelease', 'created'],
      ['Deployment', 'created'],
    ]);
    expect(model.environments[0]?.notes.join('\n')).toContain('rendered with `helm template`');
  });

  it('reads no Flux chart when there is no helm binary, and says the workloads are not shown', async () => {
    const read: string[] = [];
    platform.readFolder = async (_repo, _ref, path) => {
      read.push(path);
      return undefined;
    };
    const model = await runDiff(request([1]), {
      ...deps(),
      helmTemplate: async () => {
        throw new Error('not called');
      },
      helmAvailable: async () => false,
    });
    expect(read).toEqual([]);
    expect(model.environments[0]?.validation).toEqual({ result: 'passed' });
    expect(model.environments[0]?.notes.join('\n')).toContain(
      'is not shown: no `helm` binary is available',
    );
  });

  it('says the live diff of a plain chart needs helm, and still shows its IAC diff', async () => {
    const model = await runDiff(request([2]), deps());
    expect(model.environments[0]?.validation).toEqual({
      result: 'skipped',
      reason: 'helm is not available',
    });
    expect(model.environments[0]?.iacFiles.some((f) => f.path.endsWith('Chart.yaml'))).toBe(true);
  });

  it('reports a values file that does not parse as a failed preview', async () => {
    platform.files['deploy/values.yaml'] = 'a: [1,\n';
    const model = await runDiff(request([1]), deps());
    expect(model.environments[0]?.validation.result).toBe('failed');
    expect(model.environments[0]?.validation.reason).toMatch(/deploy\/values\.yaml line/);
  });

  it('marks a preview outdated when the pull request head moved on meanwhile', async () => {
    const r = request([1]);
    platform.pr = { ...platform.pr, headSha: 'c'.repeat(40) };
    const model = await runDiff(r, deps());
    expect(model.outdated).toBe(true);
    expect(platform.comments.get('diff')?.[0]).toMatch(/outdated/i);
  });

  it('never fails because of a rendering error from the platform either', async () => {
    platform.readFile = async () => {
      throw new UserError('GitHub API: reading deploy/values.yaml failed (HTTP 422)');
    };
    const model = await runDiff(request([1]), deps());
    expect(model.environments[0]?.validation.reason).toContain('HTTP 422');
  });

  it('computes the same preview on the worker-thread pool as in its own thread', async () => {
    const pool = new PreviewPool({ threads: 1 });
    try {
      const inPool = await runDiff(request([1]), { ...deps(), compute: pool });
      const comments = platform.comments.get('diff');
      const here = await runDiff(request([1]), deps());
      expect(inPool).toEqual(here);
      expect(inPool.environments[0]?.objects.length).toBeGreaterThan(0);
      expect(platform.comments.get('diff')).toEqual(comments);
    } finally {
      await pool.close();
    }
  });

  it('shows a preview whose worker thread failed as failed, with the reason', async () => {
    const failure = new PreviewError("the diff preview's worker thread failed: it died");
    const model = await runDiff(request([1]), {
      ...deps(),
      compute: {
        ...inThread,
        objectChanges: () => Promise.reject(failure),
        fileDiffs: () => Promise.reject(failure),
      },
    });
    expect(model.environments[0]?.validation).toEqual({
      result: 'failed',
      reason:
        "the live diff could not be computed: the diff preview's worker thread failed: it died",
    });
    expect(model.environments[0]?.notes.join('\n')).toContain(
      'IAC file diff could not be computed',
    );
    expect(platform.checks.at(-1)?.conclusion).toBe('failure');
  });
});
