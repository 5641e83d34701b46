/**
 * The pause before push attempt `attempt + 1`: exponential in the attempt number, capped at
 * 32 × base, with "equal jitter" (half fixed, half random) so replicas racing for the same
 * branch spread out instead of colliding again in lockstep.
 */
export function backoffDelay(attempt: number, baseMs: number, random: () => number): number {
  const exponential = baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 5);
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
