import { ApiException, PatchStrategy, type V1APIResource } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import {
  classifyClusterError,
  crdMissing,
  statusOf,
  type FailedRequest,
} from './classify-error.ts';
import { maskMessageAbout } from '../diff/masking.ts';
import { ClusterError } from './cluster-error.ts';
import { isKubeObject, namespaceOf, type KubeObject } from './object.ts';
import type { RawObjectApi } from './raw-object-api.ts';
import type { Cluster } from '../model.ts';

/** The field manager DAG applies as, so the live object records which fields DAG owns. */
export const FIELD_MANAGER = 'dag';

/** What DAG asks of one cluster. Every method throws ClusterError, never a raw library error. */
export interface ClusterClient {
  readonly cluster: { id: number; name: string; apiUrl: string };
  /** Whether the kind is namespaced (discovery, cached); ClusterError `crd-missing` if not served. */
  isNamespaced(apiVersion: string, kind: string): Promise<boolean>;
  /**
   * Server-side apply with `dryRun=All`, field manager `dag`, force: the object the API server
   * would store, with its defaults and the fields other managers own. Nothing is stored.
   */
  dryRunApply(object: KubeObject): Promise<KubeObject>;
  /** The live object, or undefined when it does not exist. */
  read(object: KubeObject): Promise<KubeObject | undefined>;
}

export class KubeClusterClient implements ClusterClient {
  readonly cluster: { id: number; name: string; apiUrl: string };
  readonly #api: RawObjectApi;
  readonly #timeoutMs: number;
  readonly #hasCa: boolean;
  readonly #log: Logger;

  constructor(options: {
    cluster: Pick<Cluster, 'id' | 'name' | 'apiUrl' | 'caCert'>;
    api: RawObjectApi;
    timeoutMs: number;
    log: Logger;
  }) {
    const { id, name, apiUrl, caCert } = options.cluster;
    this.cluster = { id, name, apiUrl };
    this.#hasCa = caCert !== null && caCert !== '';
    this.#api = options.api;
    this.#timeoutMs = options.timeoutMs;
    this.#log = options.log;
  }

  async isNamespaced(apiVersion: string, kind: string): Promise<boolean> {
    const resource = await this.#discover(apiVersion, kind);
    return resource.namespaced;
  }

  async dryRunApply(object: KubeObject): Promise<KubeObject> {
    await this.#discover(object.apiVersion, object.kind);
    const request = this.#request('patch', object);
    try {
      const result: unknown = await this.#api.patch(
        object,
        undefined,
        'All',
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      return this.#checked(result, request);
    } catch (error) {
      throw this.#failed(error, request, object);
    }
  }

  async read(object: KubeObject): Promise<KubeObject | undefined> {
    await this.#discover(object.apiVersion, object.kind);
    const request = this.#request('get', object);
    const namespace = namespaceOf(object);
    const header = {
      apiVersion: object.apiVersion,
      kind: object.kind,
      metadata: { name: object.metadata.name, ...(namespace ? { namespace } : {}) },
    };
    try {
      const result: unknown = await this.#api.read(header);
      return this.#checked(result, request);
    } catch (error) {
      // An object that does not exist is a 404 naming it; a 404 without a name means the
      // resource itself is not served, which classifyClusterError reports.
      if (error instanceof ApiException && error.code === 404 && statusOf(error)?.details?.name) {
        return undefined;
      }
      throw this.#failed(error, request);
    }
  }

  async #discover(apiVersion: string, kind: string): Promise<V1APIResource> {
    const request = this.#request('discover', { apiVersion, kind });
    let resource: V1APIResource | undefined;
    try {
      resource = await this.#api.discover(apiVersion, kind);
    } catch (error) {
      throw this.#failed(error, request);
    }
    if (!resource) throw crdMissing(request);
    return resource;
  }

  #request(
    verb: FailedRequest['verb'],
    object: { apiVersion: string; kind: string; metadata?: KubeObject['metadata'] },
  ): FailedRequest {
    const { name, apiUrl } = this.cluster;
    return {
      cluster: { name, apiUrl, hasCa: this.#hasCa },
      timeoutMs: this.#timeoutMs,
      verb,
      apiVersion: object.apiVersion,
      kind: object.kind,
      name: object.metadata?.name,
      namespace: object.metadata ? namespaceOf(object as KubeObject) : undefined,
    };
  }

  #checked(result: unknown, request: FailedRequest): KubeObject {
    if (isKubeObject(result)) return result;
    throw new ClusterError(
      'unexpected',
      `cluster ${this.cluster.name} answered ${request.kind} ${request.name ?? ''} with something that is not a Kubernetes object`,
      { cluster: this.cluster.name },
    );
  }

  /** `sent`: the object DAG sent, whose hidden values the server's message may echo. */
  #failed(error: unknown, request: FailedRequest, sent?: KubeObject): ClusterError {
    const classified = classifyClusterError(error, request);
    const message = sent ? maskMessageAbout(classified.message, null, sent) : classified.message;
    this.#log.debug(
      { cluster: this.cluster.name, reason: classified.reason, status: classified.status },
      `kubernetes request failed: ${message}`,
    );
    return classified;
  }
}
