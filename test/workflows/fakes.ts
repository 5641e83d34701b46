import type { RepoRef } from '../../src/events/types.ts';
import type { DeploymentState, Platform } from '../../src/platform/types.ts';
import type { IacWriter } from '../../src/workflows/deploy.ts';

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

/** An IAC writer that keeps folders in memory, commits only changes, and can fail on demand. */
export class FakeIac implements IacWriter {
  folders = new Map<string, Record<string, string>>();
  commits: { path: string; message: string }[] = [];
  failWith: Error | undefined;

  async apply(
    _target: { url: string; token: string | null; branch: string | null },
    changes: { path: string; files: Record<string, string>; message: string }[],
  ) {
    if (this.failWith) throw this.failWith;
    const commits = changes.map((change) => {
      const same = JSON.stringify(this.folders.get(change.path)) === JSON.stringify(change.files);
      if (same) return { sha: null };
      this.folders.set(change.path, change.files);
      this.commits.push({ path: change.path, message: change.message });
      return { sha: `c0ffee${String(this.commits.length).padStart(34, '0')}` };
    });
    return { branch: 'main', head: 'f'.repeat(40), commits };
  }
}

import type { Permission } from '../../src/commands/authorize.ts';
import type {
  CheckReport,
  PullRequestInfo,
  PullRequests,
  Reaction,
} from '../../src/platform/types.ts';

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
  asked: string[] = [];

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
  async react(_repo: RepoRef, _id: number, reaction: Reaction) {
    this.reactions.push(reaction);
  }
  async upsertComments(_repo: RepoRef, _number: number, topic: string, bodies: string[]) {
    this.comments.set(topic, bodies);
  }
  async publishCheck(_repo: RepoRef, check: CheckReport) {
    this.checks.push(check);
  }
}
