// One kind of object in one namespace of one cluster, kept current: list, then watch from the
// list's resourceVersion. The list-and-watch loop is @kubernetes/client-node's ListWatch (its
// informer): it re-watches from the last resourceVersion when a watch ends or drops, and lists
// again when the API server answers 410 Gone (the version was compacted away). This wraps it
// with what it leaves to its caller: watch bookmarks (so a quiet watch's resourceVersion stays
// fresh and a re-watch does not fall off the history), a server-side end to each watch, a
// restart with backoff after an error (ListWatch stops on one), and counts of reconnects.

import {
  ADD,
  CONNECT,
  DELETE,
  ERROR,
  ListWatch,
  UPDATE,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { RawObjectApi } from '../k8s/raw-object-api.ts';

/** How long the API server keeps one watch open before it ends it (it is then re-opened). */
export const WATCH_SECONDS = 300;

export type WatchTarget = {
  apiVersion: string;
  kind: string;
  /** Unset: every namespace (or a cluster-scoped kind). */
  namespace?: string | undefined;
};

/** Why a watch was opened again: it ended or dropped, its version was gone, or it failed. */
export type Reconnect = 'ended' | 'gone' | 'error';

export type ResourceWatchOptions = {
  kubeConfig: KubeConfig;
  api: RawObjectApi;
  target: WatchTarget;
  /** Something changed: an object added, changed or deleted, or the list read again. */
  onChange: () => void;
  onReconnect?: (why: Reconnect) => void;
  log: Logger;
  backoff?: { initialMs: number; maxMs: number };
};

/** The collection path of a resource: `/api/v1/namespaces/x/pods`, `/apis/apps/v1/deployments`. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return `${root}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${plural}`;
}

export class ResourceWatch {
  readonly #options: ResourceWatchOptions;
  #informer: ListWatch<KubernetesObject> | undefined;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;
  #delayMs = 0;
  #gone = false;

  constructor(options: ResourceWatchOptions) {
    this.#options = options;
  }

  /** The objects as last seen (empty until the first list). */
  objects(): readonly KubernetesObject[] {
    return this.#informer?.list() ?? [];
  }

  /** Lists and starts watching; an error (cluster down, kind not served) is retried in the background. */
  start(): void {
    this.#stopped = false;
    void this.#begin();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    void this.#informer?.stop();
  }

  async #begin(): Promise<void> {
    const { api, target, kubeConfig, log } = this.#options;
    try {
      const resource = await api.discover(target.apiVersion, target.kind);
      if (!resource) throw new Error(`${target.kind} (${target.apiVersion}) is not served`);
      if (this.#stopped) return;
      const path = collectionPath(target.apiVersion, resource.name, target.namespace);
      const informer = new ListWatch<KubernetesObject>(
        path,
        this.#watchWithBookmarks(new Watch(kubeConfig)),
        () => this.#list(),
        false,
      );
      const changed = () => {
        this.#delayMs = 0;
        this.#options.onChange();
      };
      informer.on(ADD, changed);
      informer.on(UPDATE, changed);
      informer.on(DELETE, changed);
      let connects = 0;
      informer.on(CONNECT, () => {
        connects += 1;
        if (connects === 1) return;
        this.#options.onReconnect?.(this.#gone ? 'gone' : 'ended');
        this.#gone = false;
      });
      informer.on(ERROR, (error: unknown) => this.#failed(error));
      this.#informer = informer;
      await informer.start();
    } catch (error) {
      log.debug({ err: error, kind: target.kind }, 'the watch could not start');
      this.#failed(error);
    }
  }

  /** The list the informer starts (and restarts after 410) from: objects and resourceVersion. */
  async #list(): Promise<KubernetesListObject<KubernetesObject>> {
    const { api, target } = this.#options;
    return api.list(target.apiVersion, target.kind, target.namespace);
  }

  /**
   * The library's Watch, asking for bookmarks and for the API server to end each watch after
   * WATCH_SECONDS (a clean end the informer follows by watching again from where it was); a 410
   * in the stream is noted, for the reconnect count.
   */
  #watchWithBookmarks(watch: Watch): Watch {
    const original = watch.watch.bind(watch);
    watch.watch = (path, query, callback, done) =>
      original(
        path,
        { ...query, allowWatchBookmarks: true, timeoutSeconds: WATCH_SECONDS },
        (phase, object: unknown, raw?: unknown) => {
          if (phase === 'ERROR' && (object as { code?: unknown } | null)?.code === 410) {
            this.#gone = true;
          }
          callback(phase, object, raw);
        },
        done,
      );
    return watch;
  }

  /** ListWatch stops after an error: start it again after a backoff, from where it was. */
  #failed(error: unknown): void {
    if (this.#stopped) return;
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 1_000, maxMs: 60_000 };
    this.#delayMs = Math.min(maxMs, this.#delayMs === 0 ? initialMs : this.#delayMs * 2);
    // Up to a quarter less, so the watches of many clusters do not retry in step.
    const delay = Math.round(this.#delayMs * (0.75 + Math.random() * 0.25));
    this.#options.log.warn(
      { err: error, kind: this.#options.target.kind, retryInMs: delay },
      'a cluster watch failed: trying again',
    );
    this.#options.onReconnect?.('error');
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => {
      if (this.#stopped) return;
      if (this.#informer) void this.#informer.start();
      else void this.#begin();
    }, delay);
    this.#retry.unref();
  }
}
