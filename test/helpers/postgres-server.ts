// A throwaway PostgreSQL server for tests and benchmarks.
//
// Uses the server binaries already on the machine (Debian's `postgresql` package puts them in
// /usr/lib/postgresql/<version>/bin). The cluster lives in a fresh temporary directory, listens on
// a free port on 127.0.0.1 only, trusts every local connection and is tuned for speed, not
// durability. initdb refuses to run as root, so under root the cluster is created and run as the
// `postgres` system user.

import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';

const execFileAsync = promisify(execFile);

export type PostgresServer = { url: string; stop(): Promise<void> };

type Binaries = { initdb: string; pgCtl: string };

/** Runs a command directly, or as the `postgres` user when we are root. */
type Runner = { argv(cmd: string, args: string[]): [string, string[]] };

const SERVER_OPTIONS = [
  '-F',
  '-c fsync=off',
  '-c synchronous_commit=off',
  '-c full_page_writes=off',
  '-c max_connections=200',
];

export async function startPostgres(
  opts: { log?: (m: string) => void } = {},
): Promise<PostgresServer> {
  const log = opts.log ?? (() => {});
  const bin = findBinaries();
  const runner = await makeRunner();
  const base = await makeBaseDir(runner);
  const dataDir = join(base, 'data');
  const logFile = join(base, 'postgres.log');

  const run = async (cmd: string, args: string[]): Promise<void> => {
    const [file, argv] = runner.argv(cmd, args);
    await execFileAsync(file, argv, { cwd: base, timeout: 120_000 });
  };
  const stopSync = (): void => {
    try {
      const [file, argv] = runner.argv(bin.pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']);
      execFileSync(file, argv, { cwd: base, stdio: 'ignore', timeout: 30_000 });
    } catch {
      // best effort: the process is exiting anyway
    }
  };

  // if the process exits without stop() (a crash, process.exit), do not leave a server behind
  let started = false;
  const onExit = (): void => {
    if (started) stopSync();
    rmSync(base, { recursive: true, force: true });
  };
  process.once('exit', onExit);

  try {
    log(`initdb ${dataDir} (${bin.initdb})`);
    await run(bin.initdb, [
      '-D',
      dataDir,
      '-A',
      'trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--no-locale',
      '--no-sync',
    ]);

    const port = await startOnFreePort(async (port) => {
      const options = [
        ...SERVER_OPTIONS,
        `-p ${port}`,
        '-c listen_addresses=127.0.0.1',
        // the base dir holds only safe characters (checked in makeBaseDir): pg_ctl hands -o to a shell
        `-k ${base}`,
      ].join(' ');
      await run(bin.pgCtl, [
        '-D',
        dataDir,
        '-l',
        logFile,
        '-w',
        '-t',
        '60',
        '-o',
        options,
        'start',
      ]);
      started = true;
    }, log);

    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    log(`postgres running at ${url}`);

    return {
      url,
      async stop() {
        process.removeListener('exit', onExit);
        if (started) {
          started = false;
          await run(bin.pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']).catch((error) => {
            log(`pg_ctl stop failed: ${errorText(error)}`);
          });
        }
        await rm(base, { recursive: true, force: true });
      },
    };
  } catch (error) {
    process.removeListener('exit', onExit);
    if (started) stopSync();
    const tail = await readLogTail(logFile);
    await rm(base, { recursive: true, force: true });
    throw new Error(
      `could not start a throwaway PostgreSQL server: ${errorText(error)}${tail ? `\n${tail}` : ''}`,
      { cause: error },
    );
  }
}

/** initdb and pg_ctl from PATH, else from the highest /usr/lib/postgresql/<version>/bin. */
export function findBinaries(env: NodeJS.ProcessEnv = process.env): Binaries {
  const candidates: string[] = [];
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, 'initdb'))) {
      // PATH may hold symlinks (e.g. /usr/local/bin/initdb): take pg_ctl from the real directory
      candidates.push(dirname(realpathSync(join(dir, 'initdb'))), dir);
    }
  }
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => join(root, v, 'bin')));
  }
  for (const dir of candidates) {
    const initdb = join(dir, 'initdb');
    const pgCtl = join(dir, 'pg_ctl');
    if (isExecutable(initdb) && isExecutable(pgCtl)) return { initdb, pgCtl };
  }
  throw new Error(
    'PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin. ' +
      "Install Debian's `postgresql` package (apt-get install -y postgresql), " +
      'or set DAG_TEST_DATABASE_URL to the URL of an existing server where the user may create databases.',
  );
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

type RootRunner = Runner & { uid: number; gid: number };

async function makeRunner(): Promise<Runner | RootRunner> {
  if (process.getuid?.() !== 0) return { argv: (cmd, args) => [cmd, args] };
  let uid: number;
  let gid: number;
  try {
    uid = Number((await execFileAsync('id', ['-u', 'postgres'])).stdout.trim());
    gid = Number((await execFileAsync('id', ['-g', 'postgres'])).stdout.trim());
  } catch (error) {
    throw new Error(
      "running as root, and initdb refuses root, but there is no `postgres` system user to run it as. Install Debian's `postgresql` package, or set DAG_TEST_DATABASE_URL.",
      { cause: error },
    );
  }
  return { uid, gid, argv: (cmd, args) => ['runuser', ['-u', 'postgres', '--', cmd, ...args]] };
}

/**
 * A fresh directory for the cluster, owned by the user that runs it. Its path goes through
 * pg_ctl's shell (-k) and becomes a unix socket path (max ~107 bytes), so it must be short and
 * plain; a long or unusual TMPDIR falls back to /tmp.
 */
async function makeBaseDir(runner: Runner | RootRunner): Promise<string> {
  const preferred = tmpdir();
  const parents = [preferred, '/tmp'].filter((p, i, all) => all.indexOf(p) === i);
  for (const parent of parents) {
    if (!/^[\w./-]+$/.test(parent) || parent.length > 60) continue;
    const dir = await mkdtemp(join(parent, 'dag-pg-'));
    if (!('uid' in runner)) return dir;
    await chown(dir, runner.uid, runner.gid);
    const [file, argv] = runner.argv('test', ['-w', dir, '-a', '-x', dir]);
    try {
      await execFileAsync(file, argv);
      return dir;
    } catch {
      // the postgres user cannot reach this parent (e.g. TMPDIR under /root): try the next one
      await rm(dir, { recursive: true, force: true });
    }
  }
  throw new Error(
    `no temporary directory usable by the postgres user (tried ${parents.join(', ')})`,
  );
}

/** Picks a free port and starts on it; retries when another process grabs the port first. */
async function startOnFreePort(
  start: (port: number) => Promise<void>,
  log: (m: string) => void,
): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      await start(port);
      return port;
    } catch (error) {
      if (attempt >= 3) throw error;
      log(`starting on port ${port} failed, retrying: ${errorText(error)}`);
    }
  }
}

async function readLogTail(file: string): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-20).join('\n').trim();
  } catch {
    return '';
  }
}

/** execFile's error message already carries the command and its stderr. */
function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim();
}
