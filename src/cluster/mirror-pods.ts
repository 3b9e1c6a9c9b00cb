// Mirror pods: each static pod (file, URL, submitted) is reflected in the API server as a pod
// object the kubelet owns, so `kubectl get pods` shows what runs on the node, as upstream's
// mirror_client.go and the mirror part of syncPod do:
//   - the mirror carries the static pod's spec, labels and annotations plus
//     kubernetes.io/config.mirror = the static pod's config hash, and a controller owner
//     reference to this Node (NodeRestriction refuses anything else from a node);
//   - a mirror that is missing (deleted by a user) is created again; one whose hash is not the
//     static pod's (the manifest changed) or that belongs to no static pod is deleted, with the
//     mirror's UID as the precondition so a newer object is never hit;
//   - reconciled on every change of either side (debounced) and every 10 s.
// `mirrorOf` gives the status manager the object to write a static pod's status to.
import type { Logger } from 'pino';
import type { Pod } from '../api/core-v1.js';
import { ApiError, type ApiClient } from '../api/client.js';
import { ANNOTATION_CONFIG_HASH, ANNOTATION_CONFIG_MIRROR, ANNOTATION_CONFIG_SEEN, ANNOTATION_CONFIG_SOURCE } from '../pods/static-pod.js';
import { silentLogger } from '../log.js';

function key(pod: Pod): string {
  return `${pod.metadata.namespace ?? 'default'}/${pod.metadata.name ?? ''}`;
}

export interface MirrorPodsOptions {
  client: ApiClient;
  nodeName: string;
  /** The Node's UID once registered (owner reference), else undefined: nothing is created yet. */
  nodeUid: () => string | undefined;
  logger?: Logger;
  resyncEveryMs?: number;
  /** True once every static source delivered its first set: orphan mirrors are deleted only then. */
  staticSourcesReady?: () => boolean;
  /** Called when a mirror pod appears or goes (status manager targets). */
  onMirrorChange?: (staticUid: string, mirror: { namespace: string; name: string; uid: string } | undefined) => void;
}

export class MirrorPods {
  private readonly statics = new Map<string, Pod>();
  private readonly mirrors = new Map<string, Pod>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  private mirrorsKnown = false;
  /** Mirror UIDs already deleted, waiting for the watch to say so. */
  private readonly deleting = new Set<string>();
  readonly stats = { created: 0, deleted: 0, errors: 0 };

  constructor(private readonly opts: MirrorPodsOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'mirror-pods' });
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.opts.resyncEveryMs ?? 10_000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** The static pods the kubelet runs now (whole set). */
  setStatics(pods: Pod[]): void {
    this.statics.clear();
    for (const p of pods) this.statics.set(key(p), p);
    for (const m of this.mirrors.values()) this.announce(m);
    this.kick();
  }

  /** Mirror pods from the API source. */
  mirrorEvent(ev: { type: 'set'; pods: Pod[] } | { type: 'upsert'; pod: Pod } | { type: 'delete'; pod: Pod }): void {
    if (ev.type === 'set') {
      const before = new Set([...this.mirrors.values()].map((m) => m.metadata.uid));
      this.mirrors.clear();
      for (const p of ev.pods) this.mirrors.set(key(p), p);
      this.mirrorsKnown = true;
      const live = new Set(ev.pods.map((p) => p.metadata.uid ?? ''));
      for (const uid of [...this.deleting]) if (!live.has(uid)) this.deleting.delete(uid);
      for (const p of ev.pods) if (!before.has(p.metadata.uid)) this.announce(p);
    } else if (ev.type === 'upsert') {
      const known = this.mirrors.get(key(ev.pod))?.metadata.uid === ev.pod.metadata.uid;
      this.mirrors.set(key(ev.pod), ev.pod);
      if (!known) this.announce(ev.pod);
    } else {
      this.deleting.delete(ev.pod.metadata.uid ?? '');
      if (this.mirrors.get(key(ev.pod))?.metadata.uid === ev.pod.metadata.uid) this.mirrors.delete(key(ev.pod));
    }
    this.kick();
  }

  /** The mirror object of a static pod, when it exists and matches. */
  mirrorOf(staticPod: Pod): { namespace: string; name: string; uid: string } | undefined {
    const m = this.mirrors.get(key(staticPod));
    if (!m || m.metadata.deletionTimestamp || !m.metadata.uid) return undefined;
    if (m.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] !== staticPod.metadata.annotations?.[ANNOTATION_CONFIG_HASH]) return undefined;
    return { namespace: m.metadata.namespace ?? 'default', name: m.metadata.name ?? '', uid: m.metadata.uid };
  }

  /** A mirror seen for the first time that matches its static pod: the status manager's target. */
  private announce(m: Pod): void {
    const s = this.statics.get(key(m));
    if (!s?.metadata.uid) return;
    const target = this.mirrorOf(s);
    if (target && target.uid === m.metadata.uid) this.opts.onMirrorChange?.(s.metadata.uid, target);
  }

  get count(): number {
    return this.statics.size;
  }

  private kick(): void {
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.reconcile();
    }, 50);
    this.debounce.unref();
  }

  private mirrorFor(s: Pod, nodeUid: string): Pod {
    const annotations: Record<string, string> = {
      ...s.metadata.annotations,
      [ANNOTATION_CONFIG_MIRROR]: s.metadata.annotations?.[ANNOTATION_CONFIG_HASH] ?? s.metadata.uid ?? '',
    };
    delete annotations[ANNOTATION_CONFIG_SEEN];
    annotations[ANNOTATION_CONFIG_SOURCE] = s.metadata.annotations?.[ANNOTATION_CONFIG_SOURCE] ?? 'file';
    const { uid: _uid, resourceVersion: _rv, creationTimestamp: _ct, ...meta } = s.metadata;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...meta,
        annotations,
        ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: this.opts.nodeName, uid: nodeUid, controller: true }],
      },
      spec: { ...s.spec, nodeName: this.opts.nodeName },
    };
  }

  async reconcile(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    const nodeUid = this.opts.nodeUid();
    if (!nodeUid || !this.mirrorsKnown) return;
    this.running = true;
    try {
      for (const [k, m] of [...this.mirrors]) {
        const s = this.statics.get(k);
        const hash = s?.metadata.annotations?.[ANNOTATION_CONFIG_HASH];
        // A mirror being deleted (a user's graceful delete) is finished off at once and made
        // again: nothing runs behind it that a grace period would serve.
        if (this.deleting.has(m.metadata.uid ?? '')) continue;
        if (m.metadata.deletionTimestamp) {
          await this.delete(m, 'the mirror pod is being deleted');
          continue;
        }
        if (s && m.metadata.annotations?.[ANNOTATION_CONFIG_MIRROR] === hash) continue;
        // A mirror without its static pod may only mean a static source has not spoken yet.
        if (!s && !(this.opts.staticSourcesReady?.() ?? true)) continue;
        await this.delete(m, s ? 'the static pod changed' : 'no static pod of that name');
      }
      for (const [k, s] of this.statics) {
        const m = this.mirrors.get(k);
        if (m) continue;
        await this.create(s, nodeUid);
      }
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    }
  }

  private async create(s: Pod, nodeUid: string): Promise<void> {
    const ns = s.metadata.namespace ?? 'default';
    try {
      const created = await this.opts.client.post<Pod>(`/api/v1/namespaces/${encodeURIComponent(ns)}/pods`, this.mirrorFor(s, nodeUid), 'normal');
      this.stats.created++;
      this.mirrors.set(key(created), created);
      this.log.info({ pod: key(s), mirrorUid: created.metadata.uid }, 'mirror pod created');
      if (s.metadata.uid && created.metadata.uid)
        this.opts.onMirrorChange?.(s.metadata.uid, { namespace: ns, name: created.metadata.name ?? '', uid: created.metadata.uid });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'KTS_API_ALREADY_EXISTS') return; // the watch brings it
      this.stats.errors++;
      this.log.warn({ pod: key(s), err: (err as Error).message }, 'mirror pod could not be created; retrying later');
    }
  }

  private async delete(m: Pod, why: string): Promise<void> {
    const ns = m.metadata.namespace ?? 'default';
    try {
      await this.opts.client.delete(
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(m.metadata.name ?? '')}`,
        { apiVersion: 'v1', kind: 'DeleteOptions', gracePeriodSeconds: 0, preconditions: { uid: m.metadata.uid } },
        'normal',
      );
      this.stats.deleted++;
      this.deleting.add(m.metadata.uid ?? '');
      this.log.info({ pod: key(m), why }, 'mirror pod deleted');
    } catch (err) {
      if (err instanceof ApiError && (err.code === 'KTS_API_NOT_FOUND' || err.code === 'KTS_API_CONFLICT')) {
        this.mirrors.delete(key(m));
        return;
      }
      this.stats.errors++;
      this.log.warn({ pod: key(m), err: (err as Error).message }, 'mirror pod could not be deleted; retrying later');
    }
  }
}
