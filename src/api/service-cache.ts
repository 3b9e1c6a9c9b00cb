// The kubelet's Service cache (upstream: the service informer behind serviceLister), read for the
// service environment variables of each container. A reflector like the API pod source:
//   list   -> GET /api/v1/services (all namespaces, paged): replaces the whole cache; the first
//             one makes the cache "synced";
//   watch  -> from the last resourceVersion (bookmarks included), one event one change;
//   410    -> the resourceVersion is too old: list again;
//   errors -> retried with jittered backoff (800 ms doubling to 30 s); the cached services stay.
// Owns: the map namespace/name -> Service, nothing else. Assumes the client may list and watch
// services (the Node authorizer's system:node role allows it).
import type { Logger } from 'pino';
import { ApiError, type ApiClient, type WatchHandle } from './client.js';
import type { ObjectList } from './objects.js';
import type { ServiceObject } from '../volumes/service-env.js';
import { silentLogger } from '../log.js';

export interface ServiceCacheOptions {
  client: ApiClient;
  logger?: Logger;
  watchTimeoutSeconds?: number;
  random?: () => number;
}

const PATH = '/api/v1/services';

export class ServiceCache {
  private readonly log: Logger;
  private readonly services = new Map<string, ServiceObject>();
  private resourceVersion = '';
  private watch: WatchHandle | undefined;
  private stopped = false;
  private backoffMs = 0;
  private eventsThisWatch = 0;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private syncWaiters: (() => void)[] = [];
  readonly stats = { lists: 0, watches: 0, events: 0, relistsOnGone: 0, errors: 0 };
  /** True after the first successful list (upstream HasSynced). */
  synced = false;
  lastError = '';

  constructor(private readonly opts: ServiceCacheOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'service-cache' });
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
    this.wakeWaiters();
  }

  /** Every cached service (all namespaces). */
  list(): ServiceObject[] {
    return [...this.services.values()];
  }

  /** Resolves true once synced, false after `timeoutMs` (or on stop) without a first list. */
  waitSynced(timeoutMs: number): Promise<boolean> {
    if (this.synced || this.stopped) return Promise.resolve(this.synced);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve(this.synced);
      };
      const timer = setTimeout(() => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        resolve(this.synced);
      }, timeoutMs);
      timer.unref();
      this.syncWaiters.push(done);
    });
  }

  private wakeWaiters(): void {
    const ws = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of ws) w();
  }

  private key(s: ServiceObject): string {
    return `${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`;
  }

  private async relist(): Promise<void> {
    const items: ServiceObject[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.opts.client.get<ObjectList<ServiceObject>>(PATH, { limit: 500, ...(cont ? { continue: cont } : {}) });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.stats.lists++;
    this.resourceVersion = rv;
    this.services.clear();
    for (const s of items) this.services.set(this.key(s), s);
    if (!this.synced) this.log.info({ services: items.length, resourceVersion: rv }, 'services listed');
    this.synced = true;
    this.wakeWaiters();
  }

  private watchOnce(): Promise<Awaited<WatchHandle['done']>> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeout = Math.round(base * (1 + (this.opts.random ?? Math.random)()));
    this.stats.watches++;
    this.eventsThisWatch = 0;
    this.watch = this.opts.client.watch<ServiceObject>(
      PATH,
      { resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout },
      (ev) => {
        this.backoffMs = 0;
        this.eventsThisWatch++;
        if (ev.object.metadata.resourceVersion) this.resourceVersion = ev.object.metadata.resourceVersion;
        if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
        this.stats.events++;
        if (ev.type === 'DELETED') this.services.delete(this.key(ev.object));
        else this.services.set(this.key(ev.object), ev.object);
      },
      { deadlineMs: (timeout + 30) * 1000 },
    );
    return this.watch.done;
  }

  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.sleeping = { timer, wake: resolve };
    });
  }

  private async failed(err: unknown): Promise<void> {
    this.stats.errors++;
    this.lastError = err instanceof Error ? err.message : String(err);
    this.backoffMs = this.backoffMs === 0 ? 800 : Math.min(30_000, this.backoffMs * 2);
    const wait = Math.round(this.backoffMs * (0.5 + 0.5 * (this.opts.random ?? Math.random)()));
    this.log.warn({ err: this.lastError, retryInMs: wait }, 'service list/watch failed; cached services kept, retrying');
    await this.sleep(wait);
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      if (needList) {
        try {
          await this.relist();
          needList = false;
          this.backoffMs = 0;
          this.lastError = '';
        } catch (err) {
          if (this.stopped) return;
          await this.failed(err);
          continue;
        }
      }
      const startedAt = Date.now();
      const end = await this.watchOnce();
      if (this.stopped) return;
      // Closed at once with nothing in it: back off rather than spin (as the pod source).
      if (end.reason === 'closed' && this.eventsThisWatch === 0 && Date.now() - startedAt < 1000) {
        await this.failed(new Error('watch closed at once with no events'));
        continue;
      }
      if (end.reason === 'error') {
        if (end.error instanceof ApiError && end.error.code === 'KTS_API_GONE') {
          this.stats.relistsOnGone++;
          needList = true;
          continue;
        }
        await this.failed(end.error);
      } else {
        this.lastError = '';
      }
    }
  }
}
