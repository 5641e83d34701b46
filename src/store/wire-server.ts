import { randomInt } from 'node:crypto';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import type { PGlite } from '@electric-sql/pglite';
import {
  AUTHENTICATION_OK,
  SYNC,
  WireError,
  backendKeyData,
  copyFail,
  fatalError,
  message,
  negotiateProtocolVersion,
  readyForQuery,
  simpleQuery,
  sortReply,
  startupMessage,
  takeMessages,
  takeStartupPacket,
  type SortedReply,
  type StartupPacket,
  type TransactionStatus,
} from './wire.ts';

export type WireServer = {
  readonly socketPath: string;
  /** Stops listening, drops every connection (rolling back what they left open), and waits. */
  close(): Promise<void>;
};

type Connection = {
  id: number;
  socket: Socket;
  /** Bytes received and not yet a whole message. */
  pending: Buffer;
  /** Past the startup packet: typed messages from now on. */
  started: boolean;
  closed: boolean;
  /** The client sent Terminate: close once its requests have run. */
  terminating: boolean;
  /** Its requests waiting in the queue. */
  queued: number;
  /** One of its requests runs now. */
  running: boolean;
  /** The status its last answer ended with; undefined in the middle of a batch. */
  status: TransactionStatus | undefined;
  /** The backend waits for this connection's COPY data. */
  copyIn: boolean;
};

type Request = { connection: Connection; bytes: Buffer };

/** An extended-protocol Parse that fails: aborts whatever batch a vanished client left open. */
const ABORT_BATCH = Buffer.concat([
  message(
    'P',
    Buffer.concat([
      Buffer.from('\0'),
      Buffer.from('-- client disconnected\nABORT BATCH OF VANISHED CLIENT\0'),
      Buffer.from([0, 0]),
    ]),
  ),
  SYNC,
]);

/**
 * Serves one PGlite over the Postgres wire protocol on a Unix socket, to any number of clients.
 *
 * PGlite is one Postgres backend, one session. Clients take turns: a global FIFO queue of
 * requests (the whole messages a connection has sent) and a pin. The first request of an idle
 * backend pins it to its connection, and only that connection's requests run until the backend
 * answers with ReadyForQuery 'I' (idle): a whole extended-protocol batch (Parse, Bind, Execute,
 * Sync) and a whole transaction run without anything of another client in between. A
 * connection that goes away while pinned has its batch aborted and its transaction rolled back
 * before the pin moves on. Notifications (NOTIFY) are taken out of the answer they come in and
 * sent to every connection, since LISTEN, like all session state, is shared.
 *
 * The startup handshake is answered here (no password: the socket's folder is the access
 * control), with the parameters PGlite reported at start.
 */
export async function serveWire(
  pglite: PGlite,
  socketPath: string,
  options: { log?: (line: string) => void } = {},
): Promise<WireServer> {
  const log = options.log ?? (() => undefined);
  const connections = new Set<Connection>();
  const waiting: Request[] = [];
  let pinned: Connection | undefined;
  let pumping = false;
  let pumped: Promise<void> = Promise.resolve();
  let nextId = 1;

  const exec = async (bytes: Buffer): Promise<SortedReply> => {
    const chunks: Buffer[] = [];
    await pglite.runExclusive(() =>
      pglite.execProtocolRawStream(bytes, {
        onRawData: (data) => void chunks.push(Buffer.from(data)),
      }),
    );
    return sortReply(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  };

  const broadcast = (notifications: Buffer[]) => {
    if (notifications.length === 0) return;
    const bytes = Buffer.concat(notifications);
    for (const connection of connections) {
      if (connection.started && !connection.closed) connection.socket.write(bytes);
    }
  };

  // What PGlite reports at startup (server_version, encodings, DateStyle, ...), said to each client.
  const boot = await exec(startupMessage({ user: 'postgres', database: 'postgres' }));
  const { frames } = takeMessages(boot.reply);
  const parameterStatus = Buffer.concat(frames.filter((f) => f.type === 'S').map((f) => f.bytes));
  const startupReply = (packet: Extract<StartupPacket, { kind: 'startup' }>) => {
    const unsupported = [...packet.params.keys()].filter((k) => k.startsWith('_pq_.'));
    return Buffer.concat([
      ...(packet.minorVersion > 0 || unsupported.length > 0
        ? [negotiateProtocolVersion(0, unsupported)]
        : []),
      AUTHENTICATION_OK,
      parameterStatus,
      backendKeyData(process.pid, randomInt(2 ** 31)),
      readyForQuery('I'),
    ]);
  };

  /** Ends a connection: its waiting requests go, and a pin it holds is released by the pump. */
  const drop = (connection: Connection) => {
    if (connection.closed) return;
    connection.closed = true;
    for (let i = waiting.length - 1; i >= 0; i--) {
      if (waiting[i]?.connection === connection) waiting.splice(i, 1);
    }
    connection.queued = 0;
    connection.socket.destroy();
    connections.delete(connection);
    kick();
  };

  /** Aborts what a vanished client left open (COPY, batch, transaction); frees the backend. */
  const release = async (connection: Connection) => {
    try {
      let status = connection.status;
      if (connection.copyIn) {
        const answer = await exec(copyFail('client disconnected'));
        broadcast(answer.notifications);
        status = answer.ready;
      }
      if (status === undefined) {
        const answer = await exec(ABORT_BATCH);
        broadcast(answer.notifications);
        status = answer.ready;
      }
      if (status !== 'I') {
        const answer = await exec(simpleQuery('ROLLBACK'));
        broadcast(answer.notifications);
      }
    } catch (error) {
      log(`connection ${connection.id}: cleaning up after it failed: ${String(error)}`);
    } finally {
      if (pinned === connection) pinned = undefined;
    }
  };

  const run = async ({ connection, bytes }: Request) => {
    connection.queued--;
    connection.running = true;
    try {
      const answer = await exec(bytes);
      if (!connection.closed && answer.reply.length > 0) connection.socket.write(answer.reply);
      broadcast(answer.notifications);
      connection.status = answer.ready;
      connection.copyIn = answer.last === 'G';
      if (answer.ready === 'I') pinned = undefined; // batch and transaction over: next in line
    } catch (error) {
      // Only this connection pays: it is closed, and what it left open is rolled back.
      log(`connection ${connection.id}: request failed, closing it: ${String(error)}`);
      connection.status = undefined;
      drop(connection);
    } finally {
      connection.running = false;
      if (connection.terminating && connection.queued === 0) drop(connection);
    }
  };

  /** The next step for the backend, or undefined when there is nothing it may do now. */
  const next = (): (() => Promise<void>) | undefined => {
    const holder = pinned;
    if (holder?.closed) return () => release(holder);
    const index = holder ? waiting.findIndex((r) => r.connection === holder) : 0;
    if (index === -1 || waiting.length === 0) return undefined;
    const [request] = waiting.splice(index, 1) as [Request];
    pinned = request.connection;
    return () => run(request);
  };

  const pump = async () => {
    try {
      for (let step = next(); step; step = next()) await step();
    } finally {
      pumping = false; // no await since the last next(): nothing submitted in between is missed
    }
  };

  function kick() {
    if (pumping) return;
    pumping = true;
    pumped = pump();
  }

  const receive = (connection: Connection, chunk: Buffer) => {
    if (connection.closed || connection.terminating) return;
    connection.pending =
      connection.pending.length > 0 ? Buffer.concat([connection.pending, chunk]) : chunk;
    while (!connection.started) {
      const taken = takeStartupPacket(connection.pending);
      if (!taken) return;
      connection.pending = taken.rest;
      const { packet } = taken;
      if (packet.kind === 'startup') {
        connection.socket.write(startupReply(packet));
        connection.started = true;
      } else if (packet.kind === 'cancel') {
        drop(connection); // a statement cannot be interrupted here; the client just hangs up
        return;
      } else {
        connection.socket.write('N'); // no SSL or GSS on a local socket: the client goes on
      }
    }
    const { frames, rest } = takeMessages(connection.pending);
    connection.pending = rest.length > 0 ? Buffer.from(rest) : Buffer.alloc(0);
    const terminate = frames.findIndex((f) => f.type === 'X');
    const batch = terminate === -1 ? frames : frames.slice(0, terminate);
    if (batch.length > 0) {
      waiting.push({ connection, bytes: Buffer.concat(batch.map((f) => f.bytes)) });
      connection.queued++;
    }
    if (terminate !== -1) {
      connection.terminating = true;
      if (connection.queued === 0 && !connection.running) drop(connection);
    }
    kick();
  };

  const server = createServer((socket) => {
    const connection: Connection = {
      id: nextId++,
      socket,
      pending: Buffer.alloc(0),
      started: false,
      closed: false,
      terminating: false,
      queued: 0,
      running: false,
      status: 'I',
      copyIn: false,
    };
    connections.add(connection);
    socket.on('data', (chunk: Buffer) => {
      try {
        receive(connection, chunk);
      } catch (error) {
        const text = error instanceof WireError ? error.message : String(error);
        log(`connection ${connection.id}: ${text}`);
        if (!connection.closed) connection.socket.write(fatalError('08P01', text));
        drop(connection);
      }
    });
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => drop(connection));
  });

  rmSync(socketPath, { force: true }); // left by a process that died; the caller holds the lock
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);

  return {
    socketPath,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const connection of [...connections]) drop(connection);
      await pumped;
      await closed;
      rmSync(socketPath, { force: true });
    },
  };
}
