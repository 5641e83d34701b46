import type { Command } from 'commander';
import {
  DEFAULT_TOKEN_LIFETIME_DAYS,
  MAX_TOKEN_LIFETIME_DAYS,
  parseLifetime,
  TOKEN_PERMISSIONS,
  type TokenPermission,
} from '../../api/token.ts';
import { UserError } from '../../errors.ts';
import {
  isTokenName,
  SqlApiTokenStore,
  type ApiToken,
  type NewTokenScope,
} from '../../store/api-tokens.ts';
import { withContext, type Context } from '../context.ts';
import type { Cli } from '../io.ts';
import { printList } from '../output.ts';
import { environmentName, quote } from '../validate.ts';

type CreateOptions = {
  name: string;
  permission: string;
  app: string[];
  env: string[];
  allApps?: boolean;
  expiresIn: string;
  json?: boolean;
};

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function permission(value: string): TokenPermission {
  if (!(TOKEN_PERMISSIONS as readonly string[]).includes(value)) {
    throw new UserError("permission must be 'read' or 'propose'");
  }
  return value as TokenPermission;
}

function tokenName(value: string): string {
  if (!isTokenName(value)) {
    throw new UserError(
      `invalid token name: ${quote(value)} (a letter, then letters, digits, ".", "_" and "-"; at most 100)`,
    );
  }
  return value;
}

/** `my-app/staging` (the app may be an id, a name or a repository URL: split at the last /). */
function environmentRef(value: string): { app: string; environment: string } {
  const at = value.lastIndexOf('/');
  if (at <= 0 || at === value.length - 1) {
    throw new UserError(`--env takes APP/ENVIRONMENT, e.g. my-app/staging (got ${quote(value)})`);
  }
  return { app: value.slice(0, at), environment: environmentName(value.slice(at + 1)) };
}

function scopeOf(options: CreateOptions): NewTokenScope {
  const some = options.app.length > 0 || options.env.length > 0;
  if (options.allApps && some) {
    throw new UserError('give either --all-apps or --app/--env, not both');
  }
  if (options.allApps) return { all: true };
  if (!some) {
    throw new UserError(
      'a token needs a scope: --app APP or --env APP/ENV (repeatable), or --all-apps',
    );
  }
  return { all: false, apps: options.app, environments: options.env.map(environmentRef) };
}

/** `all apps`, or `my-app, other/staging`; `none` once everything it named was removed. */
function scopeText(token: ApiToken): string {
  if (token.scope.all) return 'all apps';
  const parts = [
    ...token.scope.apps.map((app) => app.name),
    ...token.scope.environments.map((env) => `${env.app}/${env.name}`),
  ];
  return parts.length > 0 ? parts.join(', ') : 'none (its apps were removed)';
}

function tokenJson(token: ApiToken) {
  return {
    id: token.id,
    name: token.name,
    prefix: token.prefix,
    permission: token.permission,
    scope: token.scope.all
      ? { allApps: true, apps: [], environments: [] }
      : {
          allApps: false,
          apps: token.scope.apps.map((app) => app.name),
          environments: token.scope.environments.map((env) => ({
            app: env.app,
            name: env.name,
          })),
        },
    createdAt: token.createdAt.toISOString(),
    expiresAt: token.expiresAt.toISOString(),
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
  };
}

const tokens = ({ db, store }: Context) => new SqlApiTokenStore(db, store);

export function registerTokenCommands(program: Command, cli: Cli): void {
  const group = program
    .command('tokens')
    .description('bearer tokens for the REST API and the MCP server (stored hashed, shown once)');

  group
    .command('create')
    .description('issue a token; its secret is printed once and never stored')
    .requiredOption('--name <name>', 'name to refer to it, e.g. ci-fixer')
    .requiredOption('--permission <permission>', "'read', or 'propose' (also read)")
    .option('--app <app>', 'an app it reaches, all environments (repeatable)', collect, [])
    .option(
      '--env <app/env>',
      'an environment it reaches, e.g. my-app/staging (repeatable)',
      collect,
      [],
    )
    .option('--all-apps', 'every app, present and future')
    .option(
      '--expires-in <duration>',
      `lifetime in hours, days or weeks, at most ${MAX_TOKEN_LIFETIME_DAYS}d`,
      `${DEFAULT_TOKEN_LIFETIME_DAYS}d`,
    )
    .option('--json', 'print a JSON object, secret included')
    .action(async (options: CreateOptions) => {
      const name = tokenName(options.name);
      const granted = permission(options.permission);
      const scope = scopeOf(options);
      const lifetime = parseLifetime(options.expiresIn);
      if ('error' in lifetime) throw new UserError(lifetime.error);
      const { token, secret } = await withContext(cli, (context) =>
        tokens(context).create({ name, permission: granted, scope, lifetimeMs: lifetime.ms }),
      );
      const warning = 'dag: copy the token now: DAG keeps only its hash and will not show it again';
      if (options.json) {
        cli.print(JSON.stringify({ ...tokenJson(token), secret }, null, 2));
        cli.note(warning);
        return;
      }
      cli.note(
        `created token ${token.id}: ${token.name} (${token.prefix}...), ${token.permission} on ${scopeText(token)}, expires ${token.expiresAt.toISOString()}`,
      );
      cli.print(secret);
      cli.note(warning);
    });

  group
    .command('list')
    .description('list tokens (their secrets are never shown)')
    .option('--json', 'print a JSON array')
    .action(async (options: { json?: boolean }) => {
      const all = await withContext(cli, (context) => tokens(context).list());
      printList(cli, options, all, {
        headers: ['id', 'name', 'prefix', 'permission', 'scope', 'expires', 'last-used', 'revoked'],
        row: (t) => [
          t.id,
          t.name,
          t.prefix,
          t.permission,
          scopeText(t),
          t.expiresAt,
          t.lastUsedAt,
          t.revokedAt,
        ],
        json: tokenJson,
        empty:
          'no tokens yet (issue one: dag tokens create --name NAME --permission read --app APP)',
      });
    });

  group
    .command('revoke')
    .description('revoke a token at once; it stays listed, for the audit trail')
    .argument('<token>', 'id, or name of an unrevoked token')
    .action(async (ref: string) => {
      const { token, alreadyRevoked } = await withContext(cli, (context) =>
        tokens(context).revoke(ref),
      );
      const when = token.revokedAt?.toISOString() ?? '';
      cli.print(
        alreadyRevoked
          ? `token ${token.id}: ${token.name} was already revoked (${when})`
          : `revoked token ${token.id}: ${token.name} (${token.prefix}...)`,
      );
    });
}
