import { ConfigError, DagError, errorMessage } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type {
  ChangeRequest,
  ChangeRequests,
  Comparison,
  Platform,
  PullRequests,
} from '../platform/types.ts';
import { readProvenance, type FolderProvenance } from '../render/provenance.ts';
import type {
  App,
  ConfigStore,
  DeployStore,
  Environment,
  Iac,
  PromotionRecord,
  PromotionRoute,
  PromotionStore,
} from '../store/types.ts';
import { buildBundle, iacCommitUrl, type BundleTools, type SourceReader } from './deploy.ts';
import { previewEnvironment, type IacReader, type PreviewDeps } from './diff.ts';
import { escapeMarkdown } from './markdown.ts';
import {
  LISTED_COMMITS,
  PROMOTION_LABELS,
  parsePromotionMetadata,
  renderPromotionBody,
  type ChangedFile,
  type PromotionBody,
  type PromotionMetadata,
} from './promotion-body.ts';

type IacTarget = { url: string; token: string | null; branch: string | null };

/** DAG's own branches in IAC repositories (src/iac's IacWorkspace fits). */
export interface IacBranches extends IacReader {
  /** Several folders at one tip of the branch. */
  readFolders(
    target: IacTarget,
    paths: string[],
  ): Promise<{ branch: string; head: string; folders: Record<string, string>[] }>;
  publishBranch(
    target: IacTarget,
    head: string,
    changes: { path: string; files: Record<string, string>; message: string }[],
    options: { author: { name: string; email: string }; expectedHead: string | null },
  ): Promise<
    | { status: 'nothing'; base: string }
    | { status: 'pushed' | 'up-to-date'; base: string; head: string; files: ChangedFile[] }
    | { status: 'foreign'; base: string; remoteHead: string }
  >;
  deleteBranch(
    target: IacTarget,
    head: string,
    expectedHead: string | null,
  ): Promise<'deleted' | 'absent' | 'foreign'>;
}

/** Where a promotion pull request lives, and the provider API to reach it. */
export type ChangeRequestHost = { platform: ChangeRequests; repo: RepoRef };

/** The data of a promotion job. */
export type PromotionRequest = {
  routeId: number;
  /** The app repository: compare, replies, and the target's deployment after the merge. */
  appRepo: RepoRef;
  origin:
    | { kind: 'command'; number: number; commentId: number; author: string }
    | { kind: 'deploy'; sha: string }
    | { kind: 'merged'; repoUrl: string; number: number };
};

export type PromoteDeps = PreviewDeps & {
  store: ConfigStore & DeployStore & PromotionStore;
  /** The app repository's provider (with pull-request replies on GitHub). */
  appPlatform: Platform & ChangeRequests & Partial<PullRequests>;
  /** The provider API of an IAC repository: the App's installation, else the IAC's token. */
  iacHost: (iac: Iac, token: string | null) => Promise<ChangeRequestHost>;
  iac: IacBranches;
  tools: BundleTools;
  author: { name: string; email: string };
  log: Logger;
  /** Scrubs secrets from text shown to users. */
  mask: (text: string) => string;
};

export type PromotionOutcome =
  | { status: 'opened' | 'updated'; number: number; url: string }
  | { status: 'nothing'; reason: string; closed?: { number: number; url: string } | undefined }
  | { status: 'hands-off'; number: number; url: string }
  | { status: 'merged'; number: number; url: string }
  | { status: 'refused'; reason: string };

type Route = { route: PromotionRoute; app: App; from: Environment; to: Environment };

/** DAG's branch for a folder promotion, e.g. `dag/promote/shop/staging-to-production`. */
export function promotionBranch(app: App, from: Environment, to: Environment): string {
  const part = (text: string) =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .replace(/\.{2,}/g, '.')
      .slice(0, 60) || 'x';
  return `dag/promote/${part(app.name)}/${part(from.name)}-to-${part(to.name)}`;
}

function title(route: Route, sha: string | null): string {
  const what = sha ? ` ${sha.slice(0, 7)}` : '';
  return `Promote ${route.app.name}${what} from ${route.from.name} to ${route.to.name}`;
}

function reasonOf(error: unknown): string {
  return error instanceof DagError ? error.message : `internal error: ${errorMessage(error)}`;
}

async function loadRoute(id: number, store: PromoteDeps['store']): Promise<Route | undefined> {
  const route = await store.getRoute(id);
  if (!route) return undefined;
  const [app, from, to] = await Promise.all([
    store.getApp(route.appId),
    store.getEnvironment(route.fromEnvironmentId),
    store.getEnvironment(route.toEnvironmentId),
  ]);
  return app && from && to ? { route, app, from, to } : undefined;
}

async function iacOf(store: PromoteDeps['store'], env: Environment) {
  const iac = await store.getIac(env.iacId);
  if (!iac) throw new ConfigError(`environment ${env.name} has no IAC repository`);
  return { iac, token: await store.iacToken(iac.id) };
}

function metadataOf(
  route: Route,
  appRepo: RepoRef,
  source: string | null,
  target: string | null,
): PromotionMetadata {
  return {
    v: 1,
    route: route.route.id,
    strategy: route.route.strategy,
    from: route.from.name,
    to: route.to.name,
    source,
    target,
    appRepo: {
      provider: appRepo.provider,
      fullName: appRepo.fullName,
      webUrl: appRepo.webUrl,
      ...(appRepo.installationId === undefined ? {} : { installationId: appRepo.installationId }),
      ...(appRepo.projectId === undefined ? {} : { projectId: appRepo.projectId }),
    },
  };
}

/**
 * The target's deploy after a merge: the app repository's deployment for the target
 * environment on the promoted commit, recorded like any deploy. (A branch promotion in the app
 * repository needs none: its merge is a push, which deploys.)
 */
async function reportMerge(
  route: Route,
  record: PromotionRecord,
  request: ChangeRequest,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<PromotionRecord> {
  const { store, appPlatform } = deps;
  const sha = record.sourceSha;
  if (route.route.strategy !== 'app-branch' && sha) {
    const { iac } = await iacOf(store, route.to);
    const merge = request.mergeCommitSha;
    let deploy = await store.beginDeploy({
      environmentId: route.to.id,
      sha,
      ref: route.to.branch,
      pusher: `promotion #${record.number}`,
    });
    if (deploy.state !== 'success') {
      const id =
        deploy.providerDeploymentId ??
        (await appPlatform.createDeployment(appRepo, {
          sha,
          ref: route.to.branch,
          environment: route.to.name,
          description: `DAG promotes ${sha.slice(0, 7)} from ${route.from.name}`,
        }));
      deploy = await store.updateDeploy(deploy.id, { providerDeploymentId: id });
      await appPlatform.setDeploymentState(
        appRepo,
        { id, sha, ref: route.to.branch, environment: route.to.name },
        {
          state: 'success',
          description: merge
            ? `Promoted from ${route.from.name}: ${iac.name} merge ${merge.slice(0, 7)} (#${record.number})`
            : `Promoted from ${route.from.name} by #${record.number}`,
          logUrl: merge ? iacCommitUrl(iac.repoUrl, merge) : request.url,
        },
      );
      await store.updateDeploy(deploy.id, { state: 'success', iacCommit: merge });
    }
  }
  // Whatever the merge took (a person's commits too) is in the base now: the branch can go.
  if (route.route.strategy === 'folder')
    await deleteDagBranch(route, record, deps, request.headSha);
  deps.log.info(
    { route: route.route.id, number: record.number, sha },
    'promotion merged: target deploy reported',
  );
  return store.savePromotion({ ...record, state: 'merged', reported: true });
}

/** Deletes DAG's promotion branch if it still is at `expected` (by default DAG's own push). */
async function deleteDagBranch(
  route: Route,
  record: PromotionRecord,
  deps: PromoteDeps,
  expected: string | null = record.pushedHead,
): Promise<void> {
  const { iac, token } = await iacOf(deps.store, route.to);
  const result = await deps.iac.deleteBranch(
    { url: iac.repoUrl, token, branch: record.baseBranch },
    record.branch,
    expected,
  );
  deps.log.info({ branch: record.branch, result }, 'promotion branch cleaned up');
}

/**
 * The route's open promotion as the provider sees it now. A promotion merged or closed since
 * DAG last looked is recorded (a merge reported, DAG's branch removed) and no longer open.
 */
async function openPromotion(
  route: Route,
  host: ChangeRequestHost,
  deps: PromoteDeps,
  appRepo: RepoRef,
): Promise<{ record: PromotionRecord; request: ChangeRequest } | undefined> {
  let record = await deps.store.currentPromotion(route.route.id);
  if (!record) return undefined;
  if (record.state === 'open') {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    if (request.state === 'open') return { record, request };
    if (request.state === 'merged') {
      await reportMerge(route, record, request, deps, appRepo);
      return undefined;
    }
    record = await deps.store.savePromotion({ ...record, state: 'closed' });
    if (route.route.strategy === 'folder') await deleteDagBranch(route, record, deps);
    return undefined;
  }
  if (record.state === 'merged' && !record.reported) {
    const request = await host.platform.getChangeRequest(host.repo, record.number);
    await reportMerge(route, record, request, deps, appRepo);
  }
  return undefined;
}

/**
 * Opens DAG's promotion pull request, or updates the one already open (found by its record,
 * else by its branches and DAG's metadata in its body). Someone else's pull request between the
 * same branches is answered with, never touched.
 */
async function publish(
  host: ChangeRequestHost,
  open: { record: PromotionRecord; request: ChangeRequest } | undefined,
  input: {
    route: Route;
    head: string;
    base: string;
    title: string;
    body: (maxChars: number) => string;
    pushedHead: string | null;
    sourceSha: string | null;
  },
  deps: PromoteDeps,
): Promise<{ outcome: PromotionOutcome; request?: ChangeRequest }> {
  const { platform, repo } = host;
  const body = deps.mask(input.body(platform.maxBodyLength));
  const fields = {
    routeId: input.route.route.id,
    repoUrl: repo.webUrl,
    branch: input.head,
    baseBranch: input.base,
    pushedHead: input.pushedHead,
    sourceSha: input.sourceSha,
    state: 'open' as const,
    handsOff: false,
    reported: false,
  };
  let existing = open?.request;
  let recordId = open?.record.id;
  if (!existing) {
    existing = await platform.findOpenChangeRequest(repo, input.head, input.base);
    if (existing && parsePromotionMetadata(existing.body)?.route !== input.route.route.id) {
      return {
        outcome: {
          status: 'refused',
          reason: `pull request #${existing.number} from ${input.head} into ${input.base} is already open (not DAG's): ${existing.url}`,
        },
      };
    }
    if (existing) {
      recordId = (await deps.store.findPromotionByPullRequest(repo.webUrl, existing.number))?.id;
    }
  }
  if (existing) {
    const updated = await platform.updateChangeRequest(repo, existing.number, {
      title: input.title,
      body,
    });
    await deps.store.savePromotion({
      ...fields,
      id: recordId,
      number: updated.number,
      url: updated.url,
    });
    return {
      outcome: { status: 'updated', number: updated.number, url: updated.url },
      request: updated,
    };
  }
  const created = await platform.createChangeRequest(repo, {
    head: input.head,
    base: input.base,
    title: input.title,
    body,
    labels: PROMOTION_LABELS,
  });
  await deps.store.savePromotion({ ...fields, number: created.number, url: created.url });
  return {
    outcome: { status: 'opened', number: created.number, url: created.url },
    request: created,
  };
}

async function closeNothingLeft(
  host: ChangeRequestHost,
  open: { record: PromotionRecord } | undefined,
  route: Route,
  reason: string,
  deps: PromoteDeps,
): Promise<PromotionOutcome> {
  if (!open) return { status: 'nothing', reason };
  const { record } = open;
  await host.platform.closeChangeRequest(
    host.repo,
    record.number,
    `**DAG** closes this promotion: ${escapeMarkdown(reason)}.`,
  );
  const closed = await deps.store.savePromotion({ ...record, state: 'closed' });
  if (route.route.strategy === 'folder') await deleteDagBranch(route, closed, deps);
  return { status: 'nothing', reason, closed: { number: record.number, url: record.url } };
}

/** Compare of the app commits the promotion moves; a failure becomes a note, not an error. */
async function appCommits(
  deps: PromoteDeps,
  appRepo: RepoRef,
  target: string | null,
  source: string | null,
): Promise<{ commits?: Comparison; commitsNote?: string }> {
  if (!source) return {};
  if (!target)
    return { commitsNote: 'The target has no release by DAG yet: no commits to compare.' };
  if (target === source) return {};
  try {
    return { commits: await deps.appPlatform.compare(appRepo, target, source, LISTED_COMMITS) };
  } catch (error) {
    return { commitsNote: `The commits could not be listed: ${reasonOf(error)}` };
  }
}

/**
 * Reads the app repository at the promoted commit for rendering. A plain chart from the app
 * repository comes from the source environment's folder (what runs there, already read through
 * git) with the chart's own Chart.yaml and values.yaml from the app repository, so a promotion
 * costs the same few provider requests however many files the chart has.
 */
function promotionReader(
  deps: PromoteDeps,
  appRepo: RepoRef,
  sha: string,
  from: Environment,
  sourceFiles: Record<string, string>,
): SourceReader {
  const readFile = (path: string) => deps.appPlatform.readFile(appRepo, sha, path);
  return {
    readFile,
    readFolder: async (path) => {
      if (from.helmType !== 'plain') return deps.appPlatform.readFolder(appRepo, sha, path);
      const folder = path.replace(/\/+$/, '');
      const [chartYaml, values] = await Promise.all([
        readFile(`${folder}/Chart.yaml`),
        readFile(`${folder}/values.yaml`),
      ]);
      if (chartYaml === undefined) return undefined;
      const files: Record<string, string> = { ...sourceFiles, 'Chart.yaml': chartYaml };
      delete files['values.yaml'];
      return values === undefined ? files : { ...files, 'values.yaml': values };
    },
  };
}

/** The source's and the target's folders: one read when they share a repository and branch. */
async function readSourceAndTarget(
  deps: PromoteDeps,
  { from, to }: Route,
  source: { iac: Iac; token: string | null },
  target: { iac: Iac; token: string | null },
): Promise<[{ files: Record<string, string> }, { branch: string; files: Record<string, string> }]> {
  if (source.iac.id === target.iac.id && from.iacBranch === to.iacBranch) {
    const read = await deps.iac.readFolders(
      { url: target.iac.repoUrl, token: target.token, branch: to.iacBranch },
      [from.iacPath, to.iacPath],
    );
    return [
      { files: read.folders[0] ?? {} },
      { branch: read.branch, files: read.folders[1] ?? {} },
    ];
  }
  return [
    await deps.iac.read(
      { url: source.iac.repoUrl, token: source.token, branch: from.iacBranch },
      from.iacPath,
    ),
    await deps.iac.read(
      { url: target.iac.repoUrl, token: target.token, branch: to.iacBranch },
      to.iacPath,
    ),
  ];
}

async function promoteFolder(
  route: Route,
  appRepo: RepoRef,
  deps: PromoteDeps,
): Promise<PromotionOutcome> {
  const { store, app, from, to } = { store: deps.store, ...route };
  const source = await iacOf(store, from);
  const target = await iacOf(store, to);
  const [sourceFolder, targetFolder] = await readSourceAndTarget(deps, route, source, target);
  const host = await deps.iacHost(target.iac, target.token);
  const open = await openPromotion(route, host, deps, appRepo);
  const provenance = readProvenance(sourceFolder.files);
  if (!provenance) {
    return {
      status: 'nothing',
      reason: `${from.name} has no release deployed by DAG (${source.iac.name} ${from.iacPath})`,
    };
  }
  if (open?.record.handsOff) {
    return { status: 'hands-off', number: open.record.number, url: open.record.url };
  }
  const running: FolderProvenance | undefined = readProvenance(targetFolder.files);
  const bundle = await buildBundle(
    promotionReader(deps, appRepo, provenance.sha, from, sourceFolder.files),
    deps.tools,
    app,
    to,
    {
      sha: provenance.sha,
      branch: provenance.branch ?? from.branch,
      commitUrl: provenance.commitUrl ?? `${appRepo.webUrl}/commit/${provenance.sha}`,
    },
  );
  const base = targetFolder.branch;
  const head = promotionBranch(app, from, to);
  const published = await deps.iac.publishBranch(
    { url: target.iac.repoUrl, token: target.token, branch: base },
    head,
    [
      {
        path: to.iacPath,
        files: bundle.files,
        message: [
          `promote(${app.name}): ${from.name} → ${to.name} ${provenance.sha.slice(0, 7)}`,
          '',
          `Promote ${app.name}@${provenance.sha.slice(0, 12)} from ${from.name} to ${to.name}.`,
          '',
          `Dag-App: ${app.name}`,
          `Dag-Environment: ${to.name}`,
          `Dag-Promoted-From: ${from.name}`,
          `Dag-Source-Commit: ${provenance.sha}`,
          '',
        ].join('\n'),
      },
    ],
    { author: deps.author, expectedHead: open?.record.pushedHead ?? null },
  );
  if (published.status === 'foreign') {
    if (!open) {
      return {
        status: 'refused',
        reason: `branch ${head} of ${target.iac.name} has commits DAG did not push; delete it to let DAG promote again`,
      };
    }
    await host.platform.commentOnChangeRequest(
      host.repo,
      open.record.number,
      `**DAG** found commits on \`${head}\` that it did not push, so it no longer rewrites this branch. ` +
        'Merge or close this pull request by hand; the next promotion after that opens a new one.',
    );
    await store.savePromotion({ ...open.record, handsOff: true });
    return { status: 'hands-off', number: open.record.number, url: open.record.url };
  }
  if (published.status === 'nothing') {
    return closeNothingLeft(
      host,
      open,
      route,
      `${to.name} already runs what ${from.name} runs (${provenance.sha.slice(0, 7)})`,
      deps,
    );
  }
  const preview = await previewEnvironment(
    { env: to, app, current: targetFolder.files, files: bundle.files, notes: [] },
    deps,
  );
  const commits = await appCommits(deps, appRepo, running?.sha ?? null, provenance.sha);
  const body: Omit<PromotionBody, 'metadata'> = {
    app: app.name,
    from: from.name,
    to: to.name,
    strategy: 'folder',
    where: { repo: target.iac.name, head, base, path: to.iacPath },
    source: { sha: provenance.sha, url: provenance.commitUrl },
    target: { sha: running?.sha ?? null, url: running?.commitUrl ?? null },
    ...commits,
    files: published.files,
    preview,
  };
  const metadata = metadataOf(route, appRepo, provenance.sha, running?.sha ?? null);
  const { outcome } = await publish(
    host,
    open,
    {
      route,
      head,
      base,
      title: title(route, provenance.sha),
      body: (maxChars) => renderPromotionBody({ ...body, metadata }, maxChars),
      pushedHead: published.head,
      sourceSha: provenance.sha,
    },
    deps,
  );
  return outcome;
}

async function promoteBranch(
  route: Route,
  appRepo: RepoRef,
  deps: PromoteDeps,
): Promise<PromotionOutcome> {
  const { store, from, to } = { store: deps.store, ...route };
  const inIac = route.route.strategy === 'iac-branch';
  const iac = await iacOf(store, to);
  let host: ChangeRequestHost;
  let head: string;
  let base: string;
  if (inIac) {
    if (!from.iacBranch || !to.iacBranch || from.iacId !== to.iacId) {
      throw new ConfigError(
        `the iac-branch promotion from ${from.name} to ${to.name} needs both environments in one IAC repository, each with its own iac_branch`,
      );
    }
    host = await deps.iacHost(iac.iac, iac.token);
    head = from.iacBranch;
    base = to.iacBranch;
  } else {
    host = { platform: deps.appPlatform, repo: appRepo };
    head = from.branch;
    base = to.branch;
  }
  const open = await openPromotion(route, host, deps, appRepo);
  const comparison = await host.platform.compare(host.repo, base, head, LISTED_COMMITS);
  if (comparison.totalCommits === 0) {
    return closeNothingLeft(host, open, route, `${base} already has every commit of ${head}`, deps);
  }
  // What the target's folder holds now, and what it holds once the merge lands.
  const targetFolder = await deps.iac.read(
    { url: iac.iac.repoUrl, token: iac.token, branch: to.iacBranch },
    to.iacPath,
  );
  const running = readProvenance(targetFolder.files) ?? null;
  let next: Record<string, string> | undefined;
  let source: FolderProvenance | null = null;
  if (inIac) {
    next = (
      await deps.iac.read({ url: iac.iac.repoUrl, token: iac.token, branch: head }, to.iacPath)
    ).files;
    source = readProvenance(next) ?? null;
  }
  const commits = inIac
    ? await appCommits(deps, appRepo, running?.sha ?? null, source?.sha ?? null)
    : { commits: comparison };
  const bodyOf = (preview: PromotionBody['preview'], sourceSha: string | null) => {
    const metadata = metadataOf(route, appRepo, sourceSha, running?.sha ?? null);
    return (maxChars: number) =>
      renderPromotionBody(
        {
          metadata,
          app: route.app.name,
          from: from.name,
          to: to.name,
          strategy: route.route.strategy,
          where: { repo: inIac ? iac.iac.name : appRepo.fullName, head, base },
          source: {
            sha: sourceSha,
            url: sourceSha ? (source?.commitUrl ?? `${appRepo.webUrl}/commit/${sourceSha}`) : null,
          },
          target: { sha: running?.sha ?? null, url: running?.commitUrl ?? null },
          ...commits,
          files: comparison.files.map((path) => ({ path, change: 'modified' as const })),
          preview,
        },
        maxChars,
      );
  };
  const previewOf = async (files: Record<string, string>) =>
    previewEnvironment(
      { env: to, app: route.app, current: targetFolder.files, files, notes: [] },
      deps,
    );
  if (inIac) {
    const preview = await previewOf(next ?? {});
    const { outcome } = await publish(
      host,
      open,
      {
        route,
        head,
        base,
        title: title(route, source?.sha ?? null),
        body: bodyOf(preview, source?.sha ?? null),
        pushedHead: null,
        sourceSha: source?.sha ?? null,
      },
      deps,
    );
    return outcome;
  }
  // In the app repository the promoted commit is the head of the pull request: open it (or
  // find it) first, then describe it with the preview rendered at that commit.
  let request = open?.request;
  let opened: PromotionOutcome | undefined;
  if (!request) {
    const first = await publish(
      host,
      undefined,
      {
        route,
        head,
        base,
        title: title(route, null),
        body: bodyOf(undefined, null),
        pushedHead: null,
        sourceSha: null,
      },
      deps,
    );
    if (!first.request) return first.outcome;
    request = first.request;
    opened = first.outcome;
  }
  const pr = request;
  const reader: SourceReader = {
    readFile: (path) => deps.appPlatform.readFile(appRepo, pr.headSha, path),
    readFolder: (path) => deps.appPlatform.readFolder(appRepo, pr.headSha, path),
  };
  const bundle = await buildBundle(reader, deps.tools, route.app, to, {
    sha: pr.headSha,
    branch: head,
    commitUrl: `${appRepo.webUrl}/commit/${pr.headSha}`,
  });
  const preview = await previewOf(bundle.files);
  const record =
    open?.record ?? (await store.findPromotionByPullRequest(host.repo.webUrl, pr.number));
  const updated = await publish(
    host,
    record ? { record, request: pr } : undefined,
    {
      route,
      head,
      base,
      title: title(route, pr.headSha),
      body: bodyOf(preview, pr.headSha),
      pushedHead: null,
      sourceSha: pr.headSha,
    },
    deps,
  );
  return opened ?? updated.outcome;
}

function answer(outcome: PromotionOutcome, route: Route): { ok: boolean; text: string } {
  const what = `${route.app.name} from **${escapeMarkdown(route.from.name)}** to **${escapeMarkdown(route.to.name)}**`;
  switch (outcome.status) {
    case 'opened':
      return { ok: true, text: `**DAG** opened the promotion of ${what}: ${outcome.url}` };
    case 'updated':
      return { ok: true, text: `**DAG** updated the promotion of ${what}: ${outcome.url}` };
    case 'merged':
      return { ok: true, text: `**DAG** reported the merged promotion of ${what}: ${outcome.url}` };
    case 'hands-off':
      return {
        ok: false,
        text: `**DAG** leaves the promotion of ${what} as it is: a person pushed to its branch. Merge or close ${outcome.url} first.`,
      };
    case 'nothing':
      return {
        ok: true,
        text: `**DAG**: nothing to promote ${what}: ${escapeMarkdown(outcome.reason)}.${outcome.closed ? ` It closed ${outcome.closed.url}.` : ''}`,
      };
    case 'refused':
      return {
        ok: false,
        text: `**DAG** cannot promote ${what}: ${escapeMarkdown(outcome.reason)}.`,
      };
  }
}

async function reply(
  request: PromotionRequest,
  deps: PromoteDeps,
  result: { ok: boolean; text: string },
): Promise<void> {
  const { origin } = request;
  const platform = deps.appPlatform;
  if (origin.kind !== 'command' || !platform.upsertComments || !platform.react) return;
  await platform.upsertComments(request.appRepo, origin.number, 'promote', [result.text]);
  await platform.react(request.appRepo, origin.commentId, result.ok ? '+1' : '-1');
}

/**
 * Opens or updates the promotion pull request of one route, or closes it when nothing is left
 * to promote; records a merge since the last look and reports the target's deploy. Run per
 * route one at a time (the promote queue groups by route). A /promote gets its answer here.
 */
export async function runPromotion(
  request: PromotionRequest,
  deps: PromoteDeps & { lastAttempt: boolean },
): Promise<PromotionOutcome> {
  const route = await loadRoute(request.routeId, deps.store);
  if (!route) {
    deps.log.info({ route: request.routeId }, 'promotion route removed; nothing to promote');
    return { status: 'refused', reason: 'the promotion route was removed' };
  }
  let outcome: PromotionOutcome;
  try {
    if (request.origin.kind === 'merged') {
      const host =
        route.route.strategy === 'app-branch'
          ? { platform: deps.appPlatform, repo: request.appRepo }
          : await (async () => {
              const { iac, token } = await iacOf(deps.store, route.to);
              return deps.iacHost(iac, token);
            })();
      await openPromotion(route, host, deps, request.appRepo);
      outcome = { status: 'merged', number: request.origin.number, url: '' };
    } else {
      outcome =
        route.route.strategy === 'folder'
          ? await promoteFolder(route, request.appRepo, deps)
          : await promoteBranch(route, request.appRepo, deps);
    }
  } catch (error) {
    const permanent =
      error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
    deps.log.warn({ err: error, route: route.route.id, permanent }, 'promotion failed');
    if (permanent || deps.lastAttempt) {
      const reason = deps.mask(reasonOf(error));
      await reply(request, deps, answer({ status: 'refused', reason }, route));
      if (permanent) return { status: 'refused', reason };
    }
    throw error;
  }
  deps.log.info(
    { route: route.route.id, status: outcome.status, origin: request.origin.kind },
    'promotion done',
  );
  await reply(request, deps, answer(outcome, route));
  return outcome;
}

/** One job per route and reason: a redelivered webhook or a repeated deploy is the same job. */
export function promotionJobKey(request: PromotionRequest): string {
  const { origin } = request;
  const why =
    origin.kind === 'command'
      ? `comment-${origin.commentId}`
      : origin.kind === 'deploy'
        ? `deploy-${origin.sha}`
        : `merged-${origin.repoUrl}#${origin.number}`;
  return `route-${request.routeId}:${why}`;
}

/** The promotions a successful deploy starts: one per automatic route leaving its environment. */
export async function automaticPromotions(
  store: PromotionStore,
  deployed: { environmentId: number; sha: string; repo: RepoRef },
): Promise<PromotionRequest[]> {
  const routes = await store.listRoutes();
  return routes
    .filter((route) => route.automatic && route.fromEnvironmentId === deployed.environmentId)
    .map((route) => ({
      routeId: route.id,
      appRepo: deployed.repo,
      origin: { kind: 'deploy', sha: deployed.sha },
    }));
}
