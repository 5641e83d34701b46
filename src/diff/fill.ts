import type { Block } from './comment.ts';
import { escapeInline } from './markdown.ts';

/** Room for the list's frame and its `… and N more` line. */
const LIST_FRAME = 400;
/** Share of the budget the list of what did not fit may claim from the diffs. */
const LIST_SHARE = 0.25;
/** A block is cut to fit only if at least this much room is left (else it is listed). */
const MIN_CUT_ROOM = 1_500;

export type ListStyle = {
  /** `<details>` title of the list of blocks that did not fit, given their number. */
  title: (count: number) => string;
  /** Name the environment on each line (when the blocks come from several). */
  withEnvironment: boolean;
};

/**
 * As many blocks as fit in `budget` characters, in order: whole, or the first that does not fit
 * cut inside its fence when there is room; every file and object after that is named in a
 * collapsed list (itself cut, with a count of the rest, when even the list is too long).
 * The result never exceeds `budget`, and never breaks a fence or a `<details>` section.
 */
export function fill(blocks: readonly Block[], budget: number, style: ListStyle): string {
  // What naming every block after i would take, so diffs stop early enough to leave room for
  // the names (up to a quarter of the budget; past that, the list ends with a count).
  const listAfter = new Array<number>(blocks.length + 1).fill(0);
  for (let i = blocks.length - 1; i >= 0; i--) {
    const listing = blocks[i]?.listing;
    listAfter[i] = (listAfter[i + 1] ?? 0) + (listing ? listing.length + 30 : 0);
  }
  const listCap = Math.floor(budget * LIST_SHARE);
  const out: string[] = [];
  let used = 0;
  let index = 0;
  for (; index < blocks.length; index++) {
    const block = blocks[index];
    if (block === undefined) break;
    const rest = listAfter[index + 1] ?? 0;
    const reserve = rest === 0 ? 0 : LIST_FRAME + Math.min(rest, listCap);
    const room = budget - used - reserve;
    if (block.text.length + 1 <= room) {
      out.push(block.text);
      used += block.text.length + 1;
      continue;
    }
    if (block.kind !== 'environment' && room >= MIN_CUT_ROOM) {
      const cut = block.fit(room - 1);
      if (cut !== null) {
        out.push(cut);
        used += cut.length + 1;
        continue;
      }
    }
    break;
  }
  const rest = blocks.slice(index).filter((block) => block.listing !== null);
  if (rest.length > 0) {
    const list = listBlock(rest, budget - used - 1, style, true);
    if (list !== '') out.push(list);
  }
  return out.join('\n');
}

/**
 * The blocks' list items in at most `budget` characters, in a `<details>` section when
 * `collapsed`; the items that do not fit are counted in a last `- … and N more` item.
 * Empty when not even the frame fits.
 */
export function listBlock(
  blocks: readonly Block[],
  budget: number,
  style: ListStyle,
  collapsed: boolean,
): string {
  const head = collapsed ? `<details><summary>${style.title(blocks.length)}</summary>\n\n` : '';
  const tail = collapsed ? '\n</details>\n' : '';
  const moreRoom = 40;
  let used = head.length + tail.length + moreRoom;
  if (used > budget) return '';
  const lines: string[] = [];
  for (const block of blocks) {
    if (block.listing === null) continue;
    const line = style.withEnvironment
      ? `- ${escapeInline(block.environment, 100)}: ${block.listing.slice(2)}`
      : block.listing;
    if (used + line.length + 1 > budget) break;
    lines.push(line);
    used += line.length + 1;
  }
  const listed = blocks.filter((block) => block.listing !== null).length;
  if (lines.length < listed) lines.push(`- … and ${listed - lines.length} more`);
  return `${head}${lines.join('\n')}\n${tail}`;
}
