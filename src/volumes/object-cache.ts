// A small TTL cache in front of the VolumeObjectSource, so that many pods of one configMap do
// not each GET it on every sync: one GET per object per TTL, concurrent readers share the
// request in flight, "not found" is cached like a value, failures are not cached.
// Freshness is per read: a reader made with `freshSince` only accepts answers whose request was
// sent at or after that time. The volume manager uses the time it first saw a pod, as upstream
// refreshes an object when a pod registers: a pod created after a secret changed never starts
// on the old content, and a burst of new pods still shares one or two GETs.
import type { Clock } from '../pods/backoff.js';
import { FetchFailedError, NoObjectSourceError, errorMessage } from './errors.js';
import type { ConfigMapObject, ObjectReader, SecretObject, VolumeObjectSource } from './objects.js';

interface Entry {
  sentAt: number;
  value: Promise<unknown>;
}

const SWEEP_ABOVE = 512;

export class ObjectCache {
  private readonly entries = new Map<string, Entry>();
  /** GETs sent to the source (tests and metrics). */
  fetches = 0;

  constructor(
    private readonly source: VolumeObjectSource | undefined,
    private readonly ttlMs: number,
    private readonly clock: Clock,
  ) {}

  get hasSource(): boolean {
    return this.source !== undefined;
  }

  reader(freshSince?: number): ObjectReader {
    return {
      secret: (ns, name) => this.get<SecretObject>('secret', ns, name, freshSince),
      configMap: (ns, name) => this.get<ConfigMapObject>('configmap', ns, name, freshSince),
    };
  }

  private get<T>(kind: 'secret' | 'configmap', ns: string, name: string, freshSince: number | undefined): Promise<T | undefined> {
    const source = this.source;
    if (!source) {
      // Upstream's words for a kubelet without an API client.
      const what = kind === 'secret' ? 'secret' : 'configMap';
      return Promise.reject(new NoObjectSourceError(`couldn't get ${what} ${ns}/${name}, no kubeClient defined`));
    }
    const key = `${kind}/${ns}/${name}`;
    const now = this.clock.now();
    const oldest = Math.max(now - this.ttlMs, freshSince ?? -Infinity);
    const hit = this.entries.get(key);
    if (hit && hit.sentAt >= oldest) return hit.value as Promise<T | undefined>;
    this.fetches++;
    // An async wrapper, so a source that throws synchronously still fails as a promise.
    const value = (async () => (kind === 'secret' ? source.getSecret(ns, name) : source.getConfigMap(ns, name)))().catch((err: unknown) => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
      throw new FetchFailedError(`couldn't get ${kind === 'secret' ? 'secret' : 'configmap'} ${ns}/${name}: ${errorMessage(err)}`, { cause: err });
    });
    this.entries.set(key, { sentAt: now, value });
    if (this.entries.size > SWEEP_ABOVE) this.sweep(now);
    return value as Promise<T | undefined>;
  }

  private sweep(now: number): void {
    for (const [k, e] of this.entries) if (e.sentAt < now - this.ttlMs) this.entries.delete(k);
  }
}
