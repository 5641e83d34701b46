// Reasons come from the cluster (condition and event messages written by controllers and, through
// Helm, by chart templates): they may be long, multi-line, or full of control characters. A
// reason is shown in a pull request, so it is made one line and bounded here, in one place.

export const MAX_REASON_LENGTH = 500;

/** One line of at most `max` characters: control characters and runs of spaces become one space. */
export function oneLine(value: string, max = MAX_REASON_LENGTH): string {
  const flat = value
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (flat.length <= max) return flat;
  // Cut by code points so a surrogate pair is never split.
  const points = Array.from(flat);
  return points.length <= max ? flat : `${points.slice(0, Math.max(0, max - 1)).join('')}…`;
}

/** `reason: message`, skipping what is missing or repeats (Flux often puts the reason in the message). */
export function reasonAndMessage(
  reason: string | undefined,
  message: string | undefined,
): string | undefined {
  const r = reason?.trim();
  const m = message?.trim();
  if (r && m) return m.startsWith(r) ? m : `${r}: ${m}`;
  return r || m || undefined;
}
