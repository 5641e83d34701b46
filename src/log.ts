import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Keys whose values never reach a log line, wherever they appear in a logged object.
 * Secret values DAG has decrypted are also registered with a SecretMasker, which scrubs
 * them from every line, whatever key (or message text) they hide in.
 */
const REDACTED_KEYS = [
  'access_token',
  'accessToken',
  'token',
  'service_account_token',
  'serviceAccountToken',
  'password',
  'privateKey',
  'private_key',
  'secret',
  'webhookSecret',
  'authorization',
  'Authorization',
  'x-gitlab-token',
  'cookie',
];

/**
 * Webhook payloads and the bodies DAG sends (comments, pull requests, check runs) never reach
 * a log line either: @octokit/webhooks hangs the delivery (payload included) on its errors as
 * `event`, which Probot logs when a signature does not match; an Octokit RequestError carries
 * the request's body.
 */
const CONTENT_PATHS = [
  'payload',
  '*.payload',
  'err.event',
  'err.aggregateErrors[*].event',
  'err.request.body',
  'err.cause.request.body',
];

const REDACT_PATHS = [
  ...REDACTED_KEYS,
  ...REDACTED_KEYS.map((k) => `*.${k}`),
  ...REDACTED_KEYS.map((k) => `*.*.${k}`),
  'req.headers["x-gitlab-token"]',
  'req.headers.authorization',
  'headers["x-gitlab-token"]',
  ...CONTENT_PATHS,
];

/** Scrubs registered secret values (and their common encodings) from text. */
export class SecretMasker {
  readonly #secrets = new Set<string>();

  add(secret: string | null | undefined): void {
    if (!secret || secret.length < 4) return;
    this.#secrets.add(secret);
    // A secret can also appear JSON-escaped inside a serialized log line.
    this.#secrets.add(JSON.stringify(secret).slice(1, -1));
    this.#secrets.add(Buffer.from(secret).toString('base64'));
  }

  mask(text: string): string {
    let out = text;
    for (const secret of this.#secrets) {
      if (out.includes(secret)) out = out.split(secret).join('***');
    }
    return out;
  }
}

export type LogOptions = {
  level?: string;
  masker?: SecretMasker;
  destination?: DestinationStream;
};

export function createLogger(options: LogOptions = {}): Logger {
  const masker = options.masker ?? new SecretMasker();
  return pino(
    {
      name: 'dag',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '***' },
      hooks: { streamWrite: (line) => masker.mask(line) },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination(1),
  );
}
