// The event recorder: core/v1 Events about pods and the node, as client-go's recorder and event
// correlator write them, so `kubectl describe` reads as on any node:
//   - an event repeated (same object, type, reason, message) within 10 min is one Event whose
//     count and lastTimestamp are patched, not a new object;
//   - a spam filter per object (a token bucket of 25, refilled one per 5 min, as upstream) stops
//     a crash-looping pod from flooding the API server;
//   - writes go through their own API client, limited by eventRecordQPS / eventBurst, and a
//     bounded queue (1000; the oldest dropped and counted) so events never hold up pod work;
//   - names are `<object name>.<hex nanoseconds>`, source component "kubelet", host the node.
import type { Logger } from 'pino';
import type { ApiClient } from './client.js';
import { ApiError } from './client.js';
import { microTime, type CoreEvent, type ObjectReference } from './objects.js';
import { silentLogger } from '../log.js';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: ApiClient;
  nodeName: string;
  logger?: Logger;
  now?: () => number;
  queueCapacity?: number;
  /** Events the queue or the spam filter dropped (metrics). */
  onDrop?: (reason: 'queue-full' | 'spam') => void;
}

interface Seen {
  name: string;
  namespace: string;
  count: number;
  first: string;
  lastAt: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const DEDUP_WINDOW_MS = 10 * 60_000;
const SPAM_BURST = 25;
const SPAM_REFILL_MS = 5 * 60_000;

export class EventRecorder {
  private readonly queue: { ref: ObjectReference; type: EventType; reason: string; message: string; at: number }[] = [];
  private readonly seen = new Map<string, Seen>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly log: Logger;
  private readonly now: () => number;
  private running = false;
  private stopped = false;
  private lastNanos = 0n;
  readonly stats = { created: 0, patched: 0, dropped: 0, errors: 0 };

  constructor(private readonly opts: EventRecorderOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'events' });
    this.now = opts.now ?? Date.now;
  }

  /** Records an event about an object; never throws, never waits. */
  record(ref: ObjectReference, type: EventType, reason: string, message: string): void {
    if (this.stopped) return;
    const objKey = `${ref.kind}/${ref.namespace ?? ''}/${ref.name}/${ref.uid ?? ''}`;
    if (!this.take(objKey)) {
      this.stats.dropped++;
      this.opts.onDrop?.('spam');
      return;
    }
    if (this.queue.length >= (this.opts.queueCapacity ?? 1000)) {
      this.queue.shift();
      this.stats.dropped++;
      this.opts.onDrop?.('queue-full');
    }
    this.queue.push({ ref, type, reason, message, at: this.now() });
    void this.drain();
  }

  /** Events waiting to be written. */
  get pending(): number {
    return this.queue.length;
  }

  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
  }

  private take(objKey: string): boolean {
    const now = this.now();
    const b = this.buckets.get(objKey) ?? { tokens: SPAM_BURST, at: now };
    b.tokens = Math.min(SPAM_BURST, b.tokens + (now - b.at) / SPAM_REFILL_MS);
    b.at = now;
    this.buckets.set(objKey, b);
    if (this.buckets.size > 10_000) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let e = this.queue.shift(); e && !this.stopped; e = this.queue.shift()) await this.write(e);
    } finally {
      this.running = false;
    }
  }

  private async write(e: { ref: ObjectReference; type: EventType; reason: string; message: string; at: number }): Promise<void> {
    const namespace = e.ref.namespace || 'default';
    const key = `${namespace}/${e.ref.kind}/${e.ref.name}/${e.ref.uid ?? ''}/${e.ref.fieldPath ?? ''}/${e.type}/${e.reason}/${e.message}`;
    const ts = microTime(e.at).replace(/\.\d+Z$/, 'Z');
    const prev = this.seen.get(key);
    try {
      if (prev && e.at - prev.lastAt < DEDUP_WINDOW_MS) {
        prev.count++;
        prev.lastAt = e.at;
        try {
          await this.opts.client.patch(
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/events/${encodeURIComponent(prev.name)}`,
            { count: prev.count, lastTimestamp: ts },
            'strategic',
            'bulk',
          );
          this.stats.patched++;
          return;
        } catch (err) {
          if (!(err instanceof ApiError) || err.code !== 'KTS_API_NOT_FOUND') throw err;
          // The event expired (TTL) or was deleted: write a fresh one below.
        }
      }
      // Upstream: <name>.<hex UnixNano>. Kept strictly increasing, so events recorded in the
      // same millisecond list (and show in kubectl describe) in the order they happened.
      this.lastNanos = BigInt(e.at) * 1_000_000n > this.lastNanos ? BigInt(e.at) * 1_000_000n : this.lastNanos + 1n;
      const name = `${e.ref.name}.${this.lastNanos.toString(16)}`;
      const ev: CoreEvent = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace },
        involvedObject: { ...e.ref, namespace: e.ref.kind === 'Node' ? '' : namespace },
        reason: e.reason,
        message: e.message,
        type: e.type,
        source: { component: 'kubelet', host: this.opts.nodeName },
        firstTimestamp: ts,
        lastTimestamp: ts,
        count: 1,
        reportingComponent: 'kubelet',
        reportingInstance: this.opts.nodeName,
      };
      await this.opts.client.post(`/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, ev, 'bulk');
      this.stats.created++;
      this.seen.set(key, { name, namespace, count: 1, first: ts, lastAt: e.at });
      if (this.seen.size > 10_000) {
        const oldest = this.seen.keys().next().value;
        if (oldest !== undefined) this.seen.delete(oldest);
      }
    } catch (err) {
      this.stats.errors++;
      this.log.warn({ reason: e.reason, object: `${e.ref.kind}/${e.ref.name}`, err: (err as Error).message }, 'event not written');
    }
  }
}
