import { reasonOf } from '../errors.ts';
import type { ClusterClient } from '../k8s/cluster-client.ts';
import { liveState } from '../k8s/live-diff.ts';
import { isKubeObject, type KubeObject } from '../k8s/object.ts';
import { objectKey } from '../k8s/normalize.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequests } from '../platform/types.ts';
import type { HelmTemplateResult } from '../render/helm-template.ts';
import { parseYamlDocuments } from '../render/yaml.ts';
import type { App, ConfigStore, Environment } from '../store/types.ts';
import type {
  DiffCommentModel,
  EnvironmentDiff,
  IacFileDiff,
  ObjectDiff,
  Validation,
} from '../diff/comment-model.ts';
import type { ObjectPair } from '../diff/object-change.ts';
import { inThread, type PreviewCompute } from '../diff/preview-pool.ts';
import { buildBundle, type BundleTools, type SourceReader } from './deploy.ts';
import type { DiffRequest } from './diff-request.ts';

/** Reads the files of an environment's folder in its IAC repository (src/iac's IacWorkspace). */
export interface IacReader {
  read(
    target: { url: string; token: string | null; branch: string | null },
    path: string,
  ): Promise<{ branch: string; head: string; files: Record<string, string> }>;
}

/** What previewing an environment's new files needs: rendering plain charts, its cluster. */
export type PreviewDeps = {
  /** Renders a plain chart's objects (`helm template`); absent or unavailable: IAC diff only. */
  helmTemplate?: (
    chart: Record<string, string>,
    release: { name: string; namespace: string },
  ) => Promise<HelmTemplateResult>;
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

export const DIFF_CHECK = 'dag/diff';

/** Files that are Kubernetes objects DAG can dry-run (kustomize's own files are not). */
const NOT_OBJECTS = new Set([
  'kustomization.yaml',
  'kustomizeconfig.yaml',
  'values.yaml',
  'Chart.yaml',
]);

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
  return previewEnvironment({ env, app, current, files, notes }, deps);
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
  },
  deps: PreviewDeps,
): Promise<EnvironmentDiff> {
  const { env, app, current, files, notes } = input;
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
          .helmTemplate(files, { name: env.helmName ?? app.name, namespace })
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
    desired = objectsOf(files);
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
        pairs.push({
          live: null,
          desired: desired.find((d) => objectKey(d) === object.key) ?? null,
          error: object.error.message,
        });
        if (
          object.error.reason === 'invalid' ||
          object.error.reason === 'forbidden' ||
          object.error.reason === 'crd-missing'
        ) {
          validation = { result: 'failed', reason: object.error.message };
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
      for (const old of objectsOf(current)) {
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
    objects = await compute.objectChanges(pairs);
  } catch (error) {
    validation = {
      result: 'failed',
      reason: `the live diff could not be computed: ${reasonOf(error)}`,
    };
  }
  return { environment: env.name, iacFiles, objects, validation, notes };
}

/**
 * The diff preview of a pull request's head for some environments: the IAC files a deploy would
 * commit against what the IAC repository holds now, and each object server-side dry-run applied
 * on the environment's cluster against the live one. Posted as DAG's sticky `diff` comment
 * (split to fit) and as the `dag/diff` check run. Errors are answers in the preview.
 */
export async function runDiff(request: DiffRequest, deps: DiffDeps): Promise<DiffCommentModel> {
  const { platform, store, log } = deps;
  await platform.publishCheck(request.repo, {
    name: DIFF_CHECK,
    sha: request.pr.headSha,
    status: 'in_progress',
    title: 'Computing the diff preview',
    summary: 'DAG is rendering the release and dry-running it on the clusters.',
  });
  const environments: EnvironmentDiff[] = [];
  for (const id of request.environmentIds) {
    const env = await store.getEnvironment(id);
    if (env) environments.push(await environmentDiff(request, env, deps));
  }
  const current = await platform.getPullRequest(request.repo, request.pr.number);
  const model: DiffCommentModel = {
    pr: request.pr.number,
    headSha: request.pr.headSha,
    outdated: current.headSha !== request.pr.headSha,
    environments,
  };
  // Rendering thousands of objects takes seconds: off the event loop too.
  const { comments, output } = await (deps.compute ?? inThread).render(model);
  await platform.upsertComments(request.repo, request.pr.number, 'diff', comments.bodies);
  const failed = environments.some((e) => e.validation.result === 'failed');
  const changed = environments.some(
    (e) => e.iacFiles.length > 0 || e.objects.some((o) => o.change !== 'unchanged'),
  );
  await platform.publishCheck(request.repo, {
    name: DIFF_CHECK,
    sha: request.pr.headSha,
    status: 'completed',
    conclusion: failed ? 'failure' : changed ? 'neutral' : 'success',
    title: output.title,
    summary: output.summary,
    text: output.text,
  });
  if (request.commentId !== undefined) {
    await platform.react(request.repo, request.commentId, '+1');
  }
  log.info(
    { pr: request.pr.number, level: comments.level, parts: comments.bodies.length, failed },
    'diff preview posted',
  );
  return model;
}
