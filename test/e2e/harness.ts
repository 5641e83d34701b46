import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGitServer, type GitServer } from '../helpers/git-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);
export const FLUX_LAYOUT = path.resolve(import.meta.dirname, '../fixtures/iac-repos/flux-layout');

/** Every file of a fixture folder, as createRepo takes them. */
export async function fixtureFiles(root: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  async function walk(dir: string) {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else files[path.relative(root, full)] = await readFile(full, 'utf8');
    }
  }
  await walk(root);
  return files;
}

export type Harness = {
  dag: TestService;
  git: GitServer;
  iacToken: string;
  cacheDir: string;
  stop(): Promise<void>;
};

/** DAG, a git server holding a Flux-layout IAC repo `iac`, and the token that opens it. */
export async function startHarness(env: Record<string, string> = {}): Promise<Harness> {
  const iacToken = `iac-token-${Math.random().toString(36).slice(2)}`;
  const git = await startGitServer({ token: iacToken });
  await git.createRepo('iac', { defaultBranch: 'main', files: await fixtureFiles(FLUX_LAYOUT) });
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'dag-e2e-cache-'));
  const dag = await startTestService({ DAG_CACHE_DIR: cacheDir, ...env });
  return {
    dag,
    git,
    iacToken,
    cacheDir,
    async stop() {
      await dag.close();
      await git.stop();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** `kubectl kustomize` of a folder of a checkout of an IAC repo's branch (`iac` by default). */
export async function kustomizeBuild(
  git: GitServer,
  branch: string,
  folder: string,
  repo = 'iac',
): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'dag-e2e-checkout-'));
  try {
    const files = await git.files(repo, branch);
    const { mkdir, writeFile } = await import('node:fs/promises');
    for (const [file, content] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), content);
    }
    const { stdout } = await run('kubectl', ['kustomize', path.join(dir, folder)], {
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Waits until DAG has nothing left to do: no job waiting, retrying or running. What a test
 * asserts after this cannot still change, so no sleep has to give a duplicate "time to show".
 * A rollout's deadline (a report waiting until DAG_ROLLOUT_DEADLINE_MINUTES after its commit)
 * is a timer, not work: it does not count.
 */
export async function waitForQueueSettled(
  h: Harness,
  what = 'the job queue to settle',
): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await h.dag.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM pgboss.job WHERE state IN ('created', 'retry', 'active')
           AND NOT (state = 'created' AND name = 'dag.rollout-deadline')`,
      );
      return Number(rows[0]?.n) === 0;
    },
    { what, timeoutMs: 30_000 },
  );
}
