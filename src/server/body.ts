import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './respond.ts';

/**
 * The largest webhook body DAG reads: 25 MiB (26,214,400 bytes). GitHub caps webhook payloads
 * at 25 MB (a bigger event is not delivered at all), and GitLab does not send a hook whose JSON
 * is over 25 megabytes (`Gitlab::Json::LimitedEncoder`, 25 × 1024 × 1024 bytes), so no genuine
 * delivery is refused. A bigger body is answered 413 without being read: from its
 * Content-Length before the first byte, or at the limit while a chunked body streams in.
 */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/**
 * After refusing a body, how long DAG keeps the connection open and what it reads (and
 * discards) meanwhile. Closing a socket with unread input resets it, and a reset throws away
 * an answer the client has not read yet, so the answer is followed by a half-close (FIN) and
 * the connection stays open until the client closes it or `ms` pass ("lingering close", as
 * nginx does). Past `bytes` DAG stops reading, so a client that keeps sending is held back by
 * TCP flow control rather than read to the end.
 */
const LINGER = { ms: 5_000, bytes: 1024 * 1024 } as const;

/** A request header's (first) value. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** True when the request declares a body longer than `maxBytes` (Content-Length). */
export function declaresMoreThan(req: IncomingMessage, maxBytes: number): boolean {
  // Node's HTTP parser accepts only digits here, so the header is absent or a whole number.
  const declared = Number(req.headers['content-length']);
  return Number.isFinite(declared) && declared > maxBytes;
}

export type BodyRead =
  { status: 'read'; body: Buffer } | { status: 'too-large' } | { status: 'aborted' };

/**
 * Reads a request body of at most `maxBytes`, handing each chunk to `onChunk` as it arrives
 * (to hash it on the way). Stops reading the moment the count passes the limit: at most
 * `maxBytes` are ever held. A client that goes away mid-body gives `aborted`.
 */
export function readLimited(
  req: IncomingMessage,
  maxBytes: number,
  onChunk: (chunk: Buffer) => void = () => {},
): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: BodyRead) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.pause();
        finish({ status: 'too-large' });
        return;
      }
      onChunk(chunk);
      chunks.push(chunk);
    };
    const onEnd = () => finish({ status: 'read', body: Buffer.concat(chunks, size) });
    const onAbort = () => finish({ status: 'aborted' });
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onAbort);
    req.once('close', onAbort);
  });
}

/**
 * Answers `status` with a short JSON body, leaving the rest of the request body unread: once
 * the answer is out, DAG half-closes the connection and discards what still arrives, up to
 * LINGER.bytes, until the client closes or LINGER.ms pass; then the connection is closed.
 */
export function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: { error: string; field?: string },
): void {
  res.once('finish', () => {
    if (req.complete) return;
    const socket = req.socket;
    let discarded = 0;
    const timer = setTimeout(() => socket.destroy(), LINGER.ms);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    req.once('end', () => clearTimeout(timer));
    req.on('data', (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > LINGER.bytes) req.pause();
    });
    socket.end();
    req.resume();
  });
  sendJson(res, status, body);
}
