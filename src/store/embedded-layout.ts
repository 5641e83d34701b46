import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.ts';

/**
 * What the embedded database keeps under DAG_DATA_DIR (default `./.dag`), one folder to mount
 * as one volume:
 *
 *   data/                 PGlite's Postgres files
 *   data.lock             pid of the database process that has them open
 *   socket/.s.PGSQL.5432  its Unix socket, in a folder only DAG's user may enter (0700)
 *   encryption.key        the key DAG generates when DAG_ENCRYPTION_KEY is not set (0600)
 *
 * Before, DAG_DATA_DIR named PGlite's folder itself (default `./.dag/data`, key one level up):
 * the default layout is the same on disk. A DAG_DATA_DIR that holds Postgres files itself
 * (`PG_VERSION`) is such a folder and is used in place, its key adopted from one level up.
 */
export type EmbeddedLayout = {
  /** DAG_DATA_DIR. */
  root: string;
  /** PGlite's folder. */
  pgdata: string;
  lockFile: string;
  socketDir: string;
  socketPath: string;
  /** The generated key's default place. */
  keyFile: string;
  /** Where an older DAG put the key of a DAG_DATA_DIR that is PGlite's folder itself. */
  legacyKeyFile: string | undefined;
};

export const SOCKET_NAME = '.s.PGSQL.5432';
/** sun_path holds 108 bytes on Linux (104 on macOS), the final NUL included. */
const MAX_SOCKET_PATH_BYTES = process.platform === 'darwin' ? 103 : 107;

/** Messages of the database process to its parent (IPC). */
export type ServerMessage =
  { type: 'ready'; socketDir: string } | { type: 'error'; message: string; config: boolean };
/** What the database process is started with (argv[2], JSON). */
export type ServerConfig = { dataDir: string; template?: string };

export function embeddedLayout(dataDir: string): EmbeddedLayout {
  const legacy = existsSync(path.join(dataDir, 'PG_VERSION'));
  const pgdata = legacy ? dataDir : path.join(dataDir, 'data');
  const socketDir = path.join(dataDir, 'socket');
  return {
    root: dataDir,
    pgdata,
    lockFile: `${pgdata}.lock`,
    socketDir,
    socketPath: path.join(socketDir, SOCKET_NAME),
    keyFile: path.join(dataDir, 'encryption.key'),
    legacyKeyFile: legacy ? path.join(path.dirname(dataDir), 'encryption.key') : undefined,
  };
}

/** A connection string for `pg` and `psql` to the socket in `socketDir`. */
export function socketUrl(socketDir: string): string {
  return `postgresql://postgres@/postgres?host=${encodeURIComponent(socketDir).replace(/%2F/g, '/')}`;
}

/** Refuses a socket path the OS cannot bind, naming the setting that makes it short. */
export function checkSocketPath(socketPath: string): void {
  const bytes = Buffer.byteLength(socketPath);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new ConfigError(
      `the embedded database's socket path ${socketPath} is ${bytes} bytes, more than the ${MAX_SOCKET_PATH_BYTES} the OS allows: use a shorter DAG_DATA_DIR`,
    );
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The live process holding the database's lock, if any (a stale lock names none). */
export function lockOwner(layout: EmbeddedLayout): number | undefined {
  let text: string;
  try {
    text = readFileSync(layout.lockFile, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text, 10);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)
    ? pid
    : undefined;
}

export function inUseError(layout: EmbeddedLayout, pid: number): ConfigError {
  return new ConfigError(
    `the embedded database at ${layout.root} is in use by another DAG process (pid ${pid}); stop it first, or set DATABASE_URL to share a Postgres server`,
  );
}

/**
 * PGlite is one Postgres backend inside one process: two processes opening the same folder
 * would corrupt it. A pid lock file beside the data makes the second one fail with a clear
 * error; a lock left by a process that is gone is taken over.
 */
export function acquireLock(layout: EmbeddedLayout): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(layout.lockFile, String(process.pid), { flag: 'wx' });
      return () => rmSync(layout.lockFile, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = lockOwner(layout);
      if (owner !== undefined) throw inUseError(layout, owner);
      rmSync(layout.lockFile, { force: true }); // stale lock from a process that is gone
    }
  }
  throw new ConfigError(`cannot lock the embedded database at ${layout.root}`);
}
