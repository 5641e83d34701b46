import { UserError } from '../errors.ts';
import type { Cli } from './io.ts';

const MAX_SECRET_BYTES = 64 * 1024;

async function readAll(cli: Cli): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of cli.stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_SECRET_BYTES) throw new UserError('stdin holds more than 64 KiB: not a token');
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A secret for the CLI to store: from stdin with `--token-stdin`, else from an environment
 * variable, else none. Never from argv, where shell history and `ps` would keep it.
 * Every secret read is registered with the CLI's masker, so it is never printed.
 */
export async function readSecret(
  cli: Cli,
  options: { fromStdin: boolean; envName: string },
): Promise<string | undefined> {
  if (options.fromStdin) {
    if (cli.stdin.isTTY) cli.note('dag: type the token, then press Enter and Ctrl-D');
    const token = (await readAll(cli)).trim();
    cli.masker.add(token);
    if (token === '') throw new UserError('--token-stdin was given but stdin was empty');
    if (/\s/.test(token)) {
      throw new UserError('the token on stdin must be a single line without spaces');
    }
    return token;
  }
  const token = cli.env[options.envName]?.trim();
  if (!token) return undefined;
  cli.masker.add(token);
  if (/\s/.test(token)) {
    throw new UserError(`${options.envName} must be a single line without spaces`);
  }
  return token;
}
