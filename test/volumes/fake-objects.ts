// An in-memory VolumeObjectSource: the boundary the volume code reads through (the real API
// server comes in the cluster tests). Counts calls so tests can check the cache.
import type { ConfigMapObject, IssuedToken, SecretObject, TokenRequestInput, VolumeObjectSource } from '../../src/volumes/objects.js';

export class FakeObjects implements VolumeObjectSource {
  readonly secrets = new Map<string, SecretObject>();
  readonly configMaps = new Map<string, ConfigMapObject>();
  readonly calls: string[] = [];
  readonly tokenRequests: { namespace: string; serviceAccount: string; req: TokenRequestInput }[] = [];
  failNext = 0;
  tokenSeq = 0;
  /** Token lifetime the fake "API server" grants (seconds); defaults to what was asked. */
  grantSeconds: number | undefined;
  now: () => number = () => Date.now();

  secret(ns: string, name: string, data: Record<string, string>): void {
    this.secrets.set(`${ns}/${name}`, { data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) });
  }

  configMap(ns: string, name: string, cm: ConfigMapObject): void {
    this.configMaps.set(`${ns}/${name}`, cm);
  }

  private fail(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('injected: API server unavailable');
    }
  }

  getSecret(namespace: string, name: string): Promise<SecretObject | undefined> {
    this.calls.push(`secret ${namespace}/${name}`);
    this.fail();
    return Promise.resolve(this.secrets.get(`${namespace}/${name}`));
  }

  getConfigMap(namespace: string, name: string): Promise<ConfigMapObject | undefined> {
    this.calls.push(`configmap ${namespace}/${name}`);
    this.fail();
    return Promise.resolve(this.configMaps.get(`${namespace}/${name}`));
  }

  requestToken(namespace: string, serviceAccount: string, req: TokenRequestInput): Promise<IssuedToken> {
    this.tokenRequests.push({ namespace, serviceAccount, req });
    this.fail();
    const seconds = this.grantSeconds ?? req.expirationSeconds;
    return Promise.resolve({
      token: `token-${++this.tokenSeq}-${req.audiences.join(',')}`,
      expirationTimestamp: new Date(this.now() + seconds * 1000).toISOString(),
    });
  }
}

/** A clock tests move by hand. */
export class ManualClock {
  constructor(public t = Date.parse('2024-05-01T10:00:00Z')) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
