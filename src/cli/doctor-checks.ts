import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { errorMessage } from '../errors.ts';
import { describeOwner, findStalledJobs } from '../jobs/queue.ts';
import { parseEncryptionKey, type Settings } from '../settings.ts';
import { SqlConfigStore } from '../store/config-store.ts';
import { Keyring } from '../store/crypto.ts';
import { describeUrl, type Db } from '../store/db.ts';
import { embeddedLayout } from '../store/embedded-layout.ts';
import { pendingMigrations, shippedMigrations } from '../store/migrate.ts';
import { cliSettings, openCliDatabase } from './context.ts';
import type { Cli } from './io.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type Check = { name: string; status: CheckStatus; message: string };

const check = (name: string, status: CheckStatus, message: string): Check => ({
  name,
  status,
  message,
});

/** The keyring DAG would use, without generating a key file as the server does on first start. */
function encryptionCheck(cli: Cli, settings: Settings): { check: Check; keyring?: Keyring } {
  const { encryption, database } = settings;
  const old = encryption.oldKeys.length > 0 ? ` (+${encryption.oldKeys.length} old key(s))` : '';
  if (encryption.key) {
    const keyring = new Keyring(encryption.key, encryption.oldKeys);
    const source = cli.env.DAG_ENCRYPTION_KEY?.trim()
      ? 'env DAG_ENCRYPTION_KEY'
      : `key file ${encryption.keyFile}`;
    return {
      check: check('encryption key', 'ok', `key id ${keyring.currentId} from ${source}${old}`),
      keyring,
    };
  }
  if (database.kind === 'embedded' && existsSync(encryption.keyFile)) {
    try {
      const key = parseEncryptionKey(readFileSync(encryption.keyFile, 'utf8'), encryption.keyFile);
      cli.masker.add(key.toString('hex'));
      const keyring = new Keyring(key, encryption.oldKeys);
      return {
        check: check(
          'encryption key',
          'ok',
          `key id ${keyring.currentId} from key file ${encryption.keyFile} (generated; set DAG_ENCRYPTION_KEY in production)${old}`,
        ),
        keyring,
      };
    } catch (error) {
      return { check: check('encryption key', 'fail', errorMessage(error)) };
    }
  }
  return {
    check: check(
      'encryption key',
      'warn',
      `not set: DAG generates one into ${encryption.keyFile} at first start (set DAG_ENCRYPTION_KEY in production)`,
    ),
  };
}

async function secretsCheck(db: Db, keyring: Keyring | undefined): Promise<Check> {
  // Without a key, every sealed secret is one DAG cannot open: a throwaway keyring says so.
  const store = new SqlConfigStore(db, keyring ?? new Keyring(randomBytes(32)));
  try {
    const report = await store.secretsReport();
    if (report.unknownKey > 0) {
      return check(
        'sealed secrets',
        'fail',
        `${report.unknownKey} secret(s) sealed with a key that is not configured: set that key in DAG_ENCRYPTION_KEY or DAG_ENCRYPTION_OLD_KEYS`,
      );
    }
    const pending: string[] = [];
    if (report.plaintext > 0) {
      pending.push(`${report.plaintext} plaintext secret(s) will be sealed at next start`);
    }
    if (report.oldKey > 0) {
      pending.push(`${report.oldKey} secret(s) under an old key will be resealed at next start`);
    }
    if (pending.length > 0) return check('sealed secrets', 'warn', pending.join('; '));
    return check(
      'sealed secrets',
      'ok',
      report.sealed === 0
        ? 'no secrets stored'
        : `${report.sealed} secret(s) sealed with key ${keyring?.currentId ?? '?'}`,
    );
  } catch (error) {
    return check('sealed secrets', 'fail', errorMessage(error));
  }
}

/** Running jobs whose worker is gone: a running DAG puts them back in line within seconds. */
async function jobsCheck(db: Db): Promise<Check> {
  try {
    const stalled = await findStalledJobs(db);
    if (stalled === undefined) return check('jobs', 'ok', 'no job queue yet (DAG creates it)');
    if (stalled.length === 0) return check('jobs', 'ok', 'no stalled job');
    const which = stalled
      .slice(0, 5)
      .map((j) => `${j.id} (${j.queue}, worker ${describeOwner(j.owner)})`)
      .join(', ');
    return check(
      'jobs',
      'warn',
      `${stalled.length} running job(s) whose worker is gone: ${which}${stalled.length > 5 ? ', ...' : ''}; a running DAG puts them back in line within seconds, else \`dag jobs retry <id>\` or \`dag jobs cancel <id>\``,
    );
  } catch (error) {
    return check('jobs', 'warn', `job table not readable: ${errorMessage(error)}`);
  }
}

type DatabaseChecks = { checks: Check[]; secrets?: Check };

async function databaseChecks(
  settings: Settings,
  keyring: Keyring | undefined,
): Promise<DatabaseChecks> {
  const { database } = settings;
  const layout =
    database.kind === 'embedded' && database.dataDir !== 'memory://'
      ? embeddedLayout(database.dataDir)
      : undefined;
  if (layout && !existsSync(layout.pgdata)) {
    const message = `no embedded database yet at ${layout.root}: it is created at first start (or by dag db migrate)`;
    return { checks: [check('database', 'warn', message)] };
  }
  let db: Db;
  try {
    db = await openCliDatabase(database);
  } catch (error) {
    if (layout && existsSync(layout.lockFile)) {
      // Locked by a live process (openEmbedded clears stale locks): most likely the server.
      const message = `${errorMessage(error)} (migrations and secrets not checked)`;
      return { checks: [check('database', 'warn', message)] };
    }
    const where = database.kind === 'postgres' ? describeUrl(database.url) : database.dataDir;
    const message = errorMessage(error);
    return {
      checks: [
        check('database', 'fail', message.includes(where) ? message : `${message} (${where})`),
      ],
    };
  }
  try {
    const checks = [check('database', 'ok', `reachable: ${db.location}`)];
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      checks.push(
        check(
          'migrations',
          'warn',
          `${pending.length} pending (${pending.join(', ')}): run \`dag db migrate\` (the server applies them at start)`,
        ),
      );
      return {
        checks,
        secrets: check('sealed secrets', 'warn', 'not checked: database not migrated'),
      };
    }
    checks.push(check('migrations', 'ok', `all ${shippedMigrations().length} applied`));
    checks.push(await jobsCheck(db));
    return { checks, secrets: await secretsCheck(db, keyring) };
  } finally {
    await db.close();
  }
}

function integrationChecks(cli: Cli, settings: Settings): Check[] {
  const { github, gitlab } = settings;
  const neither = !github && !gitlab;
  const checks: Check[] = [];
  checks.push(
    github
      ? check(
          'github app',
          'ok',
          `app ${github.appId}${github.baseUrl ? ` on ${github.baseUrl}` : ''}, webhooks at ${github.webhookPath}`,
        )
      : check(
          'github app',
          neither ? 'warn' : 'ok',
          neither
            ? 'not configured (APP_ID, PRIVATE_KEY): the server starts in setup mode'
            : 'not configured (GitLab only)',
        ),
  );
  const secretSet = Boolean(cli.env.WEBHOOK_SECRET?.trim());
  checks.push(
    github && !secretSet
      ? check(
          'webhook secret',
          'warn',
          'WEBHOOK_SECRET is not set: GitHub webhooks use the insecure development secret',
        )
      : check(
          'webhook secret',
          'ok',
          secretSet
            ? 'WEBHOOK_SECRET is set'
            : 'WEBHOOK_SECRET is not set (needed with a GitHub App)',
        ),
  );
  checks.push(
    gitlab
      ? check(
          'gitlab',
          'ok',
          `${gitlab.url}, webhooks at ${gitlab.webhookPath} (GITLAB_WEBHOOK_SECRET set)`,
        )
      : check('gitlab', neither ? 'warn' : 'ok', 'not configured (GITLAB_WEBHOOK_SECRET unset)'),
  );
  return checks;
}

/**
 * What `dag doctor` checks, in order. It never throws and never changes anything: no key is
 * generated, no embedded database created, no migration applied.
 */
export async function runChecks(cli: Cli): Promise<Check[]> {
  let settings: Settings;
  try {
    settings = cliSettings(cli);
  } catch (error) {
    return [check('settings', 'fail', errorMessage(error))];
  }
  const encryption = encryptionCheck(cli, settings);
  const database = await databaseChecks(settings, encryption.keyring);
  return [
    check('settings', 'ok', `valid (NODE_ENV ${settings.nodeEnv})`),
    ...database.checks,
    encryption.check,
    ...(database.secrets ? [database.secrets] : []),
    ...integrationChecks(cli, settings),
  ];
}
