import { gitFailureOf } from './git-errors.ts';
import type { GitRunner } from './git.ts';

/** Hears each git command: its subcommand, `success` or the failure kind, and its duration. */
export type GitObserver = (operation: string, outcome: string, seconds: number) => void;

/** The git subcommands DAG runs; any other is reported as `other` (a bounded label). */
const OPERATIONS = new Set([
  'add',
  'checkout',
  'clean',
  'clone',
  'commit',
  'commit-tree',
  'diff',
  'diff-tree',
  'fetch',
  'ls-remote',
  'push',
  'read-tree',
  'rev-parse',
  'rm',
  'symbolic-ref',
  'update-ref',
  'write-tree',
]);

/** The subcommand of a git command line, as a bounded label value. */
export function gitOperation(args: readonly string[]): string {
  const command = args.find((arg) => !arg.startsWith('-')) ?? '';
  return OPERATIONS.has(command) ? command : 'other';
}

/** The runner, with every command it runs reported to observe (failures included). */
export function observedGit(runner: GitRunner, observe: GitObserver): GitRunner {
  return async (args, options) => {
    const operation = gitOperation(args);
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await runner(args, options);
      observe(operation, 'success', seconds());
      return result;
    } catch (error) {
      observe(operation, gitFailureOf(error) ?? 'error', seconds());
      throw error;
    }
  };
}
