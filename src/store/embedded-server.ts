// The embedded database's own process, spawned by src/store/embedded.ts with an IPC channel:
// PGlite (a whole Postgres in WebAssembly, hundreds of MB) behind the wire server on a Unix
// socket, so that DAG itself stays small and talks to it with `pg` as to any Postgres.
//
// It lives exactly as long as its parent wants it: it stops (closing PGlite, which flushes it
// to disk) when the parent says `stop` or when the IPC channel closes, which is also what
// happens when the parent dies, even by SIGKILL. SIGINT and SIGTERM are ignored: a Ctrl-C in a
// terminal, or a supervisor signalling the whole process group, reaches this process too, and
// the parent still needs the database to finish its running jobs before it stops it.

import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { ConfigError, errorMessage } from '../errors.ts';
import {
  SOCKET_NAME,
  acquireLock,
  checkSocketPath,
  embeddedLayout,
  type ServerConfig,
  type ServerMessage,
} from './embedded-layout.ts';
import { serveWire, type WireServer } from './wire-server.ts';

const say = (message: ServerMessage, then: () => void = () => undefined) => {
  try {
    if (process.send?.(message, undefined, {}, () => then())) return;
  } catch {
    // the parent is gone: 'disconnect' stops this process
  }
  then();
};
const warn = (line: string) => process.stderr.write(`dag embedded database: ${line}\n`);

process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
process.stderr.on('error', () => undefined); // a parent that died closed our stderr pipe

if (!process.send) {
  warn("this is DAG's embedded database process; DAG starts it (it needs an IPC channel)");
  process.exit(2);
}

const config = JSON.parse(process.argv[2] ?? '{}') as ServerConfig;
const inMemory = config.dataDir === 'memory://';
let release = () => undefined as void;
let tempDir: string | undefined;
let pglite: PGlite | undefined;
let wire: WireServer | undefined;

async function start(): Promise<void> {
  let socketDir: string;
  let pgdata: string | undefined;
  if (inMemory) {
    tempDir = mkdtempSync(path.join(os.tmpdir(), 'dag-db-')); // mode 0700
    socketDir = tempDir;
  } else {
    const layout = embeddedLayout(path.resolve(config.dataDir));
    checkSocketPath(layout.socketPath);
    mkdirSync(layout.root, { recursive: true });
    release = acquireLock(layout);
    mkdirSync(layout.socketDir, { recursive: true, mode: 0o700 });
    chmodSync(layout.socketDir, 0o700);
    socketDir = layout.socketDir;
    pgdata = layout.pgdata;
  }
  const socketPath = path.join(socketDir, SOCKET_NAME);
  checkSocketPath(socketPath);
  const fresh = pgdata === undefined || !existsSync(path.join(pgdata, 'PG_VERSION'));
  const template = config.template && fresh ? new Blob([readFileSync(config.template)]) : undefined;
  try {
    pglite = await PGlite.create(pgdata, template ? { loadDataDir: template } : {});
  } catch (error) {
    throw new ConfigError(
      `cannot open the embedded database at ${pgdata ?? 'memory://'}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  wire = await serveWire(pglite, socketPath, { log: warn });
  say({ type: 'ready', socketDir });
}

const started = start();
let stopping: Promise<void> | undefined;
const stop = () =>
  (stopping ??= (async () => {
    await started.catch(() => undefined); // a half-created data folder would not open again
    try {
      await wire?.close();
      await pglite?.close();
    } catch (error) {
      warn(`stopping: ${errorMessage(error)}`);
    } finally {
      release();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      process.exit(0);
    }
  })());

process.on('disconnect', () => void stop());
process.on('message', (message: unknown) => {
  if ((message as { type?: unknown } | null)?.type === 'stop') void stop();
});

started.catch((error: unknown) => {
  warn(errorMessage(error));
  release();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  // exit once the parent has the message (an exit right away could lose it)
  say({ type: 'error', message: errorMessage(error), config: error instanceof ConfigError }, () =>
    process.exit(1),
  );
});
