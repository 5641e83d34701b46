import { fromMarkdown } from 'mdast-util-from-markdown';

/**
 * PR comment commands. Pure: text in, commands (and mistakes) out. One command per line; a
 * line is a command when it starts with `/` (optionally after `/dag `); case and extra spaces
 * do not matter. Only a line of a paragraph counts, as GitHub's Markdown (CommonMark) reads the
 * comment: lines in code blocks (fenced, or indented by four spaces or a tab), quotes (lazy
 * continuation lines included), HTML blocks and headings are never commands, nor is a list
 * item's first line (`- /deploy` starts with `-`). The body's size is bounded before it gets
 * here (the event normalizers refuse a longer comment than the provider stores), the number of
 * commands by MAX_COMMANDS_PER_COMMENT, and the Markdown parsed by READ_LIMITS.
 */
export type Command =
  | { kind: 'diff'; target: string | undefined }
  | { kind: 'deploy'; environment: string | undefined }
  | { kind: 'promote'; from: string | undefined; to: string | undefined }
  | { kind: 'status'; environment: string | undefined }
  | { kind: 'help' };

export type CommandMistake = { line: string; problem: string; usage: string };

export const USAGE = {
  diff: '/diff [environment|all]',
  deploy: '/deploy [environment]',
  promote: '/promote [from] [to]',
  status: '/status [environment]',
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

/**
 * How much of a comment DAG parses as Markdown: the lines up to the end of the paragraph of its
 * last command, at most this many lines, characters and container markers (`>`, `-`, `1.` …
 * that open quotes and list items, counted at the start of each line). The parser's work
 * (micromark's) grows with the square of the lines and of the nesting; within these limits
 * every shape of comment tried parses in a fraction of a second (test/commands/parse.test.ts).
 * Real comments with commands fit; one that does not runs none of them, and DAG says why.
 */
export const READ_LIMITS = { lines: 1_000, chars: 65_536, markers: 500 } as const;

/** Inline Markdown: it never changes which lines are paragraphs, and some of it is slow. */
const INLINE = [
  'attention',
  'autolink',
  'characterEscape',
  'characterReference',
  'codeText',
  'hardBreakEscape',
  'hardBreakTrailing',
  'htmlText',
  'labelEnd',
  'labelStartImage',
  'labelStartLink',
];

/** The quote and list markers that open a line, `> - 1. ` (list markers need a space after). */
const CONTAINER_PREFIX = /^(?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)))+/;
const MARKER = />|[-+*]|\d{1,9}[.)]/g;

/** A line's verb and arguments when it reads as a command (a path or URL does not). */
function words(line: string): { verb: string; args: string[] } | undefined {
  if (!line.startsWith('/')) return undefined;
  let parts = line.toLowerCase().split(/\s+/);
  if (parts[0] === '/dag') parts = [`/${parts[1] ?? 'help'}`, ...parts.slice(2)];
  const verb = (parts[0] as string).slice(1);
  return VERB.test(verb) ? { verb, args: parts.slice(1) } : undefined;
}

type Block = {
  type: string;
  position?: { start: { line: number }; end: { line: number } } | undefined;
  children?: Block[];
};

/**
 * The command lines of a comment (trimmed), or `unreadable` (the first of them) when the
 * comment is past READ_LIMITS. A command line is a line of a paragraph, as CommonMark parses
 * the comment, whose first character after spaces is `/`; the paragraph may be in a list, but
 * not in a quote (lazy lines included), and a code block, HTML block or heading is no paragraph.
 */
function commandLines(body: string): { lines: string[] } | { unreadable: string } {
  // CommonMark's line endings; a byte order mark is no text (micromark skips it too).
  const lines = body.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  let last = -1;
  lines.forEach((line, i) => {
    if (words(line.trim())) last = i;
  });
  if (last < 0) return { lines: [] };
  // The rest of the last command's paragraph decides it too (`---` under it makes a heading);
  // a blank line ends any paragraph, so nothing after one does.
  let end = last + 1;
  while (end < lines.length && !/^[ \t]*$/.test(lines[end] as string)) end++;
  const read = lines.slice(0, end);
  const text = read.join('\n');
  const markers = read.reduce(
    (n, line) => n + (CONTAINER_PREFIX.exec(line)?.[0].match(MARKER)?.length ?? 0),
    0,
  );
  if (
    read.length > READ_LIMITS.lines ||
    text.length > READ_LIMITS.chars ||
    markers > READ_LIMITS.markers
  ) {
    return { unreadable: (read.find((line) => words(line.trim())) as string).trim() };
  }
  const tree = fromMarkdown(text, { extensions: [{ disable: { null: INLINE } }] });
  const found: string[] = [];
  // Depth first in document order, without recursion (nesting is bounded, but not by much).
  const stack: Block[] = [tree];
  for (let node = stack.pop(); node; node = stack.pop()) {
    if (node.type === 'paragraph' && node.position) {
      for (let i = node.position.start.line - 1; i < node.position.end.line; i++) {
        const line = (read[i] as string).trim();
        if (line.startsWith('/')) found.push(line);
      }
    } else if (node.type === 'root' || node.type === 'list' || node.type === 'listItem') {
      stack.push(...(node.children ?? []).toReversed());
    }
  }
  return { lines: found };
}

export function parseCommands(body: string): Parsed {
  const commands: Command[] = [];
  const mistakes: CommandMistake[] = [];
  const found = commandLines(body);
  if ('unreadable' in found) {
    const problem = `this comment is too long or too nested for DAG to read its commands (at most ${READ_LIMITS.lines} lines and ${READ_LIMITS.markers} quote or list markers up to the last command), so it ran none of them`;
    return {
      commands,
      mistakes: [{ line: found.unreadable, problem, usage: Object.values(USAGE).join(', ') }],
    };
  }
  const lines = found.lines.flatMap((line) => {
    const command = words(line);
    return command ? [{ line, ...command }] : [];
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
      case 'status':
        if (args.length > 1 || bad) mistake('expects at most one environment', USAGE.status);
        else commands.push({ kind: 'status', environment: args[0] });
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
