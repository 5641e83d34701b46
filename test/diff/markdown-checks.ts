// Structural checks of rendered Markdown, the way CommonMark reads it: code fences open and
// close, and `<details>` tags outside fences pair up.

export type Structure = {
  /** Every fence opened was closed. */
  fencesClosed: boolean;
  /** `<details>` opened minus closed, outside code fences (0 when balanced). */
  detailsDepth: number;
  /** The depth never went below zero (no `</details>` before its `<details>`). */
  detailsOrdered: boolean;
  /** Number of `<details>` sections outside code fences. */
  details: number;
  /** Text outside code fences, for checks such as "no raw tag". */
  outside: string;
};

export function structure(markdown: string): Structure {
  let fence: { char: string; length: number } | null = null;
  let depth = 0;
  let ordered = true;
  let details = 0;
  const outside: string[] = [];
  for (const line of markdown.split(/\r\n|\r|\n/)) {
    if (fence) {
      const close = /^ {0,3}(`+|~+)[ \t]*$/.exec(line);
      if (close?.[1] && close[1][0] === fence.char && close[1].length >= fence.length) fence = null;
      continue;
    }
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (open?.[1] && !(open[1][0] === '`' && open[2]?.includes('`'))) {
      fence = { char: open[1][0] ?? '`', length: open[1].length };
      continue;
    }
    outside.push(line);
    for (const tag of line.matchAll(/<(\/?)details[\s>]/gi)) {
      if (tag[1] === '/') depth--;
      else {
        depth++;
        details++;
      }
      if (depth < 0) ordered = false;
    }
  }
  return {
    fencesClosed: fence === null,
    detailsDepth: depth,
    detailsOrdered: ordered,
    details,
    outside: outside.join('\n'),
  };
}

export function expectBalanced(markdown: string): void {
  const s = structure(markdown);
  if (!s.fencesClosed || s.detailsDepth !== 0 || !s.detailsOrdered) {
    throw new Error(
      `unbalanced markdown: fencesClosed=${s.fencesClosed} detailsDepth=${s.detailsDepth} ordered=${s.detailsOrdered}`,
    );
  }
}
