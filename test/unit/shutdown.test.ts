import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { exitOnSignals } from '../../src/shutdown.ts';
import { waitFor } from '../helpers/wait.ts';

/** A stand-in for `process`: signals are emitted by the test, exits recorded. */
function fakeProcess() {
  const signals = new EventEmitter();
  const exits: number[] = [];
  const lines: string[] = [];
  return {
    options: {
      proc: {
        on: (signal: 'SIGTERM' | 'SIGINT', listener: () => void) => signals.on(signal, listener),
        exit: (code: number) => void exits.push(code),
      },
      say: (line: string) => void lines.push(line),
    },
    send: (signal: 'SIGTERM' | 'SIGINT') => signals.emit(signal),
    exits,
    lines,
  };
}

function deferred() {
  let resolve = () => {};
  let reject: (error: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('exitOnSignals', () => {
  it('stops once on the first SIGTERM and exits 0 when the stop is done', async () => {
    const p = fakeProcess();
    const stopped = deferred();
    let stops = 0;
    exitOnSignals(
      () => {
        stops += 1;
        return stopped.promise;
      },
      { timeoutMs: 60_000, ...p.options },
    );
    p.send('SIGTERM');
    expect(stops).toBe(1);
    expect(p.exits).toEqual([]);
    stopped.resolve();
    await waitFor(() => p.exits.length > 0, { what: 'the exit' });
    expect(p.exits).toEqual([0]);
    expect(p.lines[0]).toContain('SIGTERM: stopping DAG (at most 60 s');
  });

  it('exits at once on a second signal (128 + its number), without a second stop', () => {
    const p = fakeProcess();
    let stops = 0;
    exitOnSignals(
      () => {
        stops += 1;
        return deferred().promise;
      },
      { timeoutMs: 60_000, ...p.options },
    );
    p.send('SIGTERM');
    p.send('SIGINT');
    expect(stops).toBe(1);
    expect(p.exits).toEqual([130]);
  });

  it('exits 1 when the stop outlives the deadline', async () => {
    const p = fakeProcess();
    exitOnSignals(() => deferred().promise, { timeoutMs: 50, ...p.options });
    p.send('SIGINT');
    await waitFor(() => p.exits.length > 0, { what: 'the deadline' });
    expect(p.exits).toEqual([1]);
    expect(p.lines.at(-1)).toContain('did not stop within 0.05 s');
  });

  it('exits 1 when the stop fails', async () => {
    const p = fakeProcess();
    exitOnSignals(() => Promise.reject(new Error('database gone')), {
      timeoutMs: 60_000,
      ...p.options,
    });
    p.send('SIGTERM');
    await waitFor(() => p.exits.length > 0, { what: 'the exit' });
    expect(p.exits).toEqual([1]);
    expect(p.lines.at(-1)).toContain('database gone');
  });
});
