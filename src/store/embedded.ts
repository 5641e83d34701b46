import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ConfigError, TransientError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Db } from './db.ts';
import {
  checkSocketPath,
  embeddedLayout,
  inUseError,
  lockOwner,
  socketUrl,
  type ServerConfig,
  type ServerMessage,
} from './embedded-layout.ts';
import { openPostgres } from './postgres.ts';

const SERVER_ENTRY = fileURLToPath(new URL('./embedded-server.ts', import.meta.url));
/** Creating a database runs initdb in WebAssembly: seconds, more on a busy machine. */
const START_TIMEOUT_MS = 180_000;
/** Closing flushes PGlite to disk; a process still there after this is killed. */
const STOP_TIMEOUT_MS = 30_000;

export type EmbeddedOptions = {
  /**
   * When a DAG already runs on this folder, use its database through its socket (the CLI).
   * Without it, that is an error: two DAGs cannot share an embedded database.
   */
  attach?: boolean;
  /** Where the database process's warnings and its death are logged. */
  log?: Logger;
  /** A PGlite data dump (`dumpDataDir`) that a new database starts from instead of initdb. */
  template?: string;
  /** Connections of this process to the database (default 10). */
  max?: number;
};

type Server = {
  socketDir: string;
  onLost(listener: (error: Error) => void): void;
  stop(): Promise<void>;
};

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (exited(child)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Spawns the database process (src/store/embedded-server.ts) and waits until it listens. */
async function startServer(dataDir: string, options: EmbeddedOptions): Promise<Server> {
  const config: ServerConfig = {
    dataDir,
    ...(options.template ? { template: options.template } : {}),
  };
  const child = spawn(process.execPath, [SERVER_ENTRY, JSON.stringify(config)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let tail = '';
  let partial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    tail = (tail + text).slice(-2000);
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line) options.log?.warn({ component: 'embedded-db' }, line);
  });
  const output = () => (tail.trim() ? `: ${tail.trim().split('\n').at(-1)}` : '');

  let socketDir: string;
  try {
    socketDir = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new TransientError(
              `the embedded database did not start within ${START_TIMEOUT_MS / 1000} s`,
            ),
          ),
        START_TIMEOUT_MS,
      );
      const settle = (fn: () => void) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        fn();
      };
      const onMessage = (message: ServerMessage) => {
        if (message.type === 'ready') settle(() => resolve(message.socketDir));
        else
          settle(() =>
            reject(
              message.config
                ? new ConfigError(message.message)
                : new TransientError(message.message),
            ),
          );
      };
      const onExit = (code: number | null, signal: string | null) =>
        settle(() =>
          reject(
            new TransientError(
              `the embedded database process exited (${signal ?? code}) before it was ready${output()}`,
            ),
          ),
        );
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.once('error', (error) => settle(() => reject(error)));
    });
  } catch (error) {
    if (!exited(child)) child.kill('SIGKILL');
    throw error;
  }

  // From now on the child does not keep this process alive: when this process exits, for
  // whatever reason, the IPC channel closes and the child stops by itself.
  child.unref();
  child.channel?.unref();
  (child.stderr as Socket | null)?.unref();

  let stopping = false;
  let lost: Error | undefined;
  const listeners: ((error: Error) => void)[] = [];
  child.once('exit', (code, signal) => {
    if (stopping) return;
    lost = new Error(
      `the embedded database process (pid ${child.pid}) exited (${signal ?? code})${output()}`,
    );
    options.log?.error({ err: lost }, 'the embedded database is gone');
    for (const listener of listeners) listener(lost);
  });
  return {
    socketDir,
    onLost(listener) {
      if (lost) listener(lost);
      else listeners.push(listener);
    },
    async stop() {
      stopping = true;
      if (exited(child)) return;
      child.ref();
      try {
        child.send({ type: 'stop' });
      } catch {
        child.disconnect?.(); // channel already closing: that stops it too
      }
      if (await waitExit(child, STOP_TIMEOUT_MS)) return;
      options.log?.error({ pid: child.pid }, 'the embedded database did not stop: killed');
      child.kill('SIGKILL');
      await waitExit(child, 5_000);
    },
  };
}

/**
 * Opens the embedded database (creating it if needed): PGlite runs in a process of its own,
 * and this one talks to it over its Unix socket with `pg`, as to any Postgres. `memory://`
 * keeps it in memory, gone when closed. Closing stops the process, which flushes to disk.
 */
export async function openEmbedded(dataDir: string, options: EmbeddedOptions = {}): Promise<Db> {
  const inMemory = dataDir === 'memory://';
  const location = inMemory ? 'embedded (in memory)' : `embedded (${dataDir})`;
  if (!inMemory) {
    const layout = embeddedLayout(dataDir);
    checkSocketPath(layout.socketPath);
    const owner = lockOwner(layout);
    if (owner !== undefined) {
      if (!options.attach || !existsSync(layout.socketPath)) throw inUseError(layout, owner);
      try {
        return await openPostgres(socketUrl(layout.socketDir), {
          kind: 'embedded',
          location,
          max: options.max ?? 2,
        });
      } catch (error) {
        throw new TransientError(
          `${inUseError(layout, owner).message} (its socket ${layout.socketPath} does not answer)`,
          { cause: error },
        );
      }
    }
  }
  const server = await startServer(dataDir, options);
  let db: Db;
  try {
    db = await openPostgres(socketUrl(server.socketDir), {
      kind: 'embedded',
      location,
      max: options.max ?? 10,
    });
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    ...db,
    onLost: server.onLost,
    async close() {
      try {
        await db.close();
      } finally {
        await server.stop();
      }
    },
  };
}
