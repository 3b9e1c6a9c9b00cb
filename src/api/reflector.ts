// One list+watch loop over a collection (upstream: client-go's reflector), the base of the API
// pod source and the Service cache, which differ only in what they do with the objects (their
// `onList` and `onEvent`):
//   list   -> GET path (paged, 500 a page), the whole set to `onList`; the first one makes the
//             reflector "synced";
//   watch  -> from the last resourceVersion seen (bookmarks included), its timeout randomised in
//             [t, 2t] as client-go does, each event to `onEvent`; a watch the server closes (its
//             timeout) resumes from where it was;
//   410    -> the resourceVersion is too old: list again;
//   errors -> retried with jittered backoff (800 ms doubling to 30 s, waited in [b/2, b]), what
//             the subclass holds is kept; a watch closed at once with no events counts as one.
// Owns: the resourceVersion, the backoff, the stats, lastError and synced. Assumes `onEvent`
// does not throw (it runs inside the watch's stream handler); a throw in `onList` fails that
// list, which is retried.
import type { Logger } from 'pino';
import { ApiError, type ApiClient, type WatchHandle } from './client.js';
import type { ObjectList } from './objects.js';

export interface ReflectorStats {
  lists: number;
  watches: number;
  events: number;
  relistsOnGone: number;
  errors: number;
}

export interface ReflectorOptions {
  client: ApiClient;
  /** The collection, e.g. /api/v1/pods. */
  path: string;
  /** Sent with every list and watch (e.g. a fieldSelector). */
  query?: Record<string, string>;
  /** Watch timeout asked of the server, before the randomisation (300 s when unset). */
  watchTimeoutSeconds?: number | undefined;
  random?: (() => number) | undefined;
  /** The subclass's logger: the loop's lines carry its bindings. */
  logger: Logger;
  /** The subclass's log messages: the warning on each retry, the info line on a 410 relist (none when unset). */
  what: { retrying: string; relistOnGone?: string };
}

export abstract class Reflector<T extends { metadata: { resourceVersion?: string } }> {
  private resourceVersion = '';
  private watch: WatchHandle | undefined;
  private stopped = false;
  private backoffMs = 0;
  private eventsThisWatch = 0;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private syncWaiters: (() => void)[] = [];
  readonly stats: ReflectorStats = { lists: 0, watches: 0, events: 0, relistsOnGone: 0, errors: 0 };
  /** True after the first successful list (upstream HasSynced). */
  synced = false;
  /** The last error of the loop, '' while healthy. */
  lastError = '';
  protected readonly log: Logger;

  constructor(private readonly config: ReflectorOptions) {
    this.log = config.logger;
  }

  /** The whole collection after a list (`synced` is still false during the first call). */
  protected abstract onList(items: T[], resourceVersion: string): void;

  /** One watch event (bookmarks only move the resourceVersion and are not passed on). */
  protected abstract onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', object: T): void;

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

  private random(): number {
    return (this.config.random ?? Math.random)();
  }

  private async relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.config.client.get<ObjectList<T>>(this.config.path, { ...this.config.query, limit: 500, ...(cont ? { continue: cont } : {}) });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.stats.lists++;
    this.resourceVersion = rv;
    this.onList(items, rv);
    this.synced = true;
    this.wakeWaiters();
  }

  private watchOnce(): Promise<Awaited<WatchHandle['done']>> {
    const base = this.config.watchTimeoutSeconds ?? 300;
    const timeout = Math.round(base * (1 + this.random()));
    this.stats.watches++;
    this.eventsThisWatch = 0;
    this.watch = this.config.client.watch<T>(
      this.config.path,
      { ...this.config.query, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout },
      (ev) => {
        this.backoffMs = 0;
        this.eventsThisWatch++;
        if (ev.object.metadata.resourceVersion) this.resourceVersion = ev.object.metadata.resourceVersion;
        // The client ends the watch on an ERROR event instead of passing it on; the check narrows the type.
        if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
        this.stats.events++;
        this.onEvent(ev.type, ev.object);
      },
      // A half-open connection must not hold the watch past the server's own timeout.
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
    // Jittered within [backoff/2, backoff], so a recovered API server is found within 30 s.
    const wait = Math.round(this.backoffMs * (0.5 + 0.5 * this.random()));
    this.log.warn({ err: this.lastError, retryInMs: wait }, this.config.what.retrying);
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
      // A watch closed at once with nothing in it (a proxy or an API server going down accepts
      // and closes): as client-go, an error, so it backs off instead of spinning on the QPS.
      if (end.reason === 'closed' && this.eventsThisWatch === 0 && Date.now() - startedAt < 1000) {
        await this.failed(new Error('watch closed at once with no events'));
        continue;
      }
      if (end.reason === 'error') {
        if (end.error instanceof ApiError && end.error.code === 'KTS_API_GONE') {
          this.stats.relistsOnGone++;
          if (this.config.what.relistOnGone) this.log.info({ resourceVersion: this.resourceVersion }, this.config.what.relistOnGone);
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
