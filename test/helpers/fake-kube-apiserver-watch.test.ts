// WATCH on the fake kube-apiserver, driven by @kubernetes/client-node's Watch (what DAG's cluster
// monitoring uses) and by plain HTTPS where the library hides the details (status codes, the exact
// lines, how a stream ends). Each test works in its own namespace of one shared fake.
import { request } from 'node:https';
import { Watch } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kubeConfigFor } from '../../src/k8s/kube-config.ts';
import { newToken } from '../k8s/support.ts';
import {
  FLUX_CRDS,
  startFakeKubeApiserver,
  type FakeKubeApiserver,
  type Json,
} from './fake-kube-apiserver.ts';
import { waitFor } from './wait.ts';

const token = newToken();
let kube: FakeKubeApiserver;
let namespaceCount = 0;

beforeAll(async () => {
  kube = await startFakeKubeApiserver({ token, crds: FLUX_CRDS });
});
afterAll(() => kube?.stop());
// A failed test may leave its watches open; the next one counts open watches from zero.
afterEach(() => kube?.dropWatches());

/** A fresh namespace, so tests sharing the fake never see each other's objects. */
function freshNamespace(): string {
  const name = `w${++namespaceCount}`;
  kube.seed({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

function configMap(namespace: string, name: string, labels: Record<string, string> = {}): Json {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace, labels },
    data: { a: '1' },
  };
}

function helmRelease(namespace: string, name: string): Json {
  return {
    apiVersion: 'helm.toolkit.fluxcd.io/v2',
    kind: 'HelmRelease',
    metadata: { name, namespace },
    spec: { interval: '5m', chart: { spec: { chart: name, version: '1.0.0' } } },
  };
}

type WatchEvent = { type: string; object: Json };

const metaOf = (object: Json) => object.metadata as Json;

/** GET with the fake's CA and token; the whole body parsed as JSON. */
function getJson(path: string): Promise<{ status: number; body: Json }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${kube.url}${path}`,
      { ca: kube.caCert, headers: { Authorization: `Bearer ${token}` } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Json }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type RawStream = {
  status: Promise<number>;
  headers: Promise<Record<string, string | string[] | undefined>>;
  events: WatchEvent[];
  /** 'end' for a clean end of the chunked body, 'error' for a cut connection. */
  finished: Promise<'end' | 'error'>;
  close(): void;
};

/** A watch over plain HTTPS: every JSON line as it arrives, and how the stream ended. */
function rawWatch(path: string): RawStream {
  const events: WatchEvent[] = [];
  let setStatus!: (status: number) => void;
  let setHeaders!: (headers: Record<string, string | string[] | undefined>) => void;
  let finish!: (how: 'end' | 'error') => void;
  const status = new Promise<number>((resolve) => (setStatus = resolve));
  const headers = new Promise<Record<string, string | string[] | undefined>>(
    (resolve) => (setHeaders = resolve),
  );
  const finished = new Promise<'end' | 'error'>((resolve) => (finish = resolve));
  const req = request(
    `${kube.url}${path}`,
    { ca: kube.caCert, headers: { Authorization: `Bearer ${token}` } },
    (res) => {
      setStatus(res.statusCode ?? 0);
      setHeaders(res.headers);
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        let newline: number;
        while ((newline = buffered.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffered.slice(0, newline)) as WatchEvent);
          buffered = buffered.slice(newline + 1);
        }
      });
      res.on('end', () => finish('end'));
      res.on('aborted', () => finish('error'));
      res.on('error', () => finish('error'));
    },
  );
  req.on('error', () => finish('error'));
  req.end();
  return { status, headers, events, finished, close: () => req.destroy() };
}

type LibraryWatch = {
  events: WatchEvent[];
  done: Promise<unknown>;
  abort(): void;
};

/** A watch through @kubernetes/client-node, connected the way DAG connects (kubeConfigFor). */
async function libraryWatch(
  path: string,
  query: Record<string, string | number | boolean | undefined>,
): Promise<LibraryWatch> {
  const config = kubeConfigFor({ id: 1, apiUrl: kube.url, caCert: kube.caCert }, token);
  const events: WatchEvent[] = [];
  let resolveDone!: (error: unknown) => void;
  const done = new Promise<unknown>((resolve) => (resolveDone = resolve));
  const controller = await new Watch(config).watch(
    path,
    query,
    (type, object) => events.push({ type, object: object as Json }),
    (error) => resolveDone(error),
  );
  return { events, done, abort: () => controller.abort() };
}

const types = (events: WatchEvent[]) => events.map((e) => e.type);
const names = (events: WatchEvent[]) => events.map((e) => String(metaOf(e.object).name));

describe('fake kube-apiserver: list then watch', () => {
  it('a watch from the list resourceVersion sees later changes, each at its own version', async () => {
    const ns = freshNamespace();
    kube.seed(helmRelease(ns, 'web'));
    const path = `/apis/helm.toolkit.fluxcd.io/v2/namespaces/${ns}/helmreleases`;
    const list = await getJson(path);
    const listVersion = String(metaOf(list.body).resourceVersion);
    expect(listVersion).toBe(String(kube.resourceVersion()));
    expect((list.body.items as Json[]).map((o) => metaOf(o).name)).toEqual(['web']);

    const watch = await libraryWatch(path, { resourceVersion: listVersion });
    await waitFor(() => kube.openWatches() === 1, { what: 'the watch to open' });
    const ready = { conditions: [{ type: 'Ready', status: 'True', reason: 'InstallSucceeded' }] };
    kube.setStatus(
      { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', name: 'web', namespace: ns },
      ready,
    );

    await waitFor(() => watch.events.length === 1, { what: 'the MODIFIED event' });
    const [modified] = watch.events;
    expect(modified!.type).toBe('MODIFIED');
    expect(modified!.object.status).toEqual(ready);
    expect(metaOf(modified!.object).resourceVersion).toBe(String(kube.resourceVersion()));
    expect(Number(metaOf(modified!.object).resourceVersion)).toBeGreaterThan(Number(listVersion));
    watch.abort();
    await watch.done;
    await waitFor(() => kube.openWatches() === 0, { what: 'the watch to close' });
  });

  it('replays the history after the given resourceVersion before live events', async () => {
    const ns = freshNamespace();
    const from = kube.resourceVersion();
    kube.seed(configMap(ns, 'one'));
    kube.update({ ...configMap(ns, 'one'), data: { a: '2' } });
    const stream = rawWatch(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${from}`);
    expect(await stream.status).toBe(200);
    expect((await stream.headers)['content-type']).toBe('application/json');
    expect((await stream.headers)['transfer-encoding']).toBe('chunked');
    await waitFor(() => stream.events.length === 2, { what: 'the replayed events' });
    kube.seed(configMap(ns, 'two'));
    await waitFor(() => stream.events.length === 3, { what: 'the live event' });
    expect(stream.events.map((e) => [e.type, metaOf(e.object).name, e.object.data])).toEqual([
      ['ADDED', 'one', { a: '1' }],
      ['MODIFIED', 'one', { a: '2' }],
      ['ADDED', 'two', { a: '1' }],
    ]);
    const versions = stream.events.map((e) => Number(metaOf(e.object).resourceVersion));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(versions[0]).toBeGreaterThan(from);
    stream.close();
  });

  it('without a resourceVersion (or "0") starts with a synthetic ADDED per current object', async () => {
    const ns = freshNamespace();
    kube.seed(configMap(ns, 'a'));
    kube.update({ ...configMap(ns, 'a'), data: { a: 'changed' } });
    kube.seed(configMap(ns, 'b'));
    for (const query of ['watch=true', 'watch=true&resourceVersion=0']) {
      const stream = rawWatch(`/api/v1/namespaces/${ns}/configmaps?${query}`);
      await waitFor(() => stream.events.length === 2, { what: `synthetic events for ${query}` });
      // The current state only: one ADDED for `a` with its latest data, no MODIFIED.
      expect(stream.events.map((e) => [e.type, metaOf(e.object).name, e.object.data])).toEqual([
        ['ADDED', 'a', { a: 'changed' }],
        ['ADDED', 'b', { a: '1' }],
      ]);
      stream.close();
    }
  });

  it('sendInitialEvents: the current state, then a bookmark marking its end', async () => {
    const ns = freshNamespace();
    kube.seed(configMap(ns, 'a'));
    const base = `/api/v1/namespaces/${ns}/configmaps?watch=true&sendInitialEvents=true`;
    expect((await getJson(base)).status).toBe(422); // needs NotOlderThan and bookmarks
    const stream = rawWatch(`${base}&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
    await waitFor(() => stream.events.length === 2, { what: 'ADDED then BOOKMARK' });
    expect(types(stream.events)).toEqual(['ADDED', 'BOOKMARK']);
    expect(stream.events[1]!.object).toEqual({
      kind: 'ConfigMap',
      apiVersion: 'v1',
      metadata: {
        resourceVersion: String(kube.resourceVersion()),
        annotations: { 'k8s.io/initial-events-end': 'true' },
      },
    });
    stream.close();
  });
});

describe('fake kube-apiserver: bookmarks', () => {
  it('sends BOOKMARK only to watches that allow bookmarks', async () => {
    const ns = freshNamespace();
    const path = `/apis/apps/v1/namespaces/${ns}/deployments`;
    const rv = kube.resourceVersion();
    const withBookmarks = await libraryWatch(path, {
      resourceVersion: rv,
      allowWatchBookmarks: true,
    });
    const without = rawWatch(`${path}?watch=true&resourceVersion=${rv}`);
    await waitFor(() => kube.openWatches() === 2, { what: 'both watches' });
    kube.bookmark();
    await waitFor(() => withBookmarks.events.length === 1, { what: 'the bookmark' });
    expect(withBookmarks.events[0]).toEqual({
      type: 'BOOKMARK',
      object: {
        kind: 'Deployment',
        apiVersion: 'apps/v1',
        metadata: { resourceVersion: String(rv) },
      },
    });
    // A later change reaches both; the one that did not ask for bookmarks never saw one.
    kube.seed(configMap(ns, 'unrelated'));
    kube.update({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: ns },
      spec: { replicas: 1 },
    });
    await waitFor(() => without.events.length === 1 && withBookmarks.events.length === 2, {
      what: 'the ADDED deployment on both',
    });
    expect(types(without.events)).toEqual(['ADDED']);
    expect(types(withBookmarks.events)).toEqual(['BOOKMARK', 'ADDED']);
    withBookmarks.abort();
    without.close();
    await waitFor(() => kube.openWatches() === 0, { what: 'the watches to close' });
  });

  it('sends periodic bookmarks when asked to', async () => {
    const ns = freshNamespace();
    const stream = rawWatch(`/api/v1/namespaces/${ns}/pods?watch=true&allowWatchBookmarks=true`);
    await waitFor(() => kube.openWatches() === 1, { what: 'the watch' });
    kube.setBookmarkInterval(50);
    try {
      await waitFor(() => stream.events.length >= 2, { what: 'two periodic bookmarks' });
    } finally {
      kube.setBookmarkInterval(0);
    }
    expect(new Set(types(stream.events))).toEqual(new Set(['BOOKMARK']));
    stream.close();
    await waitFor(() => kube.openWatches() === 0, { what: 'the watch to close' });
  });
});

describe('fake kube-apiserver: compaction and dropped connections', () => {
  it('a watch from a compacted resourceVersion gets 200, one ERROR 410 Expired, then the end', async () => {
    const ns = freshNamespace();
    const old = kube.resourceVersion();
    kube.seed(configMap(ns, 'a'));
    kube.compact();
    const compactedTo = kube.resourceVersion();
    const stream = rawWatch(
      `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${old}`,
    );
    expect(await stream.status).toBe(200);
    expect(await stream.finished).toBe('end');
    expect(stream.events).toEqual([
      {
        type: 'ERROR',
        object: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${old} (${compactedTo})`,
          reason: 'Expired',
          code: 410,
        },
      },
    ]);
    expect(kube.openWatches()).toBe(0);

    // The library hands the ERROR to the callback, then reports the end of the stream.
    const library = await libraryWatch(`/api/v1/namespaces/${ns}/configmaps`, {
      resourceVersion: old,
    });
    expect(await library.done).toBeNull();
    expect(library.events).toEqual([expect.objectContaining({ type: 'ERROR' })]);
    expect((library.events[0]!.object as Json).code).toBe(410);

    // From the compaction point on, the history is complete: no error.
    const fresh = rawWatch(
      `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=${compactedTo}`,
    );
    kube.update({ ...configMap(ns, 'a'), data: { a: '2' } });
    await waitFor(() => fresh.events.length === 1, { what: 'the MODIFIED event' });
    expect(types(fresh.events)).toEqual(['MODIFIED']);
    fresh.close();
    // A client that saw the ERROR re-lists: the requests show the watch, then that LIST.
    await getJson(`/api/v1/namespaces/${ns}/configmaps`);
    const mine = kube.requests.filter((r) => r.path === `/api/v1/namespaces/${ns}/configmaps`);
    expect(mine[0]).toMatchObject({
      method: 'GET',
      status: 200,
      query: { watch: 'true', resourceVersion: String(old) },
    });
    expect(mine.at(-1)!.query.watch).toBeUndefined();
  });

  it('LIST with resourceVersionMatch=Exact: the past state, or 410 once compacted', async () => {
    const ns = freshNamespace();
    kube.seed(configMap(ns, 'a'));
    const before = kube.resourceVersion();
    kube.update({ ...configMap(ns, 'a'), data: { a: '2' } });
    kube.seed(configMap(ns, 'b'));
    kube.remove({ apiVersion: 'v1', kind: 'ConfigMap', name: 'a', namespace: ns });
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const past = await getJson(`${path}?resourceVersion=${before}&resourceVersionMatch=Exact`);
    expect(past.status).toBe(200);
    expect(metaOf(past.body).resourceVersion).toBe(String(before));
    expect((past.body.items as Json[]).map((o) => [metaOf(o).name, o.data])).toEqual([
      ['a', { a: '1' }],
    ]);
    const now = await getJson(path);
    expect((now.body.items as Json[]).map((o) => metaOf(o).name)).toEqual(['b']);

    kube.compact();
    expect(await getJson(`${path}?resourceVersion=${before}&resourceVersionMatch=Exact`)).toEqual({
      status: 410,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'The resourceVersion for the provided list is too old.',
        reason: 'Expired',
        code: 410,
      },
    });
    // Without Exact, any resourceVersion is served at the latest one ("not older than").
    const notOlder = await getJson(`${path}?resourceVersion=${before}`);
    expect(notOlder.status).toBe(200);
    expect(metaOf(notOlder.body).resourceVersion).toBe(String(kube.resourceVersion()));
  });

  it('dropWatches cuts every open watch: the client hears of it and nothing stays open', async () => {
    const ns = freshNamespace();
    const library = await libraryWatch(`/api/v1/namespaces/${ns}/pods`, {});
    const raw = rawWatch(`/api/v1/namespaces/${ns}/configmaps?watch=true`);
    await waitFor(() => kube.openWatches() === 2, { what: 'both watches' });
    kube.dropWatches();
    expect(kube.openWatches()).toBe(0);
    // The connection was cut, not ended: the raw client sees an aborted body, not its end.
    expect(await raw.finished).toBe('error');
    const error = await library.done;
    expect(error).toBeInstanceOf(Error);
  });

  it('timeoutSeconds ends the stream cleanly', async () => {
    const ns = freshNamespace();
    const started = Date.now();
    const stream = rawWatch(`/api/v1/namespaces/${ns}/configmaps?watch=true&timeoutSeconds=1`);
    await waitFor(() => kube.openWatches() === 1, { what: 'the watch' });
    expect(await stream.finished).toBe('end');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(kube.openWatches()).toBe(0);

    const library = await libraryWatch(`/api/v1/namespaces/${ns}/configmaps`, {
      timeoutSeconds: 1,
    });
    expect(await library.done).toBeNull();
  });

  it('stop() closes every open watch', async () => {
    const other = await startFakeKubeApiserver({ token });
    const stream = new Promise<'end' | 'error'>((resolve) => {
      const req = request(
        `${other.url}/api/v1/namespaces/default/configmaps?watch=true`,
        { ca: other.caCert, headers: { Authorization: `Bearer ${token}` } },
        (res) => {
          res.resume();
          res.on('end', () => resolve('end'));
          res.on('aborted', () => resolve('error'));
        },
      );
      req.on('error', () => resolve('error'));
      req.end();
    });
    await waitFor(() => other.openWatches() === 1, { what: 'the watch' });
    await other.stop();
    expect(await stream).toBe('end');
    expect(other.openWatches()).toBe(0);
  });
});

describe('fake kube-apiserver: what a watch covers', () => {
  it('label selectors filter watches; leaving the selection reads as DELETED, entering as ADDED', async () => {
    const ns = freshNamespace();
    kube.seed(configMap(ns, 'web', { tier: 'web' }));
    kube.seed(configMap(ns, 'db', { tier: 'db' }));
    const watch = await libraryWatch(`/api/v1/namespaces/${ns}/configmaps`, {
      labelSelector: 'tier=web',
    });
    await waitFor(() => watch.events.length === 1, { what: 'the synthetic ADDED' });
    expect(names(watch.events)).toEqual(['web']);

    kube.update(configMap(ns, 'db', { tier: 'db', touched: 'yes' })); // not selected: nothing
    kube.update(configMap(ns, 'web', { tier: 'db' })); // leaves the selection
    kube.update(configMap(ns, 'db', { tier: 'web' })); // enters it
    await waitFor(() => watch.events.length === 3, { what: 'DELETED and ADDED' });
    expect(watch.events.slice(1).map((e) => [e.type, metaOf(e.object).name])).toEqual([
      ['DELETED', 'web'],
      ['ADDED', 'db'],
    ]);
    // The DELETED one carries the state the watcher last could see, at the change's version.
    expect(metaOf(watch.events[1]!.object).labels).toEqual({ tier: 'web' });
    watch.abort();
  });

  it('selectors on lists: equality, inequality, existence, sets and fields', async () => {
    const ns = freshNamespace();
    kube.seed(configMap(ns, 'a', { app: 'shop', tier: 'web' }));
    kube.seed(configMap(ns, 'b', { app: 'shop', tier: 'db' }));
    kube.seed(configMap(ns, 'c', { app: 'blog' }));
    const listed = async (query: string) => {
      const answer = await getJson(`/api/v1/namespaces/${ns}/configmaps?${query}`);
      expect(answer.status).toBe(200);
      return (answer.body.items as Json[]).map((o) => metaOf(o).name).sort();
    };
    expect(await listed('labelSelector=app%3Dshop')).toEqual(['a', 'b']);
    expect(await listed('labelSelector=app%3D%3Dshop,tier!%3Ddb')).toEqual(['a']);
    expect(await listed('labelSelector=tier!%3Ddb')).toEqual(['a', 'c']); // no label counts
    expect(await listed('labelSelector=tier')).toEqual(['a', 'b']);
    expect(await listed('labelSelector=!tier')).toEqual(['c']);
    expect(await listed(`labelSelector=${encodeURIComponent('tier in (web,db),app')}`)).toEqual([
      'a',
      'b',
    ]);
    expect(await listed(`labelSelector=${encodeURIComponent('app notin (shop)')}`)).toEqual(['c']);
    expect(await listed('fieldSelector=metadata.name%3Db')).toEqual(['b']);
    expect(await listed(`fieldSelector=metadata.namespace%3D${ns},metadata.name!%3Db`)).toEqual([
      'a',
      'c',
    ]);

    const bad = await getJson(`/api/v1/namespaces/${ns}/configmaps?fieldSelector=spec.x%3Dy`);
    expect(bad).toMatchObject({
      status: 400,
      body: {
        kind: 'Status',
        reason: 'BadRequest',
        message: 'field label not supported: spec.x',
        code: 400,
      },
    });
  });

  it('cluster-wide lists and watches of namespaced resources, narrowed by fieldSelector', async () => {
    const ns1 = freshNamespace();
    const ns2 = freshNamespace();
    kube.seed(helmRelease(ns1, 'api'));
    kube.seed(helmRelease(ns2, 'api'));
    const path = '/apis/helm.toolkit.fluxcd.io/v2/helmreleases';
    const list = await getJson(path);
    const namespaces = (list.body.items as Json[]).map((o) => metaOf(o).namespace);
    expect(namespaces).toEqual(expect.arrayContaining([ns1, ns2]));

    const watch = rawWatch(
      `${path}?watch=true&resourceVersion=${String(metaOf(list.body).resourceVersion)}&fieldSelector=metadata.namespace%3D${ns2}`,
    );
    await waitFor(() => kube.openWatches() === 1, { what: 'the watch' });
    kube.remove({
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      name: 'api',
      namespace: ns1,
    });
    const last = kube.get('helm.toolkit.fluxcd.io/v2', 'HelmRelease', 'api', ns2)!;
    const removed = kube.remove({
      apiVersion: 'helm.toolkit.fluxcd.io/v2',
      kind: 'HelmRelease',
      name: 'api',
      namespace: ns2,
    });
    await waitFor(() => watch.events.length === 1, { what: 'the DELETED event' });
    // DELETED carries the last object, at the resourceVersion of the deletion.
    expect(watch.events[0]).toEqual({
      type: 'DELETED',
      object: {
        ...last,
        metadata: { ...metaOf(last), resourceVersion: String(kube.resourceVersion()) },
      },
    });
    expect(removed).toEqual(watch.events[0]!.object);
    expect(kube.history().at(-1)).toMatchObject({
      type: 'DELETED',
      resourceVersion: kube.resourceVersion(),
    });
    watch.close();
  });

  it('a forbidden watch is a 403 Status, like a forbidden list', async () => {
    const ns = freshNamespace();
    kube.setForbidden({ verb: 'watch', resource: 'pods', namespace: ns });
    try {
      const answer = await getJson(`/api/v1/namespaces/${ns}/pods?watch=true`);
      expect(answer).toEqual({
        status: 403,
        body: {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `pods is forbidden: User "system:serviceaccount:dag:dag" cannot watch resource "pods" in API group "" in the namespace "${ns}"`,
          reason: 'Forbidden',
          details: { name: '', kind: 'pods' },
          code: 403,
        },
      });
      // Listing is still allowed; only watching is not.
      expect((await getJson(`/api/v1/namespaces/${ns}/pods`)).status).toBe(200);
      const library = await libraryWatch(`/api/v1/namespaces/${ns}/pods`, {});
      expect(await library.done).toMatchObject({ statusCode: 403 });
      expect(kube.openWatches()).toBe(0);
    } finally {
      kube.clearForbidden();
    }
  });

  it('dry runs record nothing', async () => {
    const ns = freshNamespace();
    const version = kube.resourceVersion();
    const entries = kube.history().length;
    const answer = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${kube.url}/api/v1/namespaces/${ns}/configmaps/c?fieldManager=dag&dryRun=All`,
        {
          method: 'PATCH',
          ca: kube.caCert,
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/apply-patch+yaml',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n');
    });
    expect(answer).toBe(201);
    expect(kube.resourceVersion()).toBe(version);
    expect(kube.history()).toHaveLength(entries);
  });
});
