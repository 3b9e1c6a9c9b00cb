// Where volumes and env read API objects: secrets, configMaps and service account tokens. The
// volume code only sees this interface, injected by the kubelet, so a standalone kubelet runs
// without one (pods with only emptyDir and hostPath volumes need none) and tests can hand in
// a map. `ApiVolumeObjectSource` is the real one, on the project's API client.
//
// Authorization assumed: a node (Node authorizer + NodeRestriction) may read only the secrets and
// configMaps referenced by pods bound to it, and request tokens only for their service
// accounts; anything else comes back 403 and surfaces as a FetchFailedError.
import { ApiError, type ApiClient } from '../api/client.js';

export interface SecretObject {
  /** Values base64-encoded, as the API serves them. */
  data?: Record<string, string>;
}

export interface ConfigMapObject {
  data?: Record<string, string>;
  /** Values base64-encoded. */
  binaryData?: Record<string, string>;
}

export interface TokenRequestInput {
  audiences: string[];
  expirationSeconds: number;
  boundPod: { name: string; uid: string };
}

export interface IssuedToken {
  token: string;
  /** RFC 3339, as TokenRequest status serves it. */
  expirationTimestamp: string;
}

export interface VolumeObjectSource {
  /** undefined = not found. Other failures throw. */
  getSecret(namespace: string, name: string): Promise<SecretObject | undefined>;
  /** undefined = not found. Other failures throw. */
  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined>;
  requestToken(namespace: string, serviceAccount: string, req: TokenRequestInput): Promise<IssuedToken>;
}

/**
 * What volume plugins and env read through: the volume manager's cached view of a
 * VolumeObjectSource (undefined = not found; throws NoObjectSourceError without a source).
 */
export interface ObjectReader {
  secret(namespace: string, name: string): Promise<SecretObject | undefined>;
  configMap(namespace: string, name: string): Promise<ConfigMapObject | undefined>;
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

async function orUndefined<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiError && err.code === 'KTS_API_NOT_FOUND') return undefined;
    throw err;
  }
}

interface TokenRequestReply {
  status?: { token?: string; expirationTimestamp?: string };
}

/** The object source on the API server, through the kubelet's client (rate limited, 'normal' priority). */
export class ApiVolumeObjectSource implements VolumeObjectSource {
  constructor(private readonly client: Pick<ApiClient, 'get' | 'post'>) {}

  getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    return orUndefined(this.client.get<SecretObject>(`/api/v1/namespaces/${seg(namespace)}/secrets/${seg(name)}`));
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined> {
    return orUndefined(this.client.get<ConfigMapObject>(`/api/v1/namespaces/${seg(namespace)}/configmaps/${seg(name)}`));
  }

  async requestToken(namespace: string, serviceAccount: string, req: TokenRequestInput): Promise<IssuedToken> {
    const body = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: req.audiences,
        expirationSeconds: req.expirationSeconds,
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: req.boundPod.name, uid: req.boundPod.uid },
      },
    };
    const reply = await this.client.post<TokenRequestReply>(`/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(serviceAccount)}/token`, body);
    const token = reply?.status?.token;
    const expirationTimestamp = reply?.status?.expirationTimestamp;
    if (!token || !expirationTimestamp)
      throw new Error(`TokenRequest for ${namespace}/${serviceAccount}: the answer has no status.token or status.expirationTimestamp`);
    return { token, expirationTimestamp };
  }
}
