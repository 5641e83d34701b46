import { SecretMasker } from '../log.ts';

export type Env = Record<string, string | undefined>;
export type Writer = { write(chunk: string): unknown };
export type Stdin = AsyncIterable<string | Buffer> & { isTTY?: boolean | undefined };

/** What the CLI touches outside itself: injected, so tests run it in-process. */
export type CliIo = { env: Env; stdout: Writer; stderr: Writer; stdin: Stdin };

/**
 * The CLI's view of its io: every line it writes goes through a SecretMasker that knows the
 * secrets in the environment and every secret the CLI reads, so none can reach the terminal.
 */
export type Cli = CliIo & {
  masker: SecretMasker;
  /** Writes one line (or several) to stdout. */
  print(text: string): void;
  /** Writes one line to stderr. */
  note(text: string): void;
};

/** Environment variables whose values are secrets, masked wherever they would be printed. */
const SECRET_ENV = [
  'DAG_ENCRYPTION_KEY',
  'DAG_ENCRYPTION_OLD_KEYS',
  'WEBHOOK_SECRET',
  'GITLAB_WEBHOOK_SECRET',
  'GITLAB_TOKEN',
  'PRIVATE_KEY',
  'DAG_IAC_TOKEN',
  'DAG_CLUSTER_TOKEN',
];

function maskEnvironment(masker: SecretMasker, env: Env): void {
  for (const name of SECRET_ENV) {
    const value = env[name]?.trim();
    if (!value) continue;
    masker.add(value);
    for (const part of value.split(',')) masker.add(part.trim());
  }
  const databaseUrl = env.DATABASE_URL?.trim();
  if (databaseUrl) {
    try {
      const password = new URL(databaseUrl).password;
      masker.add(password);
      masker.add(decodeURIComponent(password));
    } catch {
      // an unparseable URL is refused by readSettings, which does not print it
    }
  }
}

function masked(writer: Writer, masker: SecretMasker): Writer {
  return { write: (chunk: string) => writer.write(masker.mask(chunk)) };
}

export function toCli(io: CliIo | Cli): Cli {
  if ('masker' in io) return io;
  const masker = new SecretMasker();
  maskEnvironment(masker, io.env);
  const stdout = masked(io.stdout, masker);
  const stderr = masked(io.stderr, masker);
  return {
    env: io.env,
    stdin: io.stdin,
    stdout,
    stderr,
    masker,
    print: (text) => void stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    note: (text) => void stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

export function processIo(): CliIo {
  return { env: process.env, stdout: process.stdout, stderr: process.stderr, stdin: process.stdin };
}
