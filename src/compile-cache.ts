import module from 'node:module';
import os from 'node:os';
import path from 'node:path';

/**
 * Node's on-disk compile cache (`module.enableCompileCache`), on for this process: the TypeScript
 * sources DAG runs are stripped of their types and compiled once, then read from the cache. A
 * thread that loads its modules from the cache never loads Node's type stripper, which costs
 * about 11 MB per thread. The cache's folder (`NODE_COMPILE_CACHE`, by default Node's folder
 * under the system's temporary folder), or undefined when the cache is off
 * (`NODE_DISABLE_COMPILE_CACHE=1`) or cannot be written (Node then runs without it).
 */
export function compileCacheDir(): string | undefined {
  const folder = process.env.NODE_COMPILE_CACHE ?? path.join(os.tmpdir(), 'node-compile-cache');
  const { status } = module.enableCompileCache(folder);
  const { ENABLED, ALREADY_ENABLED } = module.constants.compileCacheStatus;
  return status === ENABLED || status === ALREADY_ENABLED ? folder : undefined;
}

/** `env` for a worker thread or child process, with this process's compile cache, if it has one. */
export function withCompileCache(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const folder = compileCacheDir();
  return folder === undefined ? env : { ...env, NODE_COMPILE_CACHE: folder };
}
