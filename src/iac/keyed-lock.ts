// Serializes work on one cached clone inside this process. The map is process-wide on purpose:
// a clone directory is a process-wide resource, and two IacWorkspace instances sharing a cache
// directory must not run git in the same clone at once. Across processes, DAG's job queue
// serializes work per IAC repository and branch.

const tails = new Map<string, Promise<void>>();

/** Runs fn after every earlier call with the same key has settled. */
export async function withKeyedLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = tails.get(key) ?? Promise.resolve();
  let release = (): void => {};
  const done = new Promise<void>((resolve) => {
    release = resolve;
  });
  const tail = previous.then(() => done);
  tails.set(key, tail);
  await previous;
  try {
    return await fn();
  } finally {
    release();
    if (tails.get(key) === tail) tails.delete(key);
  }
}
