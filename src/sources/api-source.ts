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
// The loop, its stats, lastError and synced are the Reflector's (src/api/reflector.ts), shared
// with the Service cache.
// Mirror pods (annotation kubernetes.io/config.mirror) are the kubelet's own reflection of
// static pods; they go to `onMirrorPods`, never into the pod config. Every pod's API status goes
// to `onApiStatus` (the status manager diffs against it).
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import type { ApiClient } from '../api/client.js';
import { Reflector } from '../api/reflector.js';
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

export class ApiSource extends Reflector<Pod> {
  constructor(private readonly opts: ApiSourceOptions) {
    super({
      client: opts.client,
      path: '/api/v1/pods',
      query: { fieldSelector: `spec.nodeName=${opts.nodeName}` },
      watchTimeoutSeconds: opts.watchTimeoutSeconds,
      random: opts.random,
      logger: (opts.logger ?? silentLogger).child({ actor: 'api-source' }),
      what: {
        retrying: 'API pod source failed; current pods kept, retrying',
        relistOnGone: 'watch resourceVersion too old (410 Gone): listing again',
      },
    });
  }

  protected onList(pods: Pod[], rv: string): void {
    const [mirrors, regular] = [pods.filter(isMirror), pods.filter((p) => !isMirror(p))];
    this.opts.onMirror?.({ type: 'set', pods: mirrors });
    this.opts.onFullSet(regular);
    if (!this.synced) this.log.info({ pods: regular.length, mirrorPods: mirrors.length, resourceVersion: rv }, 'pods bound to this node listed');
  }

  protected onEvent(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    if (isMirror(pod)) {
      this.opts.onMirror?.(type === 'DELETED' ? { type: 'delete', pod } : { type: 'upsert', pod });
      return;
    }
    if (type === 'DELETED') this.opts.onDelta([], [pod]);
    else this.opts.onDelta([pod], []);
  }
}
