import type { RepoRef } from '../../src/events/types.ts';
import type { DeploymentState, Platform } from '../../src/platform/types.ts';
import type { DeployStore } from '../../src/store/types.ts';
import type { IacCommitter } from '../../src/workflows/deploy.ts';
import type { Queryable } from '../../src/store/db.ts';

type IacCommitTarget = Parameters<IacCommitter['commit']>[1];
type IacCommitChange = Parameters<IacCommitter['commit']>[2];

/** The app repository of the workflow tests, as a GitHub event names it. */
export const APP_REPO: RepoRef = {
  provider: 'github',
  fullName: 'org/my-app',
  urls: ['https://github.com/org/my-app'],
  installationId: 1,
  webUrl: 'https://github.com/org/my-app',
};

/** A Platform that serves files from memory and records what DAG reported. */
export class FakePlatform implements Platform {
  readonly provider = 'github' as const;
  files: Record<string, string> = {};
  deployments: { id: string; environment: string; sha: string }[] = [];
  states: {
    id: string;
    state: DeploymentState;
    description: string;
    logUrl?: string | undefined;
  }[] = [];

  async readFile(_repo: RepoRef, _ref: string, path: string) {
    return this.files[path];
  }

  async readFolder(_repo: RepoRef, _ref: string, path: string) {
    const prefix = `${path}/`;
    const entries = Object.entries(this.files).filter(([p]) => p.startsWith(prefix));
    return entries.length
      ? Object.fromEntries(entries.map(([p, c]) => [p.slice(prefix.length), c]))
      : undefined;
  }

  async createDeployment(_repo: RepoRef, input: { sha: string; environment: string }) {
    const id = String(1000 + this.deployments.length);
    this.deployments.push({ id, environment: input.environment, sha: input.sha });
    return id;
  }

  async setDeploymentState(
    _repo: RepoRef,
    deployment: { id: string },
    update: { state: DeploymentState; description: string; logUrl?: string | undefined },
  ) {
    this.states.push({ id: deployment.id, ...update });
  }
}

/**
 * An IAC committer that keeps folders in memory and commits only changes, as the group committer
 * does (one call, one change), and can fail on demand. `head` is the branch tip: a commit moves
 * it; a no-op returns it (sha null).
 */
export class FakeIac implements IacCommitter {
  folders = new Map<string, Record<string, string>>();
  commits: { key: string; path: string; message: string; sha: string }[] = [];
  /** Every call, no-ops and failures included, with the key and target it was given. */
  calls: { key: string; target: IacCommitTarget; path: string }[] = [];
  head = 'f'.repeat(40);
  failWith: Error | undefined;

  async commit(key: string, target: IacCommitTarget, change: IacCommitChange) {
    this.calls.push({ key, target, path: change.path });
    if (this.failWith) throw this.failWith;
    const branch = target.branch ?? 'main';
    const same = JSON.stringify(this.folders.get(change.path)) === JSON.stringify(change.files);
    if (same) return { branch, head: this.head, sha: null, groupSize: 1 };
    this.folders.set(change.path, change.files);
    const sha = `c0ffee${String(this.commits.length + 1).padStart(34, '0')}`;
    this.commits.push({ key, path: change.path, message: change.message, sha });
    this.head = sha;
    return { branch, head: sha, sha, groupSize: 1 };
  }
}

/**
 * The store, calling `onLost` each time a claim to create a provider deployment is refused: the
 * caller passed its checks and now waits for the claim's holder.
 */
export function watchClaims<S extends DeployStore>(store: S, onLost: () => void): S {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'claimDeployment') {
        return async (...args: Parameters<DeployStore['claimDeployment']>) => {
          const claim = await target.claimDeployment(...args);
          if (!claim.claimed) onLost();
          return claim;
        };
      }
      // The store's methods use private fields: call them on the store itself.
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
    },
  });
}

import type {
  CheckReport,
  PullRequestInfo,
  PullRequests,
  Reaction,
} from '../../src/platform/types.ts';
import type { Permission } from '../../src/model.ts';

/** A FakePlatform that also answers pull-request questions and records DAG's replies. */
export class FakeReviewPlatform extends FakePlatform implements PullRequests {
  pr: PullRequestInfo = {
    number: 7,
    headSha: 'b'.repeat(40),
    headRef: 'feature',
    baseRef: 'main',
    fork: false,
    open: true,
  };
  permissions: Record<string, Permission> = {};
  approved = false;
  green = false;
  reactions: Reaction[] = [];
  comments = new Map<string, string[]>();
  checks: CheckReport[] = [];
  /** Each check run as it stands now, by name (one commit: the tests' head). */
  checkRuns = new Map<string, CheckReport>();
  asked: string[] = [];

  changeRequestNoun: PullRequests['changeRequestNoun'] = 'pull request';
  changeRequestRef(number: number) {
    return `#${number}`;
  }
  async getPullRequest() {
    return this.pr;
  }
  async permissionOf(_repo: RepoRef, user: string) {
    this.asked.push(`permission:${user}`);
    return this.permissions[user] ?? 'none';
  }
  async isApproved() {
    this.asked.push('approved');
    return this.approved;
  }
  async checksPassed() {
    this.asked.push('checks');
    return this.green;
  }
  async react(_repo: RepoRef, _comment: { number: number; id: number }, reaction: Reaction) {
    this.reactions.push(reaction);
  }
  async upsertComments(_repo: RepoRef, _number: number, topic: string, bodies: string[]) {
    this.comments.set(topic, bodies);
  }
  async readComments(_repo: RepoRef, _number: number, topic: string) {
    return this.comments.get(topic) ?? [];
  }
  async publishCheck(_repo: RepoRef, check: CheckReport) {
    this.checks.push(check);
    this.checkRuns.set(check.name, check);
    return `https://github.com/org/my-app/runs/${encodeURIComponent(check.name)}`;
  }
  async retireChecks(
    _repo: RepoRef,
    _sha: string,
    prefix: string,
    keep: readonly string[],
    output: { title: string; summary: string },
  ) {
    for (const [name, run] of this.checkRuns) {
      if (!name.startsWith(prefix) || keep.includes(name)) continue;
      const retired = { status: 'completed', conclusion: 'neutral', text: undefined } as const;
      this.checkRuns.set(name, { ...run, ...retired, ...output });
    }
  }
}

/** One app with one `staging` environment (on `main`) in one IAC repository and cluster. */
export async function seedOneEnvironment(db: Queryable): Promise<void> {
  await db.query(`
    INSERT INTO apps (git_provider, repo_url) VALUES ('github', 'https://github.com/org/my-app');
    INSERT INTO iacs (name, repo_url) VALUES ('iac', 'https://github.com/org/iac.git');
    INSERT INTO clusters (name, api_url) VALUES ('c1', 'https://k8s.example.com');
    INSERT INTO apps_environments (app_id, branch, iac_id, iac_path, cluster_id, helm_type, name)
      VALUES (1, 'main', 1, 'clusters/staging/my-app', 1, 'flux', 'staging');
  `);
}
