import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError } from '../errors.ts';
import { parseYamlDocuments } from './yaml.ts';

/** What `helm template` produced, or why it could not run. */
export type HelmTemplateResult = { objects: unknown[] } | { unavailable: string };

/**
 * Renders a chart's workloads with `helm template`, as Argo CD, `helm install` or Flux's
 * helm-controller would, so they can be dry-run on the cluster. `release.values` is a values file
 * given on top of the chart's own (`--values`), as a HelmRelease's `valuesFrom` is. A missing
 * `helm` binary is an answer, not an error.
 */
export async function helmTemplate(
  chart: Record<string, string>,
  release: { name: string; namespace: string; values?: string },
  options: { helm?: string; timeoutMs?: number } = {},
): Promise<HelmTemplateResult> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'dag-helm-'));
  const dir = path.join(work, 'chart');
  try {
    await mkdir(dir);
    for (const [file, content] of Object.entries(chart)) {
      const target = path.resolve(dir, file);
      if (!target.startsWith(`${dir}${path.sep}`))
        throw new UserError(`chart file ${file} escapes its folder`);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, content);
    }
    const valuesArgs: string[] = [];
    if (release.values !== undefined) {
      const file = path.join(work, 'values.yaml');
      await writeFile(file, release.values);
      valuesArgs.push('--values', file);
    }
    const output = await new Promise<string>((resolve, reject) => {
      execFile(
        options.helm ?? 'helm',
        ['template', release.name, dir, '--namespace', release.namespace, ...valuesArgs],
        {
          timeout: options.timeoutMs ?? 60_000,
          maxBuffer: 64 * 1024 * 1024,
          env: { PATH: process.env.PATH ?? '' },
        },
        (error, stdout, stderr) => {
          if (!error) return resolve(stdout);
          if ((error as NodeJS.ErrnoException).code === 'ENOENT')
            return reject(Object.assign(error, { missing: true }));
          reject(
            new UserError(
              `helm template failed: ${String(stderr).trim().slice(0, 2000) || error.message}`,
            ),
          );
        },
      );
    }).catch((error: unknown) => {
      if ((error as { missing?: boolean }).missing) return undefined;
      throw error;
    });
    if (output === undefined) return { unavailable: 'no `helm` binary is installed' };
    return {
      objects: parseYamlDocuments(output, 'helm template output').filter((d) => d !== null),
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

const available = new Map<string, Promise<boolean>>();

/**
 * Whether the `helm` binary exists (asked once per path, with `helm version`), so DAG reads a
 * chart to render only when it can render it. Any answer but "no such file" counts as there.
 */
export function helmAvailable(helm = 'helm'): Promise<boolean> {
  let answer = available.get(helm);
  if (answer === undefined) {
    answer = new Promise<boolean>((resolve) => {
      execFile(
        helm,
        ['version', '--short'],
        { timeout: 10_000, env: { PATH: process.env.PATH ?? '' } },
        (error) => resolve((error as NodeJS.ErrnoException | null)?.code !== 'ENOENT'),
      );
    });
    available.set(helm, answer);
  }
  return answer;
}
