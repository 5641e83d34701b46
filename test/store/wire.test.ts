// The embedded database's wire server (src/store/wire-server.ts) as clients see it: many `pg`
// connections on one PGlite session, which it must keep from stepping on each other.

import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOCKET_NAME } from '../../src/store/embedded-layout.ts';
import {
  SSL_REQUEST,
  SYNC,
  message,
  sortReply,
  startupMessage,
  takeMessages,
  takeStartupPacket,
} from '../../src/store/wire.ts';
import { openLane, type LaneDb } from '../helpers/lanes.ts';

describe('wire protocol framing', () => {
  it('cuts startup packets, SSL requests included, and waits for whole ones', () => {
    const ssl = Buffer.alloc(8);
    ssl.writeInt32BE(8, 0);
    ssl.writeInt32BE(SSL_REQUEST, 4);
    const startup = startupMessage({ user: 'postgres', database: 'postgres' });
    const both = Buffer.concat([ssl, startup]);
    expect(takeStartupPacket(both.subarray(0, 7))).toBeUndefined();
    const first = takeStartupPacket(both);
    expect(first?.packet).toEqual({ kind: 'ssl' });
    expect(takeStartupPacket(first?.rest.subarray(0, 12) as Buffer)).toBeUndefined();
    const second = takeStartupPacket(first?.rest as Buffer);
    expect(second?.packet).toEqual({
      kind: 'startup',
      minorVersion: 0,
      params: new Map([
        ['user', 'postgres'],
        ['database', 'postgres'],
      ]),
    });
    expect(second?.rest.length).toBe(0);
  });

  it('refuses nonsense lengths and protocols', () => {
    const bad = Buffer.alloc(8);
    bad.writeInt32BE(3, 0);
    expect(() => takeStartupPacket(bad)).toThrow(/invalid startup packet length 3/);
    const v2 = Buffer.alloc(8);
    v2.writeInt32BE(8, 0);
    v2.writeInt32BE(2 << 16, 4);
    expect(() => takeStartupPacket(v2)).toThrow(/unsupported frontend protocol 2\.0/);
    expect(() => takeMessages(Buffer.from([0x51, 0, 0, 0, 1]))).toThrow(/invalid message length/);
  });

  it('cuts typed messages, keeping a partial one for later', () => {
    const query = message('Q', Buffer.from('SELECT 1\0'));
    const stream = Buffer.concat([query, SYNC, query.subarray(0, 6)]);
    const { frames, rest } = takeMessages(stream);
    expect(frames.map((f) => f.type)).toEqual(['Q', 'S']);
    expect(rest).toEqual(query.subarray(0, 6));
  });

  it('takes notifications out of an answer and reads the final status', () => {
    const notification = message('A', Buffer.from('\0\0\0\x01ch\0hi\0'));
    const complete = message('C', Buffer.from('NOTIFY\0'));
    const sorted = sortReply(
      Buffer.concat([complete, notification, message('Z', Buffer.from('T'))]),
    );
    expect(sorted.notifications).toEqual([notification]);
    expect(sorted.reply).toEqual(Buffer.concat([complete, message('Z', Buffer.from('T'))]));
    expect(sorted.ready).toBe('T');
    expect(sortReply(complete).ready).toBeUndefined();
    expect(() => sortReply(complete.subarray(0, 4))).toThrow(/partial message/);
  });
});

/** A raw wire client, for what `pg` never does (a batch split in two, a client vanishing). */
async function rawClient(socketPath: string) {
  const socket: Socket = connect(socketPath);
  await once(socket, 'connect');
  let received = Buffer.alloc(0);
  const waiters: (() => void)[] = [];
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
    for (const wake of waiters.splice(0)) wake();
  });
  /** Waits until the messages received hold one of type `type`; returns and forgets them all. */
  const until = async (type: string) => {
    for (;;) {
      const { frames } = takeMessages(received);
      if (frames.some((f) => f.type === type)) {
        received = Buffer.alloc(0);
        return frames;
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const ssl = Buffer.alloc(8);
  ssl.writeInt32BE(8, 0);
  ssl.writeInt32BE(SSL_REQUEST, 4);
  socket.write(ssl);
  await new Promise<void>((resolve) => waiters.push(resolve));
  expect(received.toString()).toBe('N'); // no SSL on a local socket
  received = Buffer.alloc(0);
  socket.write(startupMessage({ user: 'postgres', database: 'postgres' }));
  const hello = await until('Z');
  expect(hello[0]?.type).toBe('R');
  return { socket, until };
}

const cstring = (text: string) => Buffer.from(`${text}\0`);
const parse = (sql: string) =>
  message('P', Buffer.concat([cstring(''), cstring(sql), Buffer.from([0, 0])]));
const bind = (value: string) =>
  message(
    'B',
    Buffer.concat([
      cstring(''),
      cstring(''),
      Buffer.from([0, 0, 0, 1]),
      int32(value.length),
      Buffer.from(value),
      Buffer.from([0, 0]),
    ]),
  );
const execute = message('E', Buffer.concat([cstring(''), int32(0)]));
function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}
const dataRows = (frames: { type: string; bytes: Buffer }[]) =>
  frames.filter((f) => f.type === 'D').map((f) => f.bytes.subarray(11).toString());

describe('the embedded database server, many clients on one session', () => {
  let lane: LaneDb;
  let socketPath: string;
  const clients: pg.Client[] = [];
  const client = async () => {
    const c = new pg.Client({ connectionString: lane.url });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    lane = await openLane('embedded');
    socketPath = `${decodeURIComponent(lane.url.split('?host=')[1] ?? '')}/${SOCKET_NAME}`;
    await lane.db.query('CREATE TABLE wire_test (v text)');
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await lane.drop();
  });

  it('answers parallel parameterized queries of two pools each with its own parameter', async () => {
    const pools = [0, 1].map(() => new pg.Pool({ connectionString: lane.url, max: 10 }));
    try {
      const asked = pools.flatMap((pool, p) =>
        Array.from({ length: 20 }, (_, i) => `${p}-${i}`).map(async (value) => {
          const { rows } = await pool.query<{ v: string; n: number }>(
            'SELECT $1::text AS v, (SELECT count(*)::int FROM generate_series(1, 500 + $2::int)) AS n',
            [value, value.length],
          );
          return [value, rows[0]?.v, rows[0]?.n === 500 + value.length];
        }),
      );
      for (const [value, got, counted] of await Promise.all(asked)) {
        expect(got).toBe(value);
        expect(counted).toBe(true);
      }
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('runs a batch split over two writes without another client in between', async () => {
    const a = await rawClient(socketPath);
    const b = await rawClient(socketPath);
    try {
      // A parses and binds, gets ParseComplete and BindComplete, and has not synced yet ...
      a.socket.write(Buffer.concat([parse('SELECT $1::text'), bind('from-a')]));
      await a.until('2');
      // ... B sends a whole batch of its own, for the same unnamed statement and portal ...
      b.socket.write(Buffer.concat([parse('SELECT $1::text'), bind('from-b'), execute, SYNC]));
      await nextTurn();
      // ... and A's execute still runs A's portal; B's batch runs after A's Sync.
      a.socket.write(Buffer.concat([execute, SYNC]));
      expect(dataRows(await a.until('Z'))).toEqual(['from-a']);
      expect(dataRows(await b.until('Z'))).toEqual(['from-b']);
    } finally {
      a.socket.destroy();
      b.socket.destroy();
    }
  });

  it('lets others wait for a transaction, then see what it committed', async () => {
    const a = await client();
    const b = await client();
    await a.query('BEGIN');
    await a.query("INSERT INTO wire_test VALUES ('tx-1')");
    // B asks while A's transaction is open: it must not run inside it ...
    const seen = b.query<{ outside: boolean; n: number }>(
      "SELECT txid_current_if_assigned() IS NULL AS outside, count(*)::int AS n FROM wire_test WHERE v LIKE 'tx-%'",
    );
    await a.query("INSERT INTO wire_test VALUES ('tx-2')");
    await a.query('COMMIT');
    // ... but after it, in a transaction of its own, seeing both committed rows.
    expect((await seen).rows[0]).toEqual({ outside: true, n: 2 });
  });

  it('rolls back the transaction of a client that vanished, and goes on with the others', async () => {
    const a = await client();
    const b = await client();
    await a.query('BEGIN');
    await a.query("INSERT INTO wire_test VALUES ('ghost')");
    (a as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    const { rows } = await b.query<{ n: number; outside: boolean }>(
      "SELECT count(*)::int AS n, txid_current_if_assigned() IS NULL AS outside FROM wire_test WHERE v = 'ghost'",
    );
    expect(rows[0]).toEqual({ n: 0, outside: true });
  });

  it('aborts the half batch of a client that vanished before its Sync', async () => {
    const a = await rawClient(socketPath);
    a.socket.write(
      Buffer.concat([
        parse("INSERT INTO wire_test VALUES ('half')"),
        message('B', Buffer.from('\0\0\0\0\0\0\0\0')),
        execute,
      ]),
    );
    await a.until('C'); // executed, not yet committed: the implicit transaction waits for Sync
    a.socket.destroy();
    const b = await client();
    const { rows } = await b.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM wire_test WHERE v = 'half'",
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('passes NOTIFY on to a LISTENing client', async () => {
    const listener = await client();
    const notifier = await client();
    await listener.query('LISTEN wire_channel');
    const heard = once(listener, 'notification') as Promise<[pg.Notification]>;
    await notifier.query("NOTIFY wire_channel, 'hello'");
    const [notification] = await heard;
    expect(notification).toMatchObject({ channel: 'wire_channel', payload: 'hello' });
  });

  it('closes only the connection that breaks the protocol', async () => {
    const bad = connect(socketPath);
    await once(bad, 'connect');
    const closed = once(bad, 'close');
    bad.resume(); // read the FATAL error, then the end
    bad.write(Buffer.from([0, 0, 0, 8, 0, 2, 0, 0])); // protocol 2.0
    await closed;
    const { rows } = await (await client()).query<{ one: number }>('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
  });
});
