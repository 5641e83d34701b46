// The Postgres wire protocol (version 3), as much as the embedded database's server needs: cut
// a client's byte stream into whole messages, cut PGlite's answer into whole messages, and build
// the few messages the server writes itself. No I/O here.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

/** Codes of the packets a client may send before (or instead of) its startup message. */
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;
const PROTOCOL_MAJOR_3 = 3;

/** Postgres refuses longer startup packets too (MAX_STARTUP_PACKET_LENGTH). */
const MAX_STARTUP_BYTES = 10_000;
/** Postgres' own limit on one message (PQ_LARGE_MESSAGE_LIMIT is 1 GB). */
const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;

/** The client broke the protocol: its connection is closed. */
export class WireError extends Error {
  override name = 'WireError';
}

export type StartupPacket =
  | { kind: 'ssl' | 'gssenc' | 'cancel' }
  | { kind: 'startup'; minorVersion: number; params: Map<string, string> };

/**
 * Cuts the first startup-phase packet (length, then a code or protocol version; no type byte)
 * off `buffer`; undefined while it is incomplete.
 */
export function takeStartupPacket(
  buffer: Buffer,
): { packet: StartupPacket; rest: Buffer } | undefined {
  if (buffer.length < 8) return undefined;
  const length = buffer.readInt32BE(0);
  if (length < 8 || length > MAX_STARTUP_BYTES) {
    throw new WireError(`invalid startup packet length ${length}`);
  }
  if (buffer.length < length) return undefined;
  const code = buffer.readInt32BE(4);
  const rest = buffer.subarray(length);
  if (code === SSL_REQUEST) return { packet: { kind: 'ssl' }, rest };
  if (code === GSSENC_REQUEST) return { packet: { kind: 'gssenc' }, rest };
  if (code === CANCEL_REQUEST) return { packet: { kind: 'cancel' }, rest };
  if (code >>> 16 !== PROTOCOL_MAJOR_3) {
    throw new WireError(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`);
  }
  const params = new Map<string, string>();
  const fields = buffer.subarray(8, length).toString('utf8').split('\0');
  for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) {
    params.set(fields[i] as string, fields[i + 1] as string);
  }
  return { packet: { kind: 'startup', minorVersion: code & 0xffff, params }, rest };
}

/** One whole typed message (type byte, length, body), as received. */
export type Frame = { type: string; bytes: Buffer };

/** Cuts every whole typed message off the front of `buffer`; the rest waits for more bytes. */
export function takeMessages(buffer: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let offset = 0;
  while (buffer.length - offset >= 5) {
    const length = buffer.readInt32BE(offset + 1);
    if (length < 4 || length > MAX_MESSAGE_BYTES) {
      throw new WireError(`invalid message length ${length}`);
    }
    if (buffer.length - offset < 1 + length) break;
    frames.push({
      type: String.fromCharCode(buffer[offset] as number),
      bytes: buffer.subarray(offset, offset + 1 + length),
    });
    offset += 1 + length;
  }
  return { frames, rest: buffer.subarray(offset) };
}

export type TransactionStatus = 'I' | 'T' | 'E';

/** The backend's answer to one request, sorted for the server. */
export type SortedReply = {
  /** What goes back to the client that asked: everything but notifications. */
  reply: Buffer;
  /** NotificationResponse messages, for every connection. */
  notifications: Buffer[];
  /** The status of the ReadyForQuery that ends the reply, if it ends with one. */
  ready: TransactionStatus | undefined;
  /** Type of the reply's last message (e.g. 'G': the backend waits for COPY data). */
  last: string | undefined;
};

/**
 * Sorts one whole answer of the backend. Throws when it is not a whole number of messages,
 * which would mean the server lost track of the stream.
 */
export function sortReply(output: Buffer): SortedReply {
  const { frames, rest } = takeMessages(output);
  if (rest.length > 0) throw new Error(`the backend's answer ends in a partial message`);
  const keep: Buffer[] = [];
  const notifications: Buffer[] = [];
  for (const frame of frames) {
    if (frame.type === 'A') notifications.push(frame.bytes);
    else keep.push(frame.bytes);
  }
  const last = frames.at(-1);
  const status = last?.type === 'Z' ? String.fromCharCode(last.bytes[5] as number) : undefined;
  return {
    reply: keep.length === frames.length ? output : Buffer.concat(keep),
    notifications,
    ready: status === 'I' || status === 'T' || status === 'E' ? status : undefined,
    last: last?.type,
  };
}

/** A typed message: the type byte, the length (counting itself), the body. */
export function message(type: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const bytes = Buffer.alloc(5 + body.length);
  bytes.write(type, 0, 'latin1');
  bytes.writeInt32BE(4 + body.length, 1);
  body.copy(bytes, 5);
  return bytes;
}

const cstring = (text: string) => Buffer.from(`${text}\0`, 'utf8');
const int32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value | 0);
  return bytes;
};

/** Frontend: a startup message (protocol 3.0). */
export function startupMessage(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    ...Object.entries(params).flatMap(([key, value]) => [cstring(key), cstring(value)]),
    Buffer.from([0]),
  ]);
  const bytes = Buffer.alloc(8 + body.length);
  bytes.writeInt32BE(bytes.length, 0);
  bytes.writeInt32BE(PROTOCOL_MAJOR_3 << 16, 4);
  body.copy(bytes, 8);
  return bytes;
}

/** Frontend: a simple query. */
export const simpleQuery = (sql: string): Buffer => message('Q', cstring(sql));
/** Frontend: Sync, which ends an extended-protocol batch. */
export const SYNC = message('S');
/** Frontend: CopyFail, which ends a COPY FROM STDIN the client abandoned. */
export const copyFail = (reason: string): Buffer => message('f', cstring(reason));

/** Backend: AuthenticationOk. */
export const AUTHENTICATION_OK = message('R', int32(0));
/** Backend: BackendKeyData. */
export const backendKeyData = (pid: number, secret: number): Buffer =>
  message('K', Buffer.concat([int32(pid), int32(secret)]));
/** Backend: ReadyForQuery. */
export const readyForQuery = (status: TransactionStatus): Buffer =>
  message('Z', Buffer.from(status, 'latin1'));
/** Backend: NegotiateProtocolVersion, for a client asking 3.x (x > 0) or `_pq_.` options. */
export const negotiateProtocolVersion = (minor: number, unsupported: string[]): Buffer =>
  message(
    'v',
    Buffer.concat([int32(minor), int32(unsupported.length), ...unsupported.map(cstring)]),
  );
/** Backend: a FATAL ErrorResponse. */
export const fatalError = (code: string, text: string): Buffer =>
  message(
    'E',
    Buffer.concat([
      Buffer.from('S'),
      cstring('FATAL'),
      Buffer.from('V'),
      cstring('FATAL'),
      Buffer.from('C'),
      cstring(code),
      Buffer.from('M'),
      cstring(text),
      Buffer.from([0]),
    ]),
  );
