// The API server pod source: the pods bound to this node, as upstream's config/apiserver.go
// (a reflector: list, then watch from the list's resourceVersion).
//   list   -> GET /api/v1/pods?fieldSelector=spec.nodeName=<node> (paged), delivered as the
//             source's full set (the first one makes the source "ready" for housekeeping);
//   watch  -> from the last resourceVersion seen (bookmarks included); each event is one delta;
//             a watch the server closes (its timeout) resumes from where it was;
//   410    -> the resourceVersion is too old: list again (a fresh full set, so pods deleted while
//             we were away are noticed);
//   errors -> retried with jittered backoff (800 ms doubling to 30 s), the current pods kept:
//             an API server outage never stops a pod.
// Mirror pods (annotation kubernetes.io/config.mirror) are the kubelet's own reflection of
// static pods; they go to `onMirrorPods`, never into the pod config. Every pod's API status goes
// to `onApiStatus` (the status manager diffs against it).
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import { ApiError, type ApiClient, type WatchHandle } from '../api/client.js';
import type { ObjectList } from '../api/objects.js';
import { ANNOTATION_CONFIG_MIRROR } from '../pods/static-pod.js';
import { silentLogger } from '../log.js';

export const API_SOURCE = 'api';

export interface ApiSourceHandlers {
  /** The whole set (after a list). */
  onFullSet(pods: Pod[]): void;
  /** One watch event's worth of change. */
  onDelta(upserts: Pod[], deletes: Pod[]): void;
  /** Mirror pods seen (full set after a list, or one change). */
  onMirror?(ev: { type: 'set'; pods: Pod[] } | { type: 'upsert'; pod: Pod } | { type: 'delete'; pod: Pod }): void;
}

export interface ApiSourceOptions extends ApiSourceHandlers {
  client: ApiClient;
  nodeName: string;
  logger?: Logger;
  /** Watch timeout asked of the server; randomised per watch as client-go's reflector does. */
  watchTimeoutSeconds?: number;
  random?: () => number;
}

function isMirror(pod: Pod): boolean {
  return pod.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] !== undefined;
}

export class ApiSource {
  private readonly log: Logger;
  private resourceVersion = '';
  private watch: WatchHandle | undefined;
  private stopped = false;
  private backoffMs = 0;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  readonly stats = { lists: 0, watches: 0, events: 0, relistsOnGone: 0, errors: 0 };
  /** True after the first successful list. */
  synced = false;
  /** The last error of the loop, '' while healthy. */
  lastError = '';

  constructor(private readonly opts: ApiSourceOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'api-source' });
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
  }

  private get selector(): string {
    return `spec.nodeName=${this.opts.nodeName}`;
  }

  private async list(): Promise<void> {
    const pods: Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.opts.client.get<ObjectList<Pod>>('/api/v1/pods', { fieldSelector: this.selector, limit: 500, ...(cont ? { continue: cont } : {}) });
      pods.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    this.stats.lists++;
    this.resourceVersion = rv;
    const [mirrors, regular] = [pods.filter(isMirror), pods.filter((p) => !isMirror(p))];
    this.opts.onMirror?.({ type: 'set', pods: mirrors });
    this.opts.onFullSet(regular);
    if (!this.synced) this.log.info({ pods: regular.length, mirrorPods: mirrors.length, resourceVersion: rv }, 'pods bound to this node listed');
    this.synced = true;
  }

  private eventsThisWatch = 0;

  private watchOnce(): Promise<Awaited<WatchHandle['done']>> {
    const base = this.opts.watchTimeoutSeconds ?? 300;
    const timeout = Math.round(base * (1 + (this.opts.random ?? Math.random)()));
    this.stats.watches++;
    this.eventsThisWatch = 0;
    this.watch = this.opts.client.watch<Pod & { kind?: string; metadata: { resourceVersion?: string } }>(
      '/api/v1/pods',
      { fieldSelector: this.selector, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: timeout },
      (ev) => {
        this.backoffMs = 0;
        this.eventsThisWatch++;
        if (ev.object.metadata.resourceVersion) this.resourceVersion = ev.object.metadata.resourceVersion;
        if (ev.type === 'BOOKMARK') return;
        this.stats.events++;
        const pod = ev.object;
        if (isMirror(pod)) {
          this.opts.onMirror?.(ev.type === 'DELETED' ? { type: 'delete', pod } : { type: 'upsert', pod });
          return;
        }
        if (ev.type === 'DELETED') this.opts.onDelta([], [pod]);
        else this.opts.onDelta([pod], []);
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
    // Jittered within [backoff/2, backoff], so a recovered API server is found within 30 s.
    const wait = Math.round(this.backoffMs * (0.5 + 0.5 * (this.opts.random ?? Math.random)()));
    this.log.warn({ err: this.lastError, retryInMs: wait }, 'API pod source failed; current pods kept, retrying');
    await this.sleep(wait);
  }

  private async loop(): Promise<void> {
    let needList = true;
    while (!this.stopped) {
      if (needList) {
        try {
          await this.list();
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
          this.log.info({ resourceVersion: this.resourceVersion }, 'watch resourceVersion too old (410 Gone): listing again');
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
