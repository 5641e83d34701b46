// Watch support for the fake kube-apiserver: the event history every stored change lands in, label
// and field selectors, and the open watch streams. It follows what kube-apiserver's watch cache
// does (k8s.io/apiserver/pkg/storage/cacher), because that is what a client meets in production:
//
// - a watch from resourceVersion N replays every event after N, then streams live ones;
// - a watch without resourceVersion (or "0") starts with a synthetic ADDED per current object;
// - a watch from a version older than the compacted history gets HTTP 200, then one ERROR event
//   carrying a 410 `Expired` Status, then the end of the stream;
// - with a selector, a MODIFIED that makes an object leave the selection is sent as DELETED (the
//   previous state at the new resourceVersion) and one that makes it enter as ADDED;
// - BOOKMARK events only reach watches that asked for them (allowWatchBookmarks=true).
//
// Simplifications: a watch from a version newer than the server's is served from that version at
// once (kube waits up to 3 s, then answers "Too large resource version"); no pagination.

import type { ServerResponse } from 'node:http';

type Json = Record<string, unknown>;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One stored change, as the history keeps it. */
export type HistoryEntry = {
  resourceVersion: number;
  type: WatchEventType;
  /** The stored-object key (`apiVersion/kind/namespace/name`). */
  key: string;
  /** The object at this version; for DELETED, its last state stamped with this version. */
  object: Json;
  /** The object before this change (undefined for ADDED; the last state for DELETED). */
  previous: Json | undefined;
};

export type WatchEvent = { type: WatchEventType | 'BOOKMARK' | 'ERROR'; object: Json };

// ---------------------------------------------------------------- selectors

/** A selector the API server would refuse (answered as 400 BadRequest). */
export class SelectorError extends Error {}

type LabelRequirement =
  { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | '!' };

type FieldRequirement = {
  field: 'metadata.name' | 'metadata.namespace';
  equal: boolean;
  value: string;
};

/** Splits on commas outside parentheses, so `env in (a,b),tier` is two requirements. */
function splitRequirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

const LABEL_KEY = /^([a-z0-9A-Z.-]+\/)?[a-zA-Z0-9]([a-zA-Z0-9._-]*[a-zA-Z0-9])?$/;

function labelKey(key: string, text: string): string {
  if (!LABEL_KEY.test(key)) throw new SelectorError(`unable to parse requirement: ${text}`);
  return key;
}

function parseLabelRequirement(text: string): LabelRequirement {
  const set = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(text);
  if (set) {
    const values = set[3]!.split(',').map((v) => v.trim());
    return { key: labelKey(set[1]!, text), op: set[2] as 'in' | 'notin', values };
  }
  const equality = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(text);
  if (equality) {
    const key = labelKey(equality[1]!, text);
    const op = equality[2] === '!=' ? 'notin' : 'in';
    return { key, op, values: [equality[3]!] };
  }
  if (text.startsWith('!')) return { key: labelKey(text.slice(1).trim(), text), op: '!' };
  return { key: labelKey(text, text), op: 'exists' };
}

/** `a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`, comma-separated (AND). */
export function parseLabelSelector(text: string): LabelRequirement[] {
  return splitRequirements(text).map(parseLabelRequirement);
}

function labelsOf(object: Json): Record<string, unknown> {
  const metadata = object.metadata as Json | undefined;
  const labels = metadata?.labels;
  return typeof labels === 'object' && labels !== null ? (labels as Record<string, unknown>) : {};
}

function labelsMatch(requirements: LabelRequirement[], object: Json): boolean {
  const labels = labelsOf(object);
  return requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!':
        return !has;
      case 'in':
        return has && r.values.includes(String(labels[r.key]));
      case 'notin':
        // As in kube: `a!=b` and `a notin (b)` also select objects without the label.
        return !has || !r.values.includes(String(labels[r.key]));
    }
    return false;
  });
}

/** `metadata.name=x`, `metadata.namespace!=y` (the fields every resource supports). */
export function parseFieldSelector(text: string): FieldRequirement[] {
  return splitRequirements(text).map((part) => {
    const match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
    if (!match) throw new SelectorError(`invalid selector: '${text}'; can't understand '${part}'`);
    const field = match[1]!;
    if (field !== 'metadata.name' && field !== 'metadata.namespace') {
      throw new SelectorError(`field label not supported: ${field}`);
    }
    return { field, equal: match[2] !== '!=', value: match[3]! };
  });
}

function fieldsMatch(requirements: FieldRequirement[], object: Json): boolean {
  const metadata = (object.metadata ?? {}) as Json;
  return requirements.every((r) => {
    const value = String(metadata[r.field === 'metadata.name' ? 'name' : 'namespace'] ?? '');
    return (value === r.value) === r.equal;
  });
}

/** Which objects a list or watch covers: one resource, maybe one namespace, selectors. */
export type CollectionFilter = {
  apiVersion: string;
  kind: string;
  /** Undefined: every namespace (or a cluster-scoped resource). */
  namespace: string | undefined;
  labels: LabelRequirement[];
  fields: FieldRequirement[];
};

export function inCollection(filter: CollectionFilter, object: Json): boolean {
  if (object.apiVersion !== filter.apiVersion || object.kind !== filter.kind) return false;
  const namespace = (object.metadata as Json | undefined)?.namespace;
  if (filter.namespace !== undefined && namespace !== filter.namespace) return false;
  return labelsMatch(filter.labels, object) && fieldsMatch(filter.fields, object);
}

// ---------------------------------------------------------------- events

const clone = <T>(value: T): T => structuredClone(value);

function withResourceVersion(object: Json, resourceVersion: number): Json {
  const copy = clone(object);
  copy.metadata = {
    ...((copy.metadata as Json | undefined) ?? {}),
    resourceVersion: String(resourceVersion),
  };
  return copy;
}

/**
 * The event a watcher with `filter` sees for `entry`, or undefined: kube's cacheWatcher compares
 * the object before and after, so leaving the selection reads as DELETED and entering as ADDED.
 */
export function eventFor(filter: CollectionFilter, entry: HistoryEntry): WatchEvent | undefined {
  const now = entry.type !== 'DELETED' && inCollection(filter, entry.object);
  const before = entry.previous !== undefined && inCollection(filter, entry.previous);
  if (now && !before) return { type: 'ADDED', object: clone(entry.object) };
  if (now && before) return { type: 'MODIFIED', object: clone(entry.object) };
  if (before) {
    // The last state the watcher could see, at the version of the change that removed it.
    return { type: 'DELETED', object: withResourceVersion(entry.previous!, entry.resourceVersion) };
  }
  return undefined;
}

/** The Status kube-apiserver sends for an expired resourceVersion (watch ERROR and Exact list). */
export function expiredStatus(message: string): Json {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason: 'Expired',
    code: 410,
  };
}

// ---------------------------------------------------------------- watch streams

export type WatchRequest = {
  filter: CollectionFilter;
  /** As sent; undefined or "0" means "current state first". */
  resourceVersion: string | undefined;
  allowBookmarks: boolean;
  /** sendInitialEvents=true: current state first, then a bookmark marking its end. */
  sendInitialEvents: boolean;
  timeoutSeconds: number | undefined;
};

type Watcher = { res: ServerResponse; request: WatchRequest; timer: NodeJS.Timeout | undefined };

/** The history of stored changes and the open watch streams that follow it. */
export class WatchHub {
  private readonly entries: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  /** History at or below this resourceVersion is gone (0: nothing compacted yet). */
  private compactedTo = 0;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private readonly currentVersion: () => number;
  private readonly currentObjects: () => Iterable<Json>;

  constructor(currentVersion: () => number, currentObjects: () => Iterable<Json>) {
    this.currentVersion = currentVersion;
    this.currentObjects = currentObjects;
  }

  /** Records a stored change and sends it to every open watch it concerns. */
  record(entry: HistoryEntry): void {
    const stored = { ...entry, object: clone(entry.object), previous: clone(entry.previous) };
    this.entries.push(stored);
    for (const watcher of this.watchers) {
      const event = eventFor(watcher.request.filter, stored);
      if (event) this.send(watcher, event);
    }
  }

  history(): HistoryEntry[] {
    return clone(this.entries);
  }

  /** Forgets the history up to `upTo` (default: all of it), as etcd compaction does. */
  compact(upTo = this.currentVersion()): void {
    this.compactedTo = Math.max(this.compactedTo, upTo);
    const keep = this.entries.filter((e) => e.resourceVersion > this.compactedTo);
    this.entries.splice(0, this.entries.length, ...keep);
  }

  /** Whether the history from `resourceVersion` on is no longer complete. */
  isExpired(resourceVersion: number): boolean {
    return resourceVersion < this.compactedTo;
  }

  /** The message kube-apiserver's watch cache gives for an expired version. */
  tooOld(resourceVersion: number): string {
    return `too old resource version: ${resourceVersion} (${this.compactedTo})`;
  }

  /**
   * The stored objects as they were at `resourceVersion`: the current ones with every later change
   * undone (for LIST with resourceVersionMatch=Exact). The caller checks isExpired first.
   */
  stateAt(resourceVersion: number, current: Map<string, Json>): Json[] {
    const state = new Map(current);
    for (const entry of [...this.entries].reverse()) {
      if (entry.resourceVersion <= resourceVersion) break;
      if (entry.type === 'ADDED') state.delete(entry.key);
      else state.set(entry.key, entry.previous!);
    }
    return [...state.values()].map(clone);
  }

  openWatches(): number {
    return this.watchers.size;
  }

  /** What each open watch follows: its kind and namespace (undefined: every namespace). */
  openWatchTargets(): { apiVersion: string; kind: string; namespace: string | undefined }[] {
    return [...this.watchers].map(({ request: { filter } }) => ({
      apiVersion: filter.apiVersion,
      kind: filter.kind,
      namespace: filter.namespace,
    }));
  }

  /** Answers a watch request on `res`: HTTP 200 and a stream of JSON lines until it ends. */
  serve(res: ServerResponse, request: WatchRequest): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    // The client waits for the headers before it reads; send them even with nothing to say yet.
    res.flushHeaders();
    const watcher: Watcher = { res, request, timer: undefined };
    const { resourceVersion } = request;
    const fromNow = resourceVersion === undefined || resourceVersion === '0';
    if (!fromNow && this.isExpired(Number(resourceVersion))) {
      this.send(watcher, {
        type: 'ERROR',
        object: expiredStatus(this.tooOld(Number(resourceVersion))),
      });
      res.end();
      return;
    }
    if (fromNow || request.sendInitialEvents) this.sendCurrentState(watcher);
    else this.replay(watcher, Number(resourceVersion));
    this.watchers.add(watcher);
    res.on('close', () => this.forget(watcher));
    if (request.timeoutSeconds !== undefined) {
      // A watch's timeoutSeconds ends the stream cleanly (the terminating chunk), as kube does.
      watcher.timer = setTimeout(() => {
        this.forget(watcher);
        res.end();
      }, request.timeoutSeconds * 1000);
    }
  }

  private sendCurrentState(watcher: Watcher): void {
    for (const object of this.currentObjects()) {
      if (inCollection(watcher.request.filter, object)) {
        this.send(watcher, { type: 'ADDED', object: clone(object) });
      }
    }
    if (watcher.request.sendInitialEvents) {
      this.sendBookmark(watcher, { 'k8s.io/initial-events-end': 'true' });
    }
  }

  private replay(watcher: Watcher, resourceVersion: number): void {
    for (const entry of this.entries) {
      if (entry.resourceVersion <= resourceVersion) continue;
      const event = eventFor(watcher.request.filter, entry);
      if (event) this.send(watcher, event);
    }
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows bookmarks. */
  bookmark(): void {
    for (const watcher of this.watchers) this.sendBookmark(watcher);
  }

  /** Bookmarks every `ms` milliseconds (0 stops them), as kube sends them about once a minute. */
  setBookmarkInterval(ms: number): void {
    clearInterval(this.bookmarkTimer);
    this.bookmarkTimer = ms > 0 ? setInterval(() => this.bookmark(), ms) : undefined;
    this.bookmarkTimer?.unref();
  }

  private sendBookmark(watcher: Watcher, annotations?: Record<string, string>): void {
    if (!watcher.request.allowBookmarks) return;
    const { apiVersion, kind } = watcher.request.filter;
    const metadata: Json = { resourceVersion: String(this.currentVersion()) };
    if (annotations) metadata.annotations = annotations;
    this.send(watcher, { type: 'BOOKMARK', object: { kind, apiVersion, metadata } });
  }

  /** Cuts every open watch's connection abruptly (no terminating chunk), like a network failure. */
  dropWatches(): void {
    for (const watcher of [...this.watchers]) {
      this.forget(watcher);
      watcher.res.socket?.destroy();
    }
  }

  /**
   * Ends every open watch cleanly and stops the bookmark timer (server shutdown). Resolves once
   * the terminating chunks are written, so closing the sockets afterwards does not cut them off.
   */
  async closeAll(): Promise<void> {
    this.setBookmarkInterval(0);
    const ended = [...this.watchers].map((watcher) => {
      this.forget(watcher);
      return new Promise<void>((resolve) => {
        watcher.res.once('close', resolve);
        watcher.res.end(resolve);
      });
    });
    await Promise.race([
      Promise.all(ended),
      new Promise((resolve) => setTimeout(resolve, 1000).unref()),
    ]);
  }

  private forget(watcher: Watcher): void {
    clearTimeout(watcher.timer);
    this.watchers.delete(watcher);
  }

  private send(watcher: Watcher, event: WatchEvent): void {
    if (!watcher.res.writableEnded && !watcher.res.destroyed) {
      watcher.res.write(`${JSON.stringify(event)}\n`);
    }
  }
}
