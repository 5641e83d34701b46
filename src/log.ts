import { pino, type Logger, type DestinationStream } from 'pino';
import { MASK_PREFIX } from './diff/credential-patterns.ts';
import { maskText } from './diff/mask-text.ts';
import { MASKED, maskObject } from './diff/masking.ts';
import { isPlainObject } from './render/plain-object.ts';

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

/**
 * Keys whose values are content DAG sends or receives (a comment, a pull request's description,
 * a check run's output, a webhook's payload): at whatever depth, a log line says only how big
 * such a value was.
 */
const CONTENT_KEYS = new Set(['body', 'bodies', 'payload']);

/**
 * One log line, masked by structure like everything else DAG shows: the line is parsed back and
 * masked as an object (`maskObject`: credential-named keys, `{name: DB_PASSWORD, value}`
 * entries, credential-shaped text in messages and errors), content is replaced by its size, and
 * a line that is not JSON falls back to the line masker.
 */
export function maskLogLine(line: string): string {
  const end = line.endsWith('\n') ? '\n' : '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return maskText(line);
  }
  const masked = JSON.stringify(maskObject(withoutContent(parsed, 0)));
  // Nothing in a log line is compared with another side: every marker is a plain `***`.
  return `${masked.replaceAll(MASKED.unchanged, MASK_PREFIX)}${end}`;
}

function withoutContent(value: unknown, depth: number): unknown {
  if (depth > 20) return value;
  if (Array.isArray(value)) return value.map((item) => withoutContent(item, depth + 1));
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [
      key,
      CONTENT_KEYS.has(key) && item !== null && item !== MASK_PREFIX
        ? `${MASK_PREFIX} (${sizeOf(item)} characters)`
        : withoutContent(item, depth + 1),
    ]),
  );
}

function sizeOf(value: unknown): number {
  return typeof value === 'string' ? value.length : (JSON.stringify(value) ?? '').length;
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
      hooks: { streamWrite: (line) => maskLogLine(masker.mask(line)) },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination(1),
  );
}
