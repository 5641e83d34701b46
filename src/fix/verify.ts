import { applyPatch, parsePatch } from 'diff';
import type { StructuredPatch, StructuredPatchHunk } from 'diff';
import { UserError } from '../errors.ts';
import type { EnvironmentDiff } from '../diff/comment-model.ts';
import { maskDiffText, maskText } from '../diff/mask-text.ts';
import { unifiedDiff } from '../diff/unified.ts';
import { parseValuesFile, parseYamlDocuments } from '../render/yaml.ts';
import { buildBundle } from '../workflows/deploy.ts';
import type { BundleTools, SourceReader } from '../workflows/deploy.ts';
import { patchValuesText } from './merge-patch.ts';
import {
  allowedPaths,
  outsideMessage,
  pathRole,
  unsafePath,
  type AllowedPaths,
  type PathRole,
} from './paths.ts';
import {
  changeRepository,
  PROPOSAL_LIMITS,
  type FieldError,
  type ProposalChange,
} from './proposal.ts';
import type { App, Environment } from '../model.ts';

/** What a path is in the repository, where the reader can tell (a tree entry's type). */
export type EntryKind = 'file' | 'folder' | 'symlink' | 'submodule';

/**
 * The app repository at the environment branch's tip. `entryKind` is optional: the platforms'
 * readFile/readFolder follow or flatten symlinks (a symlink is a blob to them), so without it a
 * symlink in the way of a changed path is not detected, and the checks say so.
 */
export type VerifyReader = SourceReader & {
  entryKind?(path: string): Promise<EntryKind | undefined>;
};

/** A dry run's verdict, with the live diff it computed where it got that far. */
export type DryRunResult =
  | { status: 'passed'; preview?: EnvironmentDiff }
  | { status: 'failed'; errors: string[]; preview?: EnvironmentDiff }
  | { status: 'unreachable'; reason: string; preview?: EnvironmentDiff };

export type VerifyDeps = {
  reader: VerifyReader;
  /** The deploy's own renderer and values reader. */
  tools: BundleTools;
  /** The app's environments (ConfigStore fits). */
  store: { listEnvironments(appRef?: string): Promise<Environment[]> };
  /**
   * Problems of a rendered bundle the renderer does not check itself: for a flux bundle, its
   * objects against the Flux CRD schemas. Empty: valid.
   */
  validateBundle?: (env: Environment, files: Record<string, string>) => Promise<string[]>;
  /** A server-side dry run of the environment's rendered objects, where the cluster is reachable. */
  dryRun?: (app: App, env: Environment, files: Record<string, string>) => Promise<DryRunResult>;
  /** Scrubs secrets from echoed text; maskText by default. */
  mask?: (text: string) => string;
};

export type VerifyInput = {
  app: App;
  environment: Environment;
  change: ProposalChange;
  /** The environment branch's tip the change is made against (as a deploy's source). */
  tip: { sha: string; branch: string; commitUrl: string };
};

/** A file's text before and after the change; null: the file does not exist on that side. */
export type FileChange = { before: string | null; after: string | null };

export type BundlePair = { before: Record<string, string> | null; after: Record<string, string> };

export type VerifyStatus = 400 | 404 | 409 | 413 | 422;

export type Verified = {
  ok: true;
  /**
   * Where the change is written: the app repository, as DAG renders the environment from it, or
   * the environment's IAC repository, outside every folder DAG renders.
   */
  where: 'app-repo' | 'iac-repo';
  /** For an IAC-repository change: that repository, its branch and the tip verified against. */
  iac?: { repo: string; branch: string; sha: string };
  /** Changed paths (repository-relative), sorted. */
  changedFiles: Record<string, FileChange>;
  /** The change as a unified diff against the tip (credentials masked). */
  sourceDiff: string;
  /** Every environment of the app rendered before and after; before null: it did not render. */
  bundles: Record<string, BundlePair>;
  /** The other environments whose bundle the change leaves as it is. */
  unchangedEnvironments: string[];
  /** What was checked, one line each, for the pull request's body. */
  checks: string[];
  /** The target environment's live dry-run diff, where a dry run computed one. */
  live?: EnvironmentDiff;
};

export type VerifyFailure = { ok: false; status: VerifyStatus; errors: FieldError[] };

export type VerifyResult = Verified | VerifyFailure;

/** Lines of a failing hunk echoed in a 409. */
const HUNK_ECHO_LINES = 20;

class Refusal extends Error {
  readonly status: VerifyStatus;
  readonly errors: FieldError[];

  constructor(status: VerifyStatus, errors: FieldError[]) {
    super(errors.map((e) => `${e.field}: ${e.message}`).join('; '));
    this.status = status;
    this.errors = errors;
  }
}

type Rendered = { files: Record<string, string> } | { error: string };

const refuse = (status: VerifyStatus, field: string, message: string) =>
  new Refusal(status, [{ field, message }]);

type Changed = FileChange & { field: string; role: PathRole };

/** Which paths a change may write, and what each is: the app repository's or the IAC's rules. */
type PathRules = {
  /** Throws the refusal for a path the change may not write. */
  check(path: string, field: string): void;
  role(path: string): PathRole;
  /** The app's values files, for a values patch (app repository only). */
  values?: AllowedPaths;
};

function appRules(allowed: AllowedPaths): PathRules {
  return {
    check: (path, field) => checkPath(path, field, allowed),
    role: (path) => pathRole(path, allowed),
    values: allowed,
  };
}

/**
 * Verifies a fix proposal for a DAG-managed environment before anything is written: the paths it
 * changes, that it applies to the tip, that every changed file reads as YAML, that the
 * environment renders with it (the deploy's renderer) and validates, that the app's other
 * environments render unchanged unless the change says it is for every environment (`base`),
 * and, where a dry run is given, that the cluster accepts the result. Pure apart from `deps`.
 * Problems in the proposal are answers (`ok: false`); DAG's own failures (configuration, a
 * provider down) are thrown.
 */
export async function verifyProposal(input: VerifyInput, deps: VerifyDeps): Promise<VerifyResult> {
  try {
    return await verify(input, deps);
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, status: error.status, errors: error.errors };
    throw error;
  }
}

/**
 * The checks of a proposal that need no repository, run before anything is read or recorded:
 * the paths a `files` change or a diff names (safe, inside what the environment renders from,
 * in scope; for the IAC repository, safe only), and the YAML of every file whose whole new content is known without the tip (a
 * `files` change's, a file a diff creates). What only the tip can tell is left to
 * verifyProposal. Answers as verifyProposal does, or undefined when it finds nothing.
 */
export function precheckProposal(
  input: Pick<VerifyInput, 'app' | 'environment' | 'change'>,
  mask: (text: string) => string = maskText,
): VerifyFailure | undefined {
  const { app, environment, change } = input;
  if (change.kind === 'values-patch') return undefined;
  try {
    const allowed = allowedPaths(app, environment);
    // Which IAC folders DAG renders needs the configuration: verifyIacProposal checks that.
    const iac = changeRepository(change) === 'iac';
    const rules = iac ? iacRules([]) : appRules(allowed);
    const changed = new Map<string, Changed>();
    const add = (path: string, field: string, after: string) =>
      changed.set(path, { before: null, after, field, role: rules.role(path) });
    if (change.kind === 'files') {
      for (const [index, file] of change.files.entries()) {
        const field = `change.files[${index}].path`;
        rules.check(file.path, field);
        add(file.path, field, file.content);
      }
    } else {
      let patches: StructuredPatch[];
      try {
        patches = parsePatch(change.diff);
      } catch {
        return undefined; // verifyProposal says what is wrong with it
      }
      for (const patch of patches) {
        const oldName = fileName(patch.oldFileName, 'a/');
        const newName = fileName(patch.newFileName, 'b/');
        for (const name of [oldName, newName]) {
          if (name !== undefined) rules.check(name, 'change.diff');
        }
        const created = oldName === undefined ? applyPatch('', patch) : false;
        if (newName !== undefined && created !== false) add(newName, 'change.diff', created);
      }
    }
    if (changed.size > 0) {
      if (!iac) checkScope(changed, allowed, change.base === true);
      checkYaml(changed, iac ? null : allowed.chartFolder, mask);
    }
    return undefined;
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, status: error.status, errors: error.errors };
    throw error;
  }
}

async function verify(input: VerifyInput, deps: VerifyDeps): Promise<Verified> {
  const { app, environment: env, change, tip } = input;
  const mask = deps.mask ?? maskText;
  if (env.appId !== app.id) {
    throw refuse(404, 'target.environment', `app ${app.name} has no environment ${env.name}`);
  }
  const reader = cachedReader(deps.reader);
  const allowed = allowedPaths(app, env);
  const base = change.base === true;
  const checks: string[] = [];

  const changed = await resolveChange(change, reader, appRules(allowed), mask);
  checkScope(changed, allowed, base);
  await checkEntries(changed, reader, checks);
  checkSizes(changed);
  checkYaml(changed, allowed.chartFolder, mask);
  checks.push(
    `paths: ${[...changed.keys()].join(', ')} (inside ${describeAllowed(allowed)}); every changed YAML file parses`,
  );

  const overlay = overlayReader(reader, changed);
  const render = async (target: Environment, from: SourceReader): Promise<Rendered> => {
    try {
      return { files: (await buildBundle(from, deps.tools, app, target, tip)).files };
    } catch (error) {
      if (error instanceof UserError) return { error: mask(error.message) };
      throw error;
    }
  };

  const bundles: Record<string, BundlePair> = {};
  const [before, after] = await Promise.all([render(env, reader), render(env, overlay)]);
  if ('error' in after) {
    throw refuse(422, 'change', `${env.name} does not render with the change: ${after.error}`);
  }
  bundles[env.name] = { before: 'files' in before ? before.files : null, after: after.files };
  await validate(deps, env, after.files, mask);
  checks.push(
    `render: ${env.name} renders with the deploy's renderer${sameFiles(before, after) ? ' (its bundle is unchanged)' : ''}${deps.validateBundle ? ' and validates' : ''}`,
  );

  const others = (await deps.store.listEnvironments(String(app.id))).filter(
    (other) => other.appId === app.id && other.id !== env.id,
  );
  const unchangedEnvironments: string[] = [];
  const reached: string[] = [];
  for (const other of others) {
    const [was, will] = await Promise.all([render(other, reader), render(other, overlay)]);
    if ('error' in will) {
      if ('error' in was && was.error === will.error) {
        unchangedEnvironments.push(other.name);
        continue;
      }
      throw refuse(422, 'change', `${other.name} does not render with the change: ${will.error}`);
    }
    bundles[other.name] = { before: 'files' in was ? was.files : null, after: will.files };
    if (sameFiles(was, will)) unchangedEnvironments.push(other.name);
    else reached.push(other.name);
  }
  if (reached.length > 0 && !base) {
    throw refuse(
      422,
      'change',
      `changes the bundle of ${reached.join(', ')}, which the proposal does not target; set change.base to true if the change is meant for every environment`,
    );
  }
  for (const name of reached) {
    const other = others.find((o) => o.name === name) as Environment;
    await validate(deps, other, (bundles[name] as BundlePair).after, mask);
  }
  checks.push(
    others.length === 0
      ? 'scope: the app has no other environment'
      : `scope: ${unchangedEnvironments.length ? `${unchangedEnvironments.join(', ')} render unchanged` : 'no other environment renders unchanged'}${reached.length ? `; ${reached.join(', ')} change too (base)` : ''}`,
  );

  let live: EnvironmentDiff | undefined;
  if (deps.dryRun) {
    const result = await deps.dryRun(input.app, env, after.files);
    live = result.preview;
    if (result.status === 'failed') {
      throw new Refusal(
        422,
        result.errors.map((message) => ({
          field: 'change',
          message: `the cluster refuses ${env.name}'s bundle in a server-side dry run: ${mask(message)}`,
        })),
      );
    }
    checks.push(
      result.status === 'passed'
        ? `dry run: the cluster accepts ${env.name}'s objects (server-side, dryRun=All)`
        : `dry run: not run (${mask(result.reason)})`,
    );
  } else {
    checks.push('dry run: not run (no cluster given)');
  }

  return {
    ok: true,
    where: 'app-repo',
    ...sourceChange(changed),
    bundles,
    unchangedEnvironments,
    checks,
    ...(live ? { live } : {}),
  };
}

/** The changed files, sorted, and the change as one unified diff against the tip (masked). */
function sourceChange(changed: Map<string, Changed>): {
  changedFiles: Record<string, FileChange>;
  sourceDiff: string;
} {
  const changedFiles: Record<string, FileChange> = {};
  const diffs: string[] = [];
  for (const path of [...changed.keys()].sort()) {
    const file = changed.get(path) as Changed;
    changedFiles[path] = { before: file.before, after: file.after };
    diffs.push(
      unifiedDiff(file.before ?? '', file.after ?? '', {
        path,
        ...(file.before === null ? { oldHeader: '/dev/null' } : {}),
        ...(file.after === null ? { newHeader: '/dev/null' } : {}),
      }).text,
    );
  }
  return { changedFiles, sourceDiff: maskDiffText(diffs.join('')) };
}

export type VerifyIacInput = {
  environment: Environment;
  change: ProposalChange;
  /** The IAC repository (its name), and the tip of the environment's IAC branch. */
  repo: string;
  tip: VerifyInput['tip'];
  /** Every folder DAG renders into this repository (any app's environments). */
  rendered: readonly RenderedFolder[];
};

/**
 * Verifies a fix proposal for the IAC repository of the target environment (`repository:
 * 'iac'`): its paths are safe and outside every folder DAG renders into that repository (DAG's
 * deploys would overwrite them), it applies to the IAC branch's tip, and every changed YAML file
 * parses. Nothing is rendered or dry-run: DAG does not know which reconciler applies these files.
 * Answers as verifyProposal does.
 */
export async function verifyIacProposal(
  input: VerifyIacInput,
  deps: { reader: VerifyReader; mask?: (text: string) => string },
): Promise<VerifyResult> {
  const mask = deps.mask ?? maskText;
  const { environment: env, tip, repo } = input;
  try {
    const checks: string[] = [];
    const reader = cachedReader(deps.reader);
    const changed = await resolveChange(input.change, reader, iacRules(input.rendered), mask);
    await checkEntries(changed, reader, checks);
    checkSizes(changed);
    checkYaml(changed, null, mask);
    const folders = [...new Set(input.rendered.map((r) => `${r.folder}/`))].sort();
    checks.unshift(
      `paths: ${[...changed.keys()].join(', ')} (in ${repo} on ${tip.branch}, outside every folder DAG renders there: ${folders.join(', ') || 'none'}); every changed YAML file parses`,
    );
    checks.push(
      `scope: ${env.name}'s IAC repository ${repo} only; DAG renders nothing from these files`,
      'dry run: not run (DAG does not know which reconciler applies these files)',
    );
    return {
      ok: true,
      where: 'iac-repo',
      iac: { repo, branch: tip.branch, sha: tip.sha },
      ...sourceChange(changed),
      bundles: {},
      unchangedEnvironments: [],
      checks,
    };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, status: error.status, errors: error.errors };
    throw error;
  }
}

/** The files the change writes, with their content at the tip and after the change. */
async function resolveChange(
  change: ProposalChange,
  reader: SourceReader,
  rules: PathRules,
  mask: (text: string) => string,
): Promise<Map<string, Changed>> {
  const out = new Map<string, Changed>();
  const add = (path: string, field: string, before: string | undefined, after: string | null) => {
    out.set(path, { before: before ?? null, after, field, role: rules.role(path) });
  };
  switch (change.kind) {
    case 'values-patch': {
      const allowed = rules.values;
      if (!allowed) throw refuse(422, 'change.kind', 'a values patch changes the app repository');
      const path = change.base === true ? allowed.baseValues : allowed.environmentValues;
      const before = await reader.readFile(path);
      let text: string;
      try {
        text = patchValuesText(before, change.patch, path).text;
      } catch (error) {
        throw refuse(422, 'change.patch', mask(errorText(error)));
      }
      add(path, 'change.patch', before, text);
      return out;
    }
    case 'files': {
      for (const [index, file] of change.files.entries()) {
        const field = `change.files[${index}].path`;
        rules.check(file.path, field);
        add(file.path, field, await reader.readFile(file.path), file.content);
      }
      return out;
    }
    case 'diff': {
      let patches: StructuredPatch[];
      try {
        patches = parsePatch(change.diff);
      } catch (error) {
        throw refuse(400, 'change.diff', `is not a unified diff: ${mask(errorText(error))}`);
      }
      patches = patches.filter((p) => p.hunks.length > 0 || p.oldFileName || p.newFileName);
      if (patches.length === 0) throw refuse(400, 'change.diff', 'changes no file');
      if (patches.length > PROPOSAL_LIMITS.files) {
        throw refuse(
          413,
          'change.diff',
          `changes ${patches.length} files; the limit is ${PROPOSAL_LIMITS.files}`,
        );
      }
      for (const patch of patches) {
        const { path, before, after } = await applyOne(patch, reader, rules);
        if (out.has(path)) throw refuse(400, 'change.diff', `${path}: changed twice in the diff`);
        add(path, 'change.diff', before, after);
      }
      return out;
    }
  }
}

async function applyOne(
  patch: StructuredPatch,
  reader: SourceReader,
  rules: PathRules,
): Promise<{ path: string; before: string | undefined; after: string | null }> {
  const field = 'change.diff';
  const oldName = fileName(patch.oldFileName, 'a/');
  const newName = fileName(patch.newFileName, 'b/');
  const path = newName ?? oldName;
  if (path === undefined) throw refuse(400, field, 'a file in the diff has no name');
  const named = (message: string) => `${JSON.stringify(path)} ${message}`;
  for (const name of [oldName, newName]) if (name !== undefined) rules.check(name, field);
  if (patch.isRename || patch.isCopy || (oldName && newName && oldName !== newName)) {
    throw refuse(422, field, named('is renamed or copied; only edits in place are accepted'));
  }
  if (patch.isBinary) throw refuse(422, field, named('is a binary change'));
  for (const mode of [patch.oldMode, patch.newMode]) {
    if (mode !== undefined && mode !== '100644') {
      throw refuse(
        422,
        field,
        named(`has mode ${mode}; only regular files (100644) are accepted, no symlinks`),
      );
    }
  }
  const before = await reader.readFile(path);
  const creates = oldName === undefined || patch.isCreate === true;
  const deletes = newName === undefined || patch.isDelete === true;
  if (creates && before !== undefined) {
    throw refuse(409, field, named('is created by the diff but exists at the tip'));
  }
  if (!creates && before === undefined) {
    throw refuse(409, field, named('does not exist at the tip'));
  }
  const applied = applyPatch(before ?? '', patch);
  if (applied === false) {
    throw refuse(
      409,
      field,
      named(`does not apply to the tip: ${failingHunk(before ?? '', patch)}`),
    );
  }
  if (deletes) {
    if (applied !== '') throw refuse(409, field, named('is deleted but the tip has more in it'));
    return { path, before, after: null };
  }
  return { path, before, after: applied };
}

/** `a/x` -> `x`; `/dev/null` -> undefined. */
function fileName(name: string | undefined, prefix: string): string | undefined {
  if (name === undefined || name === '/dev/null' || name === '') return undefined;
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}

/** The first hunk that does not apply once the ones before it did, as a short diff excerpt. */
function failingHunk(text: string, patch: StructuredPatch): string {
  let hunk: StructuredPatchHunk | undefined;
  for (let i = 1; i <= patch.hunks.length; i++) {
    if (applyPatch(text, { ...patch, hunks: patch.hunks.slice(0, i) }) === false) {
      hunk = patch.hunks[i - 1];
      break;
    }
  }
  hunk ??= patch.hunks[0];
  if (hunk === undefined) return 'it has no hunk';
  const lines = hunk.lines.slice(0, HUNK_ECHO_LINES);
  const more =
    hunk.lines.length > lines.length ? `\n… ${hunk.lines.length - lines.length} more lines` : '';
  const header = `@@ -${hunk.oldStart},${hunk.oldLines} +${hunk.newStart},${hunk.newLines} @@`;
  return `hunk ${header} does not match:\n${maskDiffText(lines.join('\n'))}${more}`;
}

/** A folder DAG renders into an IAC repository, and whose it is. */
export type RenderedFolder = { app: string; environment: string; folder: string };

/** IAC-repository paths: safe, and outside every folder DAG renders (its deploys replace them). */
function iacRules(rendered: readonly RenderedFolder[]): PathRules {
  return {
    check(path, field) {
      const problem = unsafePath(path);
      if (problem)
        throw refuse(problem.status, field, `${JSON.stringify(path)} ${problem.message}`);
      for (const { app, environment, folder } of rendered) {
        const inside = folder === '' || path === folder || path.startsWith(`${folder}/`);
        if (!inside) continue;
        throw refuse(
          422,
          field,
          `${JSON.stringify(path)} is inside ${folder || 'the repository root'}, the folder DAG renders for ${app} ${environment}: its next deploy would overwrite the change; change the app repository instead`,
        );
      }
    },
    role: () => 'outside',
  };
}

function checkPath(path: string, field: string, allowed: AllowedPaths): void {
  const problem = unsafePath(path);
  if (problem) throw refuse(problem.status, field, `${JSON.stringify(path)} ${problem.message}`);
  if (pathRole(path, allowed) === 'outside') {
    throw refuse(422, field, `${JSON.stringify(path)} ${outsideMessage(allowed)}`);
  }
}

/** The base values and the chart reach every environment: only with `base`. */
function checkScope(changed: Map<string, Changed>, allowed: AllowedPaths, base: boolean): void {
  for (const [path, file] of changed) {
    if (file.role === 'outside') {
      throw refuse(422, file.field, `${JSON.stringify(path)} ${outsideMessage(allowed)}`);
    }
    if ((file.role === 'base-values' || file.role === 'chart') && !base) {
      const what = file.role === 'chart' ? "the app's chart" : 'the base values';
      throw refuse(
        422,
        file.field,
        `${JSON.stringify(path)} is ${what}, read by every environment; set change.base to true if the change is meant for every environment`,
      );
    }
  }
}

/** No symlink or submodule on the way to a changed path, where the reader can tell. */
async function checkEntries(
  changed: Map<string, Changed>,
  reader: VerifyReader,
  checks: string[],
): Promise<void> {
  if (!reader.entryKind) {
    checks.push('symlinks: not checked (the repository reader does not tell entry types)');
    return;
  }
  for (const [path, file] of changed) {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      const kind = await reader.entryKind(prefix);
      const last = i === parts.length;
      if (kind === 'symlink' || kind === 'submodule' || (last && kind === 'folder')) {
        throw refuse(
          422,
          file.field,
          `${JSON.stringify(path)}: ${prefix} is a ${kind} in the repository; only regular files are written`,
        );
      }
      if (!last && kind === 'file') {
        throw refuse(422, file.field, `${JSON.stringify(path)}: ${prefix} is a file, not a folder`);
      }
    }
  }
  checks.push('symlinks: no changed path is or goes through a symlink or submodule');
}

function checkSizes(changed: Map<string, Changed>): void {
  if (changed.size > PROPOSAL_LIMITS.files) {
    throw refuse(
      413,
      'change',
      `changes ${changed.size} files; the limit is ${PROPOSAL_LIMITS.files}`,
    );
  }
  let total = 0;
  for (const [path, file] of changed) {
    const bytes = Buffer.byteLength(file.after ?? '', 'utf8');
    total += bytes;
    if (bytes > PROPOSAL_LIMITS.fileBytes) {
      throw refuse(
        413,
        file.field,
        `${JSON.stringify(path)} would be ${bytes} bytes; the limit is ${PROPOSAL_LIMITS.fileBytes}`,
      );
    }
  }
  if (total > PROPOSAL_LIMITS.filesTotalBytes) {
    throw refuse(
      413,
      'change',
      `the changed files would hold ${total} bytes; the limit is ${PROPOSAL_LIMITS.filesTotalBytes}`,
    );
  }
}

/**
 * Values files read as a deploy reads them (parseValuesFile: one mapping, Helm's YAML 1.1, alias
 * and size limits). A chart's other YAML files parse as YAML; its templates are Go templates,
 * checked by rendering (plain environments) only.
 */
function checkYaml(
  changed: Map<string, Changed>,
  chartFolder: string | null,
  mask: (text: string) => string,
): void {
  for (const [path, file] of changed) {
    if (file.after === null || file.after === file.before) continue;
    try {
      if (file.role === 'environment-values' || file.role === 'base-values') {
        parseValuesFile(file.after, path);
      } else if (
        /\.ya?ml$/.test(path) &&
        !(chartFolder !== null && path.startsWith(`${chartFolder}/templates/`))
      ) {
        parseYamlDocuments(file.after, path);
      }
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      throw refuse(422, file.field, mask(error.message));
    }
  }
  if ([...changed.values()].every((file) => file.after === file.before)) {
    throw refuse(422, 'change', 'changes nothing at the tip');
  }
}

async function validate(
  deps: VerifyDeps,
  env: Environment,
  files: Record<string, string>,
  mask: (text: string) => string,
): Promise<void> {
  if (!deps.validateBundle) return;
  const problems = await deps.validateBundle(env, files);
  if (problems.length === 0) return;
  throw new Refusal(
    422,
    problems.map((problem) => ({
      field: 'change',
      message: `${env.name}'s bundle does not validate: ${mask(problem)}`,
    })),
  );
}

function sameFiles(a: Rendered, b: Rendered): boolean {
  if (!('files' in a) || !('files' in b)) return false;
  const keys = Object.keys(a.files);
  return (
    keys.length === Object.keys(b.files).length &&
    keys.every((key) => a.files[key] === b.files[key])
  );
}

function describeAllowed(allowed: AllowedPaths): string {
  return allowed.chartFolder === null
    ? `${allowed.environmentValues} and ${allowed.baseValues}`
    : `${allowed.environmentValues}, ${allowed.baseValues} and ${allowed.chartFolder}/`;
}

/** The reader with each path read once (renders of every environment read the same files). */
function cachedReader(reader: VerifyReader): VerifyReader {
  const files = new Map<string, Promise<string | undefined>>();
  const folders = new Map<string, Promise<Record<string, string> | undefined>>();
  const once = <T>(map: Map<string, Promise<T>>, key: string, read: () => Promise<T>) => {
    let value = map.get(key);
    if (value === undefined) {
      value = read();
      map.set(key, value);
    }
    return value;
  };
  return {
    readFile: (path) => once(files, path, () => reader.readFile(path)),
    readFolder: (path) => once(folders, path, () => reader.readFolder(path)),
    ...(reader.entryKind ? { entryKind: reader.entryKind.bind(reader) } : {}),
  };
}

/** The tip with the changed files on top. */
function overlayReader(reader: SourceReader, changed: Map<string, Changed>): SourceReader {
  return {
    readFile: async (path) => {
      const file = changed.get(path);
      if (file === undefined) return reader.readFile(path);
      return file.after ?? undefined;
    },
    readFolder: async (folder) => {
      const prefix = `${folder.replace(/\/+$/, '')}/`;
      const files = { ...((await reader.readFolder(folder)) ?? {}) };
      for (const [path, file] of changed) {
        if (!path.startsWith(prefix)) continue;
        const inside = path.slice(prefix.length);
        if (file.after === null) delete files[inside];
        else files[inside] = file.after;
      }
      return Object.keys(files).length === 0 ? undefined : files;
    },
  };
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
