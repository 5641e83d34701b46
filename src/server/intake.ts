import type { ServerResponse } from 'node:http';

/**
 * Where DAG's HTTP intake is in its life:
 * - `open`: ready, serving everything;
 * - `draining`: stopping; `/readyz` answers 503 so that a load balancer (a Kubernetes Service)
 *   stops sending work here, but webhooks are still served as usual (verify, one INSERT, 2xx)
 *   while the workers finish their jobs: a delivery routed here just before is not lost;
 * - `refusing`: the workers are done and the database is about to close; a new request (other
 *   than `/healthz` and `/readyz`) gets 503 with Retry-After, requests already in flight finish.
 */
export type IntakePhase = 'open' | 'draining' | 'refusing';

/** Seconds a refused client is told to wait: time for the load balancer to route elsewhere. */
export const RETRY_AFTER_SECONDS = 5;

/** The HTTP side of a shutdown: its phase, and the requests still in flight. */
export class Intake {
  #phase: IntakePhase = 'open';
  #inFlight = 0;
  readonly #idleWaiters = new Set<() => void>();

  get phase(): IntakePhase {
    return this.#phase;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Readiness off; webhooks still served. */
  drain(): void {
    if (this.#phase === 'open') this.#phase = 'draining';
  }

  /** New requests refused with 503 and Retry-After; those in flight finish. */
  refuse(): void {
    this.#phase = 'refusing';
  }

  /** Counts a request as in flight until its response is finished or its connection lost. */
  track(res: ServerResponse): void {
    this.#inFlight += 1;
    res.once('close', () => {
      this.#inFlight -= 1;
      if (this.#inFlight > 0) return;
      for (const wake of this.#idleWaiters) wake();
      this.#idleWaiters.clear();
    });
  }

  /** Resolves true once no request is in flight, or false at `deadline` (epoch ms). */
  idle(deadline: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(
        () => {
          this.#idleWaiters.delete(wake);
          resolve(this.#inFlight === 0);
        },
        Math.max(0, deadline - Date.now()),
      );
      this.#idleWaiters.add(wake);
    });
  }
}
