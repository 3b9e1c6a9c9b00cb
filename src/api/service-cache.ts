// The kubelet's Service cache (upstream: the service informer behind serviceLister), read for the
// service environment variables of each container, over the reflector the API pod source uses:
//   list   -> GET /api/v1/services (all namespaces, paged): replaces the whole cache; the first
//             one makes the cache "synced";
//   watch  -> from the last resourceVersion (bookmarks included), one event one change;
//   410    -> the resourceVersion is too old: list again;
//   errors -> retried with jittered backoff (800 ms doubling to 30 s); the cached services stay.
// Owns: the map namespace/name -> Service; the loop, synced and waitSynced are the Reflector's. Assumes
// the client may list and watch services (the Node authorizer's system:node role allows it).
import type { Logger } from 'pino';
import type { ApiClient } from './client.js';
import { Reflector } from './reflector.js';
import type { ServiceObject } from '../volumes/service-env.js';
import { silentLogger } from '../log.js';

export interface ServiceCacheOptions {
  client: ApiClient;
  logger?: Logger;
  watchTimeoutSeconds?: number;
  random?: () => number;
}

export class ServiceCache extends Reflector<ServiceObject> {
  private readonly services = new Map<string, ServiceObject>();

  constructor(opts: ServiceCacheOptions) {
    super({
      client: opts.client,
      path: '/api/v1/services',
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
      random: opts.random,
      logger: (opts.logger ?? silentLogger).child({ actor: 'service-cache' }),
      what: { retrying: 'service list/watch failed; cached services kept, retrying' },
    });
  }

  /** Every cached service (all namespaces). */
  list(): ServiceObject[] {
    return [...this.services.values()];
  }

  private key(s: ServiceObject): string {
    return `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
  }

  protected onList(items: ServiceObject[], rv: string): void {
    this.services.clear();
    for (const s of items) this.services.set(this.key(s), s);
    if (!this.synced) this.log.info({ services: items.length, resourceVersion: rv }, 'services listed');
  }

  protected onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', s: ServiceObject): void {
    if (type === 'DELETED') this.services.delete(this.key(s));
    else this.services.set(this.key(s), s);
  }
}
