// DAG's sticky comments, as both providers keep them: each part of a topic is one comment (a
// pull request comment, a merge request note) of DAG's own account that starts with the part's
// hidden marker. The platforms list the comments and tell which are DAG's; this reads the parts.
import { commentMarker } from './types.ts';

/** A sticky comment's part: the provider's id of the comment and its whole body. */
export type StickyPart = { id: number; body: string };

/**
 * The parts of `topic` among DAG's own comments, by part number (the first comment of a part
 * wins; comments without the topic's marker are not DAG's sticky comments).
 */
export function stickyParts(
  own: Iterable<{ id: number; body: string }>,
  topic: string,
): Map<number, StickyPart> {
  const parts = new Map<number, StickyPart>();
  const prefix = `<!-- dag:${topic}:`;
  for (const comment of own) {
    if (!comment.body.startsWith(prefix)) continue;
    const part = Number(/^<!-- dag:[^:]+:(\d+) -->/.exec(comment.body)?.[1]);
    if (Number.isInteger(part) && !parts.has(part)) {
      parts.set(part, { id: comment.id, body: comment.body });
    }
  }
  return parts;
}

/** The bodies of parts 0, 1, ... up to the first missing one, without their markers. */
export function stickyBodies(parts: Map<number, StickyPart>, topic: string): string[] {
  const bodies: string[] = [];
  for (let index = 0; parts.has(index); index++) {
    const text = parts.get(index)?.body ?? '';
    const marker = `${commentMarker(topic, index)}\n`;
    bodies.push(text.startsWith(marker) ? text.slice(marker.length) : text);
  }
  return bodies;
}
