import { reasonOf } from '../errors.ts';
import type { ClusterClient } from '../k8s/cluster-client.ts';
import { liveState } from '../k8s/live-diff.ts';
import { isKubeObject, type KubeObject } from '../k8s/object.ts';
import { objectKey } from '../k8s/normalize.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequests } from '../platform/types.ts';
import type { HelmTemplateResult } from '../render/helm-template.ts';
import { kustomizeBuild } from '../render/kustomize-build.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import type { ConfigStore } from '../store/types.ts';
import type {
  DiffCommentModel,
  EnvironmentDiff,
  IacFileDiff,
  ObjectDiff,
  Validation,
} from '../diff/comment-model.ts';
import { maskMessageAbout } from '../diff/masking.ts';
import type { ObjectPair } from '../diff/object-change.ts';
import { inThread, type PreviewCompute } from '../diff/preview-pool.ts';
import { DIFF_CHECK, mainSummary, PART_PREFIX, RETIRED_CHECK } from '../diff/check-runs.ts';
import { NO_CHECK_RUNS_AT } from '../diff/comment.ts';
import { maskValuesConfigMaps } from '../diff/values-config-map.ts';
import { buildBundle, releaseNameFor, type BundleTools, type SourceReader } from './deploy.ts';
import type { DiffRequest } from './diff-request.ts';
import type { App, Environment } from '../model.ts';

/** Reads the files of an environment's folder in its IAC repository (src/iac's IacWorkspace). */
export interface IacReader {
  read(
    target: { url: string; token: string | null; branch: string | null },
    path: string,
  ): Promise<{ branch: string; head: string; files: Record<string, string> }>;
}

/** What previewing an environment's new files needs: rendering plain charts, its cluster. */
export type PreviewDeps = {
  /**
   * Renders a chart's objects (`helm template`, `values` on top of the chart's own): a plain
   * chart's (absent or unavailable: IAC diff only), and a Flux HelmRelease's chart when DAG can
   * read it (absent or unavailable: no workload-level diff).
   */
  helmTemplate?: (
    chart: Record<string, string>,
    release: { name: string; namespace: string; values?: string },
  ) => Promise<HelmTemplateResult>;
  /** Whether helmTemplate can run at all (absent: assumed), asked before a chart is read. */
  helmAvailable?: () => Promise<boolean>;
  clusters: { get(clusterId: number): Promise<ClusterClient> };
  /**
   * Where masking and diffing run: DAG's worker-thread pool (src/diff/preview-pool.ts), so that a
   * big preview never holds the event loop; by default the caller's thread (tests, small inputs).
   */
  compute?: PreviewCompute;
};

export type DiffDeps = PreviewDeps & {
  store: ConfigStore;
  platform: Platform & PullRequests;
  iac: IacReader;
  tools: BundleTools;
  log: Logger;
};

/** Files of a plain chart's folder that are not Kubernetes objects. */
const NOT_OBJECTS = new Set(['values.yaml', 'Chart.yaml']);

/** The top-level YAML files of a plain chart's folder that are Kubernetes objects. */
function objectsOf(files: Record<string, string>): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const [path, text] of Object.entries(files)) {
    if (NOT_OBJECTS.has(path) || path.includes('/') || !/\.ya?ml$/.test(path)) continue;
    for (const doc of parseYamlDocuments(text, path)) if (isKubeObject(doc)) objects.push(doc);
  }
  return objects;
}

async function environmentDiff(
  request: DiffRequest,
  env: Environment,
  deps: DiffDeps,
): Promise<EnvironmentDiff> {
  const { store, platform } = deps;
  const notes: string[] = [];
  const app = await store.getApp(env.appId);
  const iac = await store.getIac(env.iacId);
  if (!app || !iac) {
    return {
      environment: env.name,
      iacFiles: [],
      objects: [],
      validation: { result: 'skipped', reason: 'configuration changed' },
      notes,
    };
  }
  const reader: SourceReader = {
    readFile: (path) => platform.readFile(request.repo, request.pr.headSha, path),
    readFolder: (path) => platform.readFolder(request.repo, request.pr.headSha, path),
  };
  let files: Record<string, string>;
  try {
    const bundle = await buildBundle(reader, deps.tools, app, env, {
      sha: request.pr.headSha,
      branch: request.pr.headRef,
      commitUrl: `${request.repo.webUrl}/commit/${request.pr.headSha}`,
    });
    files = bundle.files;
  } catch (error) {
    return {
      environment: env.name,
      iacFiles: [],
      objects: [],
      validation: {
        result: 'failed',
        reason: `the release bundle cannot be rendered: ${reasonOf(error)}`,
      },
      notes,
    };
  }
  // A Flux HelmRelease's chart in the app repository is the head's (its GitRepository is pinned
  // to the deployed commit): read it so the preview can show what it renders.
  const fluxChart =
    env.helmType === 'flux' &&
    app.chart.source === 'app-repo' &&
    deps.helmTemplate &&
    (await (deps.helmAvailable?.() ?? true))
      ? await reader.readFolder(app.chart.path).catch(() => undefined)
      : undefined;
  let current: Record<string, string> = {};
  try {
    const token = await store.iacToken(iac.id);
    current = (await deps.iac.read({ url: iac.repoUrl, token, branch: env.iacBranch }, env.iacPath))
      .files;
  } catch (error) {
    notes.push(
      `The IAC repository could not be read (${reasonOf(error)}): files are shown as new.`,
    );
  }
  return previewEnvironment({ env, app, current, files, notes, fluxChart }, deps);
}

/**
 * What replacing `current` with `files` in the environment's IAC folder changes: the file diffs,
 * and each object server-side dry-run applied on the environment's cluster against the live one
 * (objects the new files drop show as deleted). Errors are answers in the result.
 */
export async function previewEnvironment(
  input: {
    env: Environment;
    app: App;
    current: Record<string, string>;
    files: Record<string, string>;
    notes: string[];
    /** The files of a Flux HelmRelease's chart, when DAG could read them. */
    fluxChart?: Record<string, string> | undefined;
  },
  deps: PreviewDeps,
): Promise<EnvironmentDiff> {
  const { env, app, current, files, notes, fluxChart } = input;
  const compute = deps.compute ?? inThread;
  let iacFiles: IacFileDiff[] = [];
  try {
    iacFiles = await compute.fileDiffs(current, files, env.iacPath);
  } catch (error) {
    notes.push(`The IAC file diff could not be computed: ${reasonOf(error)}.`);
  }

  const namespace = env.helmNamespace ?? 'default';
  let desired: KubeObject[];
  if (env.helmType === 'plain') {
    const rendered = deps.helmTemplate
      ? await deps
          .helmTemplate(files, { name: env.helmName ?? releaseNameFor(app), namespace })
          .catch((error: unknown) => ({ unavailable: reasonOf(error) }))
      : { unavailable: 'no `helm` binary is configured' };
    if ('unavailable' in rendered) {
      notes.push(
        `Live diff skipped: plain charts are rendered with \`helm template\`, and ${rendered.unavailable}. The IAC diff above is complete.`,
      );
      return {
        environment: env.name,
        iacFiles,
        objects: [],
        validation: { result: 'skipped', reason: 'helm is not available' },
        notes,
      };
    }
    desired = rendered.objects.filter(isKubeObject);
  } else {
    // What Flux applies is what the folder builds to with kustomize: the values ConfigMap with
    // its hashed name, the HelmRelease pointing at it, all in the kustomization's namespace.
    try {
      desired = kustomizeBuild(files);
    } catch (error) {
      notes.push(
        `Live diff skipped: DAG dry-runs what the folder builds to with kustomize, and ${reasonOf(error)}. The IAC diff above is complete.`,
      );
      return {
        environment: env.name,
        iacFiles,
        objects: [],
        validation: { result: 'skipped', reason: 'the kustomization cannot be built' },
        notes,
      };
    }
    desired.push(...(await workloads(app, desired, files, fluxChart, deps, notes)));
  }
  let validation: Validation = { result: 'passed' };
  const pairs: ObjectPair[] = [];
  try {
    const client = await deps.clusters.get(env.clusterId);
    const state = await liveState(client, desired, namespace);
    if (!state.ok) {
      validation = { result: 'skipped', reason: state.error.message };
    }
    for (const object of state.objects) {
      if (object.change === 'failed') {
        const sent = desired.find((d) => objectKey(d) === object.key) ?? null;
        pairs.push({ live: null, desired: sent, error: object.error.message });
        if (
          object.error.reason === 'invalid' ||
          object.error.reason === 'forbidden' ||
          object.error.reason === 'crd-missing'
        ) {
          // The API server's message may echo a field's value (`Invalid value: "..."`).
          validation = {
            result: 'failed',
            reason: maskMessageAbout(object.error.message, null, sent),
          };
        }
      } else {
        pairs.push({ live: object.live ?? null, desired: object.desired });
      }
    }
    // Objects of the folder today that the new bundle no longer has: deleted (Flux prunes them).
    const kept = new Set(
      desired.map((d) =>
        objectKey(d.metadata.namespace ? d : { ...d, metadata: { ...d.metadata, namespace } }),
      ),
    );
    if (state.ok) {
      for (const old of previousObjects(env, current, notes)) {
        const withNs = old.metadata.namespace
          ? old
          : { ...old, metadata: { ...old.metadata, namespace } };
        if (kept.has(objectKey(withNs))) continue;
        const live = await client.read(withNs).catch(() => undefined);
        if (live) pairs.push({ live, desired: null });
      }
    }
  } catch (error) {
    validation = { result: 'skipped', reason: reasonOf(error) };
  }
  let objects: ObjectDiff[] = [];
  try {
    objects = await compute.objectChanges(maskValuesConfigMaps(pairs));
  } catch (error) {
    validation = {
      result: 'failed',
      reason: `the live diff could not be computed: ${reasonOf(error)}`,
    };
  }
  return { environment: env.name, iacFiles, objects, validation, notes };
}

/**
 * The objects the environment's folder holds today, for what the new files drop (Flux prunes
 * them): a Flux folder as kustomize builds it, so the values ConfigMap of the old hash is among
 * them. A folder that does not build shows no deletions, and says so.
 */
function previousObjects(
  env: Environment,
  current: Record<string, string>,
  notes: string[],
): KubeObject[] {
  if (env.helmType === 'plain') return objectsOf(current);
  if (Object.keys(current).length === 0) return [];
  try {
    return kustomizeBuild(current);
  } catch (error) {
    notes.push(
      `Objects the new files would delete are not shown: the folder in the IAC repository does not build (${reasonOf(error)}).`,
    );
    return [];
  }
}

/**
 * What the HelmRelease's chart renders (Deployments, Services...), as helm-controller will render
 * it: `helm template` of the chart with the bundle's values.yaml on top, for the release name and
 * namespace of the HelmRelease. Only a chart in the app repository can be read; otherwise, or
 * without helm, a note says why the workload-level diff is not shown.
 */
async function workloads(
  app: App,
  built: readonly KubeObject[],
  files: Record<string, string>,
  chart: Record<string, string> | undefined,
  deps: PreviewDeps,
  notes: string[],
): Promise<KubeObject[]> {
  const notShown = (why: string) => {
    notes.push(
      `The workload-level diff (what the HelmRelease's chart renders) is not shown: ${why}. The objects above are what Flux applies from the folder.`,
    );
    return [];
  };
  const source = app.chart.source;
  if (source !== 'app-repo') {
    return notShown(
      `Flux fetches the chart from its ${source === 'helm' ? 'Helm' : source === 'oci' ? 'OCI' : 'Git'} repository in the cluster, and DAG does not fetch it`,
    );
  }
  if (!deps.helmTemplate || (deps.helmAvailable && !(await deps.helmAvailable()))) {
    return notShown('no `helm` binary is available');
  }
  if (!chart) return notShown(`the chart at ${app.chart.path} of the app repository was not read`);
  const releases = built.filter((o) => o.kind === 'HelmRelease');
  const release = releases[0];
  const spec = release?.spec as { releaseName?: unknown; targetNamespace?: unknown } | undefined;
  if (releases.length !== 1 || !release) return notShown('the folder has no single HelmRelease');
  const rendered = await deps
    .helmTemplate(chart, {
      name: typeof spec?.releaseName === 'string' ? spec.releaseName : release.metadata.name,
      namespace:
        typeof spec?.targetNamespace === 'string'
          ? spec.targetNamespace
          : String(release.metadata.namespace ?? 'default'),
      values: files['values.yaml'] ?? '',
    })
    .catch((error: unknown) => ({ unavailable: reasonOf(error) }));
  if ('unavailable' in rendered) return notShown(rendered.unavailable);
  notes.push(
    `Workload objects are rendered with \`helm template\` from the chart at ${app.chart.path} and dry-run as DAG would apply them; Flux's helm-controller applies them through Helm. Workloads a new chart drops are not shown as deleted.`,
  );
  return rendered.objects.filter(isKubeObject);
}

/**
 * The diff preview of a pull request's head for some environments: the IAC files a deploy would
 * commit against what the IAC repository holds now, and each object server-side dry-run applied
 * on the environment's cluster against the live one. The whole diff goes into the `dag/diff`
 * check run and, when it is larger, `dag/diff part 2` … (see `checkRunSet`); then DAG's sticky
 * `diff` comment (split to fit) shows what fits and links every part; `dag/diff` is completed
 * last, with the summary and the same links. Errors are answers in the preview.
 */
export async function runDiff(request: DiffRequest, deps: DiffDeps): Promise<DiffCommentModel> {
  const { platform, store, log } = deps;
  const { repo } = request;
  const sha = request.pr.headSha;
  const mainUrl = await platform.publishCheck(repo, {
    name: DIFF_CHECK,
    sha,
    status: 'in_progress',
    title: 'Computing the diff preview',
    summary: 'DAG is rendering the release and dry-running it on the clusters.',
  });
  const environments: EnvironmentDiff[] = [];
  for (const id of request.environmentIds) {
    const env = await store.getEnvironment(id);
    if (env) environments.push(await environmentDiff(request, env, deps));
  }
  const current = await platform.getPullRequest(repo, request.pr.number);
  const preview: DiffCommentModel = {
    pr: request.pr.number,
    changeRequest: platform.changeRequestNoun,
    headSha: sha,
    outdated: current.headSha !== sha,
    environments,
  };
  // Rendering thousands of objects takes seconds: off the event loop too.
  const compute = deps.compute ?? inThread;
  const set = await compute.checkRuns(preview);
  const links = [{ name: DIFF_CHECK, url: mainUrl, holds: set.main.holds }];
  // Without check-run pages (GitLab), the notes are the whole preview: no parts to publish.
  const pages = platform.fullPreviewIn !== 'comments';
  for (const part of pages ? set.parts : []) {
    const url = await platform.publishCheck(repo, {
      name: part.name,
      sha,
      status: 'completed',
      conclusion: 'neutral',
      title: part.title,
      summary: part.summary,
      text: part.text,
    });
    links.push({ name: part.name, url, holds: part.holds });
  }
  await platform.retireChecks(
    repo,
    sha,
    PART_PREFIX,
    links.map((link) => link.name),
    RETIRED_CHECK,
  );
  const model: DiffCommentModel = pages
    ? { ...preview, checkRuns: { parts: links, unshown: set.unshown, unlisted: set.unlisted } }
    : {
        ...preview,
        fullDiffAt: NO_CHECK_RUNS_AT,
        ...(platform.commentMaxChars ? { commentMaxChars: platform.commentMaxChars } : {}),
      };
  const comments = await compute.comments(model);
  await platform.upsertComments(repo, request.pr.number, 'diff', comments.bodies);
  const failed = environments.some((e) => e.validation.result === 'failed');
  const changed = environments.some(
    (e) => e.iacFiles.length > 0 || e.objects.some((o) => o.change !== 'unchanged'),
  );
  await platform.publishCheck(repo, {
    name: DIFF_CHECK,
    sha,
    status: 'completed',
    conclusion: failed ? 'failure' : changed ? 'neutral' : 'success',
    title: set.main.title,
    summary: mainSummary(model),
    text: set.main.text,
  });
  if (request.commentId !== undefined) {
    await platform.react(repo, { number: request.pr.number, id: request.commentId }, '+1');
  }
  log.info(
    {
      pr: request.pr.number,
      level: comments.level,
      parts: comments.bodies.length,
      checkRuns: links.length,
      failed,
    },
    'diff preview posted',
  );
  return model;
}
