import {
  ApiException,
  createConfiguration,
  HttpMethod,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  type Configuration,
  type KubeConfig,
  type KubernetesObject,
  type ResponseContext,
  type V1APIResource,
} from '@kubernetes/client-node';

/** Why a request was aborted: it got no complete answer within the client's timeout. */
export class RequestTimeoutError extends Error {
  readonly timeoutMs: number;

  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
    this.timeoutMs = timeoutMs;
  }
}

/**
 * Like AbortSignal.timeout(), but aborts with a plain Error. On a failed discovery request the
 * library rewrites `error.message`, which throws for AbortSignal.timeout()'s DOMException (its
 * message is a getter) and loses the timeout behind "Cannot set property message".
 */
function timeoutSignal(timeoutMs: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new RequestTimeoutError(timeoutMs)), timeoutMs).unref();
  return controller.signal;
}

/**
 * KubernetesObjectApi that sends and returns objects as plain JSON.
 *
 * The stock 2.x class runs objects of built-in kinds through its generated models both ways: on
 * the way out it silently drops fields the model does not know (typos, fields newer than the
 * client) and fields whose model name differs from the JSON name (NetworkPolicy `ingress[].from`
 * becomes `_from`, LimitRange `default` becomes `_default`), and on the way back it turns
 * timestamps into Date objects and drops unknown fields again. A dry-run diff must see exactly
 * what the API server would store, so this subclass keeps the library's URL building, discovery
 * and authentication and only replaces the (de)serialization.
 */
export class RawObjectApi extends KubernetesObjectApi {
  /** One per cluster: the KubeConfig's server and credentials, a timeout on every request. */
  static create(kc: KubeConfig, timeoutMs: number): RawObjectApi {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('KubeConfig without a current cluster');
    const configuration = createConfiguration({
      baseServer: new ServerConfiguration(cluster.server, {}),
      authMethods: { default: kc },
      promiseMiddleware: [
        {
          pre: async (request) => {
            request.setHeaderParam('User-Agent', 'dag');
            request.setSignal(timeoutSignal(timeoutMs));
            return request;
          },
          post: async (response) => response,
        },
      ],
    });
    return new RawObjectApi(configuration);
  }

  /** The served resource for apiVersion/kind (discovery, cached), or undefined when not served. */
  async discover(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }

  /** Same parameters as KubernetesObjectApi.patch; the body is the object's JSON, unchanged. */
  override async patch<T extends KubernetesObject>(
    spec: T,
    pretty?: string,
    dryRun?: string,
    fieldManager?: string,
    force?: boolean,
    patchStrategy: PatchStrategy = PatchStrategy.StrategicMergePatch,
    options?: Configuration,
  ): Promise<T> {
    const config = options ?? this.configuration;
    // specUriPath fills in a missing apiVersion or namespace, so it gets a copy.
    const path = await this.specUriPath(structuredClone(spec), 'patch');
    const request = config.baseServer.makeRequestContext(path, HttpMethod.PATCH);
    request.setHeaderParam('Accept', 'application/json, */*;q=0.8');
    request.setHeaderParam('Content-Type', patchStrategy);
    if (pretty !== undefined) request.setQueryParam('pretty', pretty);
    if (dryRun !== undefined) request.setQueryParam('dryRun', dryRun);
    if (fieldManager !== undefined) request.setQueryParam('fieldManager', fieldManager);
    if (force !== undefined) request.setQueryParam('force', String(force));
    // JSON is YAML, so this body suits application/apply-patch+yaml as well as the JSON patches.
    request.setBody(JSON.stringify(spec));
    return this.requestPromise<T>(request);
  }

  protected override async processResponse<T extends KubernetesObject>(
    response: ResponseContext,
  ): Promise<T> {
    const text = await response.body.text();
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) {
      return JSON.parse(text) as T;
    }
    throw new ApiException<string>(
      response.httpStatusCode,
      'Unsuccessful HTTP Request',
      text,
      response.headers,
    );
  }
}
