import { DagError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BranchLeases } from '../store/branch-lease.ts';
import type { ApplyOptions, ApplyResult, IacChange, IacTarget } from './workspace.ts';

/** What the group committer needs of the workspace. */
export interface IacApplier {
  apply(target: IacTarget, changes: IacChange[], options: ApplyOptions): Promise<ApplyResult>;
  /** The same, logging to `log` (a job's logger). */
  withLog?(log: Logger): IacApplier;
}

/** One change's share of a group commit. */
export type GroupedCommit = {
  branch: string;
  /** The change's own commit, or null when the folder already held exactly its files. */
  sha: string | null;
  /** The branch tip after the push (or as found, when nothing was pushed). */
  head: string;
  /** How many changes went out in the same push. */
  groupSize: number;
};

/** The most changes one push carries; more wait for the next push, which follows at once. */
const MAX_GROUP = 50;

type Waiter = {
  target: IacTarget;
  change: IacChange;
  /** The caller's logger (its job's): its git lines carry the job's ids. */
  log: Logger | undefined;
  resolve: (result: GroupedCommit) => void;
  reject: (error: unknown) => void;
};

type Group = { waiters: Waiter[]; draining: boolean };

/**
 * Group commit for IAC branches. Deploys that reach the same repository and branch while it is
 * busy are written together: one lease, one fetch, one commit per change (each with its own
 * message and trailers), one push, retried as a whole when the branch moved (IacWorkspace.apply).
 * The lease (BranchLeases) makes one writer per branch across every DAG process; in this process,
 * whoever arrives while a group is being written joins the next group. Callers do everything
 * else (provider reads before, status writes after) outside: the branch is held only for git.
 */
export class GroupCommitter {
  readonly #iac: IacApplier;
  readonly #leases: BranchLeases;
  readonly #options: ApplyOptions;
  readonly #log: Logger;
  readonly #groups = new Map<string, Group>();
  readonly #onGroup: (size: number) => void;

  constructor(
    iac: IacApplier,
    leases: BranchLeases,
    options: ApplyOptions & { log: Logger; onGroup?: (size: number) => void },
  ) {
    const { log, onGroup, ...apply } = options;
    this.#iac = iac;
    this.#leases = leases;
    this.#options = apply;
    this.#log = log;
    this.#onGroup = onGroup ?? (() => {});
  }

  /**
   * Commits `change` to `target` as part of the next group for `key` (one key per IAC repository
   * and branch), resolving once the group's push is done.
   */
  commit(key: string, target: IacTarget, change: IacChange, log?: Logger): Promise<GroupedCommit> {
    return new Promise<GroupedCommit>((resolve, reject) => {
      let group = this.#groups.get(key);
      if (!group) {
        group = { waiters: [], draining: false };
        this.#groups.set(key, group);
      }
      group.waiters.push({ target, change, log, resolve, reject });
      if (!group.draining) void this.#drain(key, group);
    });
  }

  async #drain(key: string, group: Group): Promise<void> {
    group.draining = true;
    try {
      while (group.waiters.length > 0) {
        let lease;
        try {
          lease = await this.#leases.acquire(key);
        } catch (error) {
          for (const waiter of group.waiters.splice(0)) waiter.reject(error);
          return;
        }
        try {
          // Everyone who arrived while the lease was awaited goes in this push.
          await this.#write(group.waiters.splice(0, MAX_GROUP));
        } finally {
          await lease.release().catch((error: unknown) => {
            this.#log.warn({ err: error }, 'could not release the lease on the IAC branch');
          });
        }
      }
    } finally {
      group.draining = false;
      if (group.waiters.length === 0) this.#groups.delete(key);
      else void this.#drain(key, group);
    }
  }

  async #write(waiters: Waiter[]): Promise<void> {
    // The newest target: a token rotated meanwhile is the one to use.
    const target = (waiters.at(-1) as Waiter).target;
    this.#onGroup(waiters.length);
    // One deploy alone: its git lines go to its own job's log. A group's go to the committer's,
    // and each deploy's log says which group push carried it.
    const only = waiters.length === 1 ? waiters[0]?.log : undefined;
    const iac = only && this.#iac.withLog ? this.#iac.withLog(only) : this.#iac;
    try {
      const result = await iac.apply(
        target,
        waiters.map((w) => w.change),
        this.#options,
      );
      waiters.forEach((waiter, i) => {
        const sha = result.commits[i]?.sha ?? null;
        if (waiters.length > 1) {
          waiter.log?.info(
            { branch: result.branch, commit: sha, head: result.head, groupSize: waiters.length },
            'written to the IAC repository in a group push',
          );
        }
        waiter.resolve({
          branch: result.branch,
          sha,
          head: result.head,
          groupSize: waiters.length,
        });
      });
    } catch (error) {
      // A change the repository cannot take (a bad path, a config error) must not fail the
      // others: write each alone. Anything else (git unreachable, the branch kept moving) is the
      // whole group's, and each deploy's job retries.
      const own = error instanceof DagError && (error.kind === 'user' || error.kind === 'config');
      if (!own || waiters.length === 1) {
        for (const waiter of waiters) waiter.reject(error);
        return;
      }
      this.#log.warn(
        { err: error, groupSize: waiters.length },
        'a group commit failed on one of its changes: writing them one by one',
      );
      for (const waiter of waiters) await this.#write([waiter]);
    }
  }
}
