import {
  authorize,
  authorizePromotion,
  type CommandFacts,
  type Decision,
} from '../commands/authorize.ts';
import {
  MAX_COMMANDS_PER_COMMENT,
  USAGE,
  parseCommands,
  type Command,
  type CommandMistake,
} from '../commands/parse.ts';
import type { CommentEvent } from '../events/types.ts';
import type { Logger } from '../log.ts';
import type { Platform, PullRequestInfo, PullRequests, ThreadKind } from '../platform/types.ts';
import type { ConfigStore, PromotionRoute, PromotionStore } from '../store/types.ts';
import type { DeployRequest } from './deploy-plan.ts';
import { code, escapeMarkdown, fitComment } from './markdown.ts';
import type { App, Environment } from '../model.ts';
import type { EnvironmentStatus } from '../monitor/status.ts';

export type CommandDeps = {
  store: ConfigStore & PromotionStore;
  platform: Platform & PullRequests;
  log: Logger;
  /**
   * Queues the diff preview of these environments for the pull request's head; the diff job
   * gives the command comment its final reaction once the preview is posted.
   */
  diff: (input: {
    app: App;
    pr: PullRequestInfo;
    environments: Environment[];
    commentId: number;
  }) => Promise<void>;
  /**
   * Queues a deploy (the push workflow's deploy job) for a request (`requestKey`): a commit
   * that ran in the environment before is deployed again, as a new attempt, unless the
   * environment runs it now (`current`: nothing is queued).
   */
  deploy: (request: DeployRequest) => Promise<{ status: 'queued' | 'duplicate' | 'current' }>;
  /**
   * Queues the promotion of a route; the promotion job answers in DAG's `promote` comment with
   * the pull request's link and gives the command comment its final reaction.
   */
  promote: (input: { route: PromotionRoute; commentId: number; author: string }) => Promise<void>;
  /** What cluster monitoring last saw of an environment (as `dag envs status` shows it). */
  status: (environmentId: number) => Promise<EnvironmentStatus>;
};

/** `queued`: a job gives the command comment its final reaction when it is done. */
type Outcome = { ok: boolean; lines: string[]; queued?: boolean };

/** The command list, naming the change request as the provider does (`merge request`). */
function helpLines(noun: string): string[] {
  return [
    `- \`${USAGE.diff}\`: preview what merging (or deploying) this ${noun} changes, in the IAC repository and on the cluster`,
    `- \`${USAGE.deploy}\`: deploy this ${noun}'s head commit to an environment`,
    `- \`${USAGE.promote}\`: open (or update) the promotion ${noun} from one environment to the next (in issues too)`,
    `- \`${USAGE.status}\`: per environment, the commit committed and the commit live in the cluster, the rollout and since when, and drift (in issues too)`,
    `- \`${USAGE.help}\`: this list`,
  ];
}

/** When, to the minute, in UTC (a comment is read later, anywhere). */
function minute(iso: string): string {
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/** One environment's status in a sentence: rollout, commits, drift, reason. */
export function statusLine(name: string, status: EnvironmentStatus): string {
  const short = (sha: string | null) => (sha === null ? 'none' : code(sha.slice(0, 7)));
  const committed = `committed ${short(status.committedCommit)}`;
  if (status.phase === 'not-observed') {
    return `**${escapeMarkdown(name)}**: not observed by cluster monitoring yet; ${committed}.`;
  }
  const phase = `${status.phase}${status.since ? ` since ${minute(status.since)}` : ''}`;
  const rolling =
    status.rollingOutCommit === null ? '' : `, rolling out ${short(status.rollingOutCommit)}`;
  const drift = status.drift.drifted
    ? ` Drifted from the IAC repository (${status.drift.kind === 'edited' ? 'edited outside git' : 'another commit live than committed'})${status.drift.since ? ` since ${minute(status.drift.since)}` : ''}.`
    : '';
  const reason = status.reason === null ? '' : ` ${escapeMarkdown(status.reason)}.`;
  return `**${escapeMarkdown(name)}**: ${phase}; live ${short(status.liveCommit)}${rolling}, ${committed}.${reason}${drift}`;
}

function environmentList(envs: Environment[]): string {
  return envs.length === 0
    ? 'This app has no environments yet.'
    : `Environments: ${envs.map((e) => `${code(e.name)} (from ${code(e.branch)})`).join(', ')}.`;
}

function mistakeLines(mistakes: CommandMistake[]): string[] {
  return mistakes.map(
    (m) => `- ${code(m.line)}: ${escapeMarkdown(m.problem)}. Usage: \`${m.usage}\``,
  );
}

/** The environments a command names; `undefined` means those the pull request would deploy. */
function targets(
  name: string | undefined,
  envs: Environment[],
  pr: PullRequestInfo,
): Environment[] | string {
  if (name === 'all') return envs;
  if (name === undefined) {
    const merging = envs.filter((e) => e.branch === pr.baseRef);
    return merging.length > 0 ? merging : envs;
  }
  const env = envs.find((e) => e.name === name);
  return env ? [env] : `there is no environment ${code(name)}. ${environmentList(envs)}`;
}

function routeList(routes: PromotionRoute[], envs: Environment[]): string {
  const name = (id: number) => envs.find((e) => e.id === id)?.name ?? `#${id}`;
  return routes.length === 0
    ? 'This app has no promotion routes: an operator adds one with `dag promotions add --app <app> --from <env> --to <env>`.'
    : `Routes: ${routes.map((r) => `${code(name(r.fromEnvironmentId))} → ${code(name(r.toEnvironmentId))}`).join(', ')}.`;
}

/**
 * The route a /promote means: the one between the environments it names; with none named, the
 * app's only route, or in a pull request the one from the environment of its base branch.
 */
function chooseRoute(
  command: { from: string | undefined; to: string | undefined },
  routes: PromotionRoute[],
  envs: Environment[],
  pr: PullRequestInfo | undefined,
): PromotionRoute | string {
  const name = (id: number) => envs.find((e) => e.id === id)?.name;
  for (const named of [command.from, command.to]) {
    if (named !== undefined && !envs.some((e) => e.name === named)) {
      return `there is no environment ${code(named)}. ${environmentList(envs)}`;
    }
  }
  const matching = routes.filter(
    (r) =>
      (command.from === undefined || name(r.fromEnvironmentId) === command.from) &&
      (command.to === undefined || name(r.toEnvironmentId) === command.to),
  );
  if (matching.length === 1) return matching[0] as PromotionRoute;
  if (matching.length === 0) {
    const between = [
      command.from && `from ${code(command.from)}`,
      command.to && `to ${code(command.to)}`,
    ]
      .filter(Boolean)
      .join(' ');
    return `there is no promotion route ${between}. ${routeList(routes, envs)}`;
  }
  const fromBase = pr
    ? matching.filter((r) => envs.find((e) => e.id === r.fromEnvironmentId)?.branch === pr.baseRef)
    : [];
  if (fromBase.length === 1) return fromBase[0] as PromotionRoute;
  return `say which promotion: \`${USAGE.promote}\`. ${routeList(matching, envs)}`;
}

async function facts(
  deps: CommandDeps,
  event: CommentEvent,
  pr: PullRequestInfo,
  needs: { approval: boolean; checks: boolean },
): Promise<CommandFacts> {
  return {
    permission: await deps.platform.permissionOf(event.repo, event.author, event.authorId),
    noun: deps.platform.changeRequestNoun,
    fork: pr.fork,
    baseBranch: pr.baseRef,
    approved: needs.approval ? await deps.platform.isApproved(event.repo, pr.number) : undefined,
    checksGreen: needs.checks
      ? await deps.platform.checksPassed(event.repo, pr.headSha, ['dag/diff'])
      : undefined,
  };
}

/** One failed rule reads on one line; several get a line each under the command. */
function refused(decision: Decision, what: string): Outcome | undefined {
  if (decision.allowed) return undefined;
  const { failures } = decision;
  if (failures.length === 1) {
    const [{ rule, reason }] = failures;
    return { ok: false, lines: [`- ${what}: refused (${rule}): ${reason}.`] };
  }
  return {
    ok: false,
    lines: [
      `- ${what}: refused by ${failures.length} rules:`,
      ...failures.map(({ rule, reason }) => `  - ${rule}: ${reason}.`),
    ],
  };
}

async function run(
  command: Command,
  ctx: {
    deps: CommandDeps;
    event: CommentEvent;
    app: App;
    envs: Environment[];
    /** Undefined for a comment on an issue. */
    pr: PullRequestInfo | undefined;
  },
): Promise<Outcome> {
  const { deps, event, app, envs, pr } = ctx;
  const noun = deps.platform.changeRequestNoun;
  const ref = (number: number) => deps.platform.changeRequestRef(number);
  switch (command.kind) {
    case 'help':
      return { ok: true, lines: [...helpLines(noun), '', environmentList(envs)] };
    case 'status': {
      const chosen =
        command.environment === undefined
          ? envs
          : envs.filter((e) => e.name === command.environment);
      if (chosen.length === 0) {
        return {
          ok: false,
          lines: [
            `- \`/status\`: ${command.environment === undefined ? 'this app has no environments yet' : `no environment ${code(command.environment)}`}. ${environmentList(envs)}`,
          ],
        };
      }
      const lines = ['- `/status`:'];
      for (const env of chosen)
        lines.push(`  - ${statusLine(env.name, await deps.status(env.id))}`);
      return { ok: true, lines };
    }
    case 'promote': {
      const routes = await deps.store.listRoutes(String(app.id));
      const route = chooseRoute(command, routes, envs, pr);
      if (typeof route === 'string') return { ok: false, lines: [`- \`/promote\`: ${route}`] };
      const to = envs.find((e) => e.id === route.toEnvironmentId) as Environment;
      const from = envs.find((e) => e.id === route.fromEnvironmentId) as Environment;
      const permission = await deps.platform.permissionOf(event.repo, event.author, event.authorId);
      const what = `\`/promote ${from.name} ${to.name}\``;
      const no = refused(authorizePromotion(permission, route.requiredPermission, to.name), what);
      if (no) return no;
      await deps.promote({ route, commentId: event.commentId, author: event.author });
      return {
        ok: true,
        queued: true,
        lines: [
          `- ${what}: DAG is preparing the promotion ${noun}; its link follows in DAG's reply.`,
        ],
      };
    }
    case 'diff': {
      if (!pr) return { ok: false, lines: [`- \`/diff\`: works in ${noun}s only.`] };
      const chosen = targets(command.target, envs, pr);
      if (typeof chosen === 'string') return { ok: false, lines: [`- \`/diff\`: ${chosen}`] };
      const no = refused(
        authorize(command, await facts(deps, event, pr, { approval: false, checks: false })),
        '`/diff`',
      );
      if (no) return no;
      await deps.diff({ app, pr, environments: chosen, commentId: event.commentId });
      return {
        ok: true,
        queued: true,
        lines: [
          `- \`/diff\`: preview of ${chosen.map((e) => `\`${e.name}\``).join(', ')} for \`${pr.headSha.slice(0, 7)}\` queued; it appears in DAG's diff comment.`,
        ],
      };
    }
    case 'deploy': {
      if (!pr) return { ok: false, lines: [`- \`/deploy\`: works in ${noun}s only.`] };
      const chosen = targets(command.environment, envs, pr);
      if (typeof chosen === 'string') return { ok: false, lines: [`- \`/deploy\`: ${chosen}`] };
      if (chosen.length !== 1) {
        return {
          ok: false,
          lines: [
            `- \`/deploy\`: say which environment: \`${USAGE.deploy}\`. ${environmentList(envs)}`,
          ],
        };
      }
      const env = chosen[0] as Environment;
      const needs = { approval: env.rules.requiresApproval, checks: env.rules.requiresGreenChecks };
      const decision = authorize(command, await facts(deps, event, pr, needs), {
        environment: env.name,
        branch: env.branch,
        rules: env.rules,
      });
      const no = refused(decision, `\`/deploy ${env.name}\``);
      if (no) return no;
      if (!pr.open)
        return { ok: false, lines: [`- \`/deploy\`: ${noun} ${ref(pr.number)} is closed.`] };
      const { status } = await deps.deploy({
        environmentId: env.id,
        target: { iacId: env.iacId, iacBranch: env.iacBranch },
        sha: pr.headSha,
        branch: pr.headRef,
        pusher: event.author,
        repo: event.repo,
        commitUrl: `${event.repo.webUrl}/commit/${pr.headSha}`,
        pullRequest: pr.number,
        // One request per comment: a redelivered or retried comment is the same request.
        requestKey: `comment:${event.commentId}`,
      });
      if (status === 'current') {
        return {
          ok: true,
          lines: [
            `- \`/deploy ${env.name}\`: ${env.name} already runs \`${pr.headSha.slice(0, 7)}\` of ${ref(pr.number)}; nothing to deploy.`,
          ],
        };
      }
      return {
        ok: true,
        lines: [
          `- \`/deploy ${env.name}\`: deploying \`${pr.headSha.slice(0, 7)}\` of ${ref(pr.number)}. ${env.name} runs this ${noun}'s code until the next deploy to it.`,
        ],
      };
    }
  }
}

/**
 * Commands in a pull-request comment: acknowledged with a reaction, checked against who may run
 * what, run, and answered in DAG's one `command` comment on the pull request, edited in place.
 */
export async function handleCommentCommands(event: CommentEvent, deps: CommandDeps): Promise<void> {
  const { platform, store, log } = deps;
  if (event.byBot) return;
  const parsed = parseCommands(event.body);
  if (parsed.commands.length === 0 && parsed.mistakes.length === 0 && !parsed.tooMany) return;
  // DAG's own replies quote commands: never run them (asked only of a comment that holds some).
  if (event.authorId !== undefined && (await platform.isOwnAccount?.(event.authorId))) return;
  const kind: ThreadKind = event.isPullRequest ? 'request' : 'issue';
  const comment = { number: event.number, id: event.commentId, kind };
  const reply = (topic: string, lines: string[]) =>
    platform.upsertComments(
      event.repo,
      event.number,
      topic,
      [fitComment(lines.join('\n'), event.repo.provider)],
      kind,
    );
  const app = await store.findAppByRepoUrls(event.repo.urls);
  if (!app) {
    await reply('not-configured', [
      `DAG is not configured for ${code(event.repo.fullName)}, so it cannot run commands here.`,
      '',
      'An operator registers the repository and its environments:',
      '```sh',
      `dag apps add --provider ${event.repo.provider} --repo-url ${event.repo.webUrl}`,
      'dag envs add --app <app> --branch <branch> --iac <iac> --path <iac path> --cluster <cluster> --helm-type flux',
      '```',
    ]);
    return;
  }
  const heading = `**DAG** — @${escapeMarkdown(event.author)}'s commands:`;
  if (parsed.tooMany) {
    await reply('command', [
      heading,
      '',
      `This comment holds ${parsed.tooMany} commands; DAG runs at most ${MAX_COMMANDS_PER_COMMENT} from one comment, so it ran none of them. Split them over several comments.`,
    ]);
    await platform.react(event.repo, comment, '-1');
    log.info({ pr: event.number, commands: parsed.tooMany }, 'too many commands: none run');
    return;
  }
  await platform.react(event.repo, comment, 'eyes');
  const envs = await store.listEnvironments(String(app.id));
  const lines: string[] = [];
  let ok = parsed.mistakes.length === 0;
  let queued = false;
  if (parsed.mistakes.length > 0) lines.push(...mistakeLines(parsed.mistakes));
  if (parsed.commands.length > 0) {
    const pr = event.isPullRequest
      ? await platform.getPullRequest(event.repo, event.number)
      : undefined;
    for (const command of parsed.commands) {
      const outcome = await run(command, { deps, event, app, envs, pr });
      ok &&= outcome.ok;
      queued ||= outcome.queued === true;
      lines.push(...outcome.lines);
    }
  }
  // The environments follow the list (one list: a paragraph inside it would split it in two).
  const footer = parsed.mistakes.length > 0 ? ['', environmentList(envs)] : [];
  await reply('command', [heading, '', ...lines, ...footer]);
  // A queued diff or promotion reacts when it is done; anything else is done now.
  if (!ok || !queued) await platform.react(event.repo, comment, ok ? '+1' : '-1');
  log.info(
    { pr: event.number, commands: parsed.commands.map((c) => c.kind), ok },
    'commands handled',
  );
}
