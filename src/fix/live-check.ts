// The checks of a fix proposal's rendered bundle that need more than the renderer: its Flux
// objects against the Flux CRD schemas, and a server-side dry run on the environment's cluster
// with the live diff it yields (the preview machinery of `/diff`), shown in the pull request.
import type { EnvironmentDiff } from '../diff/comment-model.ts';
import {
  fluxBundleProblems,
  loadFluxValidators,
  type FluxValidators,
} from '../render/flux-schemas.ts';
import type { ConfigStore } from '../store/types.ts';
import { reasonOf } from '../errors.ts';
import { previewEnvironment, type IacReader, type PreviewDeps } from '../workflows/diff.ts';
import type { DryRunResult, VerifyDeps } from './verify.ts';

/**
 * Checks a flux environment's bundle against the Flux CRDs (loaded once, on first use); a plain
 * environment's bundle has no Flux objects to check.
 */
export function fluxSchemaCheck(
  load: () => Promise<FluxValidators> = loadFluxValidators,
): NonNullable<VerifyDeps['validateBundle']> {
  let validators: Promise<FluxValidators> | undefined;
  return async (env, files) => {
    if (env.helmType !== 'flux') return [];
    validators ??= load();
    return fluxBundleProblems(await validators, files);
  };
}

export type LiveCheckDeps = PreviewDeps & {
  store: Pick<ConfigStore, 'getIac' | 'iacToken'>;
  iac: IacReader;
};

/**
 * A server-side dry run of what the environment's folder would hold with the fix, against its
 * live objects, as `/diff` previews a pull request: the folder's files today are read from the
 * IAC repository (for the objects the fix would delete). The cluster refusing an object fails the
 * proposal; a cluster DAG cannot reach, or a bundle it cannot dry-run (a plain chart without
 * `helm`), leaves the check not run, and says why.
 */
export function liveDryRun(deps: LiveCheckDeps): NonNullable<VerifyDeps['dryRun']> {
  return async (app, env, files): Promise<DryRunResult> => {
    const notes: string[] = [];
    let current: Record<string, string> = {};
    const iac = await deps.store.getIac(env.iacId);
    if (!iac) return { status: 'unreachable', reason: `IAC repository ${env.iacId} is gone` };
    try {
      const token = await deps.store.iacToken(iac.id);
      current = (
        await deps.iac.read({ url: iac.repoUrl, token, branch: env.iacBranch }, env.iacPath)
      ).files;
    } catch (error) {
      notes.push(
        `The IAC repository could not be read (${reasonOf(error)}): objects the fix would delete are not shown.`,
      );
    }
    const preview = await previewEnvironment({ env, app, current, files, notes }, deps);
    // The pull request shows the bundle diff already: the live diff is of objects.
    const live: EnvironmentDiff = { ...preview, iacFiles: [] };
    const { validation } = preview;
    if (validation.result === 'failed') {
      const errors = preview.objects.flatMap((object) => (object.error ? [object.error] : []));
      return {
        status: 'failed',
        errors: errors.length > 0 ? errors : [validation.reason ?? 'the dry run failed'],
        preview: live,
      };
    }
    if (validation.result === 'skipped') {
      return { status: 'unreachable', reason: validation.reason ?? 'not run', preview: live };
    }
    return { status: 'passed', preview: live };
  };
}

/**
 * What verification checks beyond rendering, as DAG's server and `dag mcp` both run it: Flux
 * objects against the Flux CRDs, and a server-side dry run whose live diff the pull request shows.
 */
export function proposalChecks(deps: LiveCheckDeps): Pick<VerifyDeps, 'validateBundle' | 'dryRun'> {
  return { validateBundle: fluxSchemaCheck(), dryRun: liveDryRun(deps) };
}
