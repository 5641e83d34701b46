// How each strategy builds the promotion: `folder` renders the source's release with the
// target's values on DAG's own IAC branch; `iac-branch` and `app-branch` propose the source's
// branch to the target's.

import { ConfigError, reasonOf } from '../errors.ts';
import type { RepoRef } from '../events/types.ts';
import type { ChangeRequest, Comparison, RequestNoun } from '../platform/types.ts';
import { readProvenance, type FolderProvenance } from '../render/provenance.ts';
import type { PromotionRecord } from '../store/types.ts';
import { buildBundle, type SourceReader } from './deploy.ts';
import { previewEnvironment } from './diff.ts';
import { LISTED_COMMITS, renderPromotionBody, type PromotionBody } from './promotion-body.ts';
import {
  closeNothingLeft,
  handsOffNote,
  iacOf,
  metadataOf,
  openPromotion,
  pendingPromotion,
  publish,
  recordPush,
} from './promotion-pr.ts';
import type { ChangeRequestHost, PromoteDeps, PromotionOutcome, Route } from './promotion-types.ts';
import {
  branchPromotion,
  branchPromotionProblem,
  type App,
  type Environment,
  type Iac,
} from '../model.ts';

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

export async function promoteFolder(
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
  let pending = open ? undefined : await pendingPromotion(store, route);
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
  // Commits, not bytes: the target's folder differs from a new render wherever the source was
  // built from another app branch (its `source-branch`), which is no reason to promote.
  if (running?.sha === provenance.sha) {
    return closeNothingLeft(
      host,
      open,
      route,
      `${to.name} already runs commit ${provenance.sha.slice(0, 7)} of ${app.name}, the one ${from.name} runs`,
      deps,
      pending,
    );
  }
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
    // What DAG pushed last: recorded right after each push, before the pull request is asked
    // for, so a run that stopped in between knows this branch as its own.
    { author: deps.author, expectedHead: (open?.record ?? pending)?.pushedHead ?? null },
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
      handsOffNote(head, host.platform.changeRequestNoun),
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
      pending,
    );
  }
  pending = await recordPush(
    open,
    pending,
    route,
    {
      repoUrl: host.repo.webUrl,
      head,
      base,
      pushedHead: published.head,
      sourceSha: provenance.sha,
    },
    deps,
  );
  const preview = await previewEnvironment(
    { env: to, app, current: targetFolder.files, files: bundle.files, notes: [] },
    deps,
  );
  const commits = await appCommits(deps, appRepo, running?.sha ?? null, provenance.sha);
  const body: Omit<PromotionBody, 'metadata' | 'noun'> = {
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
    sourceHealth: await deps.health?.(from.id),
  };
  const metadata = metadataOf(route, appRepo, provenance.sha, running?.sha ?? null);
  const { outcome } = await publish(
    host,
    open,
    route,
    {
      head,
      base,
      body: (maxChars, noun) =>
        renderPromotionBody({ ...body, metadata, noun }, maxChars, deps.mask),
      pushedHead: published.head,
      sourceSha: provenance.sha,
      pending,
    },
    deps,
  );
  return outcome;
}

export async function promoteBranch(
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
    // From the branch DAG writes for the source into the one the target's cluster reconciles.
    const problem = branchPromotionProblem(from, to, (id) =>
      id === iac.iac.id ? iac.iac.name : `IAC repository ${id}`,
    );
    const branches = branchPromotion(from, to);
    if (problem || !branches.head || !branches.base) {
      throw new ConfigError(problem ?? `the iac-branch promotion of ${from.name} has no branches`);
    }
    host = await deps.iacHost(iac.iac, iac.token);
    head = branches.head;
    base = branches.base;
  } else {
    host = { platform: deps.appPlatform, repo: appRepo };
    head = from.branch;
    base = to.branch;
  }
  const open = await openPromotion(route, host, deps, appRepo);
  // Left by a `folder` promotion before the route's strategy changed: its record is reused.
  const pending = open ? undefined : await pendingPromotion(store, route);
  const comparison = await host.platform.compare(host.repo, base, head, LISTED_COMMITS);
  if (comparison.totalCommits === 0) {
    return closeNothingLeft(
      host,
      open,
      route,
      `${base} already has every commit of ${head}`,
      deps,
      pending,
    );
  }
  // What the target's folder holds now (on the branch its cluster reconciles), and what it
  // holds once the merge lands.
  const targetFolder = await deps.iac.read(
    { url: iac.iac.repoUrl, token: iac.token, branch: inIac ? base : to.iacBranch },
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
  const sourceHealth = await deps.health?.(from.id);
  const bodyOf = (preview: PromotionBody['preview'], sourceSha: string | null) => {
    const metadata = metadataOf(route, appRepo, sourceSha, running?.sha ?? null);
    return (maxChars: number, noun: RequestNoun) =>
      renderPromotionBody(
        {
          metadata,
          noun,
          app: route.app.name,
          from: from.name,
          to: to.name,
          strategy: route.route.strategy,
          where: {
            repo: inIac ? iac.iac.name : appRepo.fullName,
            head,
            base,
            reconciled: inIac ? base : undefined,
          },
          source: {
            sha: sourceSha,
            url: sourceSha ? (source?.commitUrl ?? `${appRepo.webUrl}/commit/${sourceSha}`) : null,
          },
          target: { sha: running?.sha ?? null, url: running?.commitUrl ?? null },
          ...commits,
          files: comparison.files.map((path) => ({ path, change: 'modified' as const })),
          preview,
          sourceHealth,
        },
        maxChars,
        deps.mask,
      );
  };
  const previewOf = async (files: Record<string, string>) =>
    previewEnvironment(
      { env: to, app: route.app, current: targetFolder.files, files, notes: [] },
      deps,
    );
  // Branch promotions push nothing: the pull request is between the environments' branches.
  const propose = (
    current: { record: PromotionRecord; request: ChangeRequest } | undefined,
    preview: PromotionBody['preview'],
    sourceSha: string | null,
  ) =>
    publish(
      host,
      current,
      route,
      { head, base, body: bodyOf(preview, sourceSha), pushedHead: null, sourceSha, pending },
      deps,
    );
  if (inIac) {
    const sourceSha = source?.sha ?? null;
    return (await propose(open, await previewOf(next ?? {}), sourceSha)).outcome;
  }
  // In the app repository the promoted commit is the head of the pull request: open it (or
  // find it) first, then describe it with the preview rendered at that commit.
  let request = open?.request;
  let opened: PromotionOutcome | undefined;
  if (!request) {
    const first = await propose(undefined, undefined, null);
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
  const record =
    open?.record ?? (await store.findPromotionByPullRequest(host.repo.webUrl, pr.number));
  const updated = await propose(
    record ? { record, request: pr } : undefined,
    await previewOf(bundle.files),
    pr.headSha,
  );
  return opened ?? updated.outcome;
}
