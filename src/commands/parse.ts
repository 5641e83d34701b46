/**
 * PR comment commands. Pure: text in, commands (and mistakes) out. One command per line; a
 * line is a command when it starts with `/` (optionally after `/dag `); case and extra spaces
 * do not matter. Lines in code blocks and quotes are never commands. The body's size is
 * bounded before it gets here (the event normalizers refuse a longer comment than the
 * provider stores), and the number of commands by MAX_COMMANDS_PER_COMMENT.
 */
export type Command =
  | { kind: 'diff'; target: string | undefined }
  | { kind: 'deploy'; environment: string | undefined }
  | { kind: 'promote'; from: string | undefined; to: string | undefined }
  | { kind: 'help' };

export type CommandMistake = { line: string; problem: string; usage: string };

export const USAGE = {
  diff: '/diff [environment|all]',
  deploy: '/deploy [environment]',
  promote: '/promote [from] [to]',
  help: '/help',
} as const;

const VERB = /^[a-z][a-z-]*$/;
const ARGUMENT = /^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/;

/**
 * Most commands one comment may hold: enough for any real use (each environment diffed or
 * deployed), few enough that one comment cannot start a flood of jobs or an answer longer than
 * a comment can be. A comment with more runs none of them; DAG says why, once.
 */
export const MAX_COMMANDS_PER_COMMENT = 10;

/** `tooMany`: the comment holds that many commands, over the limit: none is returned. */
export type Parsed = { commands: Command[]; mistakes: CommandMistake[]; tooMany?: number };

/** The command lines of a comment: outside fenced code and quotes, first word starting with /. */
function commandLines(body: string): string[] {
  const lines: string[] = [];
  let fence: string | undefined;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    const marker = /^(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker) {
      if (fence === undefined) fence = marker;
      else if (marker.startsWith(fence)) fence = undefined;
      continue;
    }
    if (fence !== undefined || line.startsWith('>')) continue;
    if (line.startsWith('/')) lines.push(line);
  }
  return lines;
}

export function parseCommands(body: string): Parsed {
  const commands: Command[] = [];
  const mistakes: CommandMistake[] = [];
  const lines = commandLines(body).flatMap((line) => {
    let words = line.toLowerCase().split(/\s+/);
    if (words[0] === '/dag') words = [`/${words[1] ?? 'help'}`, ...words.slice(2)];
    const verb = (words[0] as string).slice(1);
    // A path or URL is not a command.
    return VERB.test(verb) ? [{ line, verb, args: words.slice(1) }] : [];
  });
  if (lines.length > MAX_COMMANDS_PER_COMMENT) {
    return { commands: [], mistakes: [], tooMany: lines.length };
  }
  for (const { line, verb, args } of lines) {
    const bad = args.find((a) => !ARGUMENT.test(a));
    const mistake = (problem: string, usage: string) => mistakes.push({ line, problem, usage });
    switch (verb) {
      case 'diff':
        if (args.length > 1 || bad) mistake('expects at most one environment (or all)', USAGE.diff);
        else commands.push({ kind: 'diff', target: args[0] });
        break;
      case 'deploy':
        if (args.length > 1 || bad) mistake('expects at most one environment', USAGE.deploy);
        else commands.push({ kind: 'deploy', environment: args[0] });
        break;
      case 'promote':
        if (args.length > 2 || bad) mistake('expects at most two environments', USAGE.promote);
        else commands.push({ kind: 'promote', from: args[0], to: args[1] });
        break;
      case 'help':
        commands.push({ kind: 'help' });
        break;
      default:
        mistake(`/${verb} is not a DAG command`, Object.values(USAGE).join(', '));
    }
  }
  return { commands, mistakes };
}
