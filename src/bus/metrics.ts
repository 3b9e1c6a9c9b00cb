// Bus metrics on an injected prom-client Registry. One set of metrics per registry (several
// buses in one thread may share a registry; their series add up, labelled by topic). Queue
// depth is read at scrape time from the live subscriptions, so the hot path pays nothing for it.
// Counters are cached per label set: a publish costs one increment, not a label hash.
// A bus in a worker thread has its own registry there; its series reach the main /metrics only
// if the worker forwards them (the actor runtime's job, not the bus's).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RejectReason } from './errors.js';

export type DropReason = 'overflow' | 'coalesced' | 'fault' | 'unsubscribed' | 'bridge-error' | 'unmatched-reply';

export interface DepthSource {
  depths(): Iterable<{ topic: string; subscription: string; depth: number }>;
}

interface Inc {
  inc(n?: number): void;
}

export interface BusMetrics {
  published(topic: string): Inc;
  inbound(topic: string): Inc;
  delivered(topic: string): Inc;
  dropped(topic: string, reason: DropReason): Inc;
  rejected(reason: RejectReason): Inc;
  handlerError(topic: string): Inc;
  /** Registers a bus for the depth gauge; returns the unregister function. */
  track(src: DepthSource): () => void;
}

const noop: Inc = { inc: () => undefined };

export const noMetrics: BusMetrics = {
  published: () => noop,
  inbound: () => noop,
  delivered: () => noop,
  dropped: () => noop,
  rejected: () => noop,
  handlerError: () => noop,
  track: () => () => undefined,
};

const cache = new WeakMap<Registry, BusMetrics>();

function cached<L extends string>(c: Counter<L>): (labels: Record<L, string>) => Inc {
  const children = new Map<string, Inc>();
  return (labels) => {
    const key = Object.values(labels).join('\u0000');
    let child = children.get(key);
    if (!child) children.set(key, (child = c.labels(labels as Partial<Record<L, string | number>>)));
    return child;
  };
}

export function busMetrics(registry: Registry | undefined): BusMetrics {
  if (!registry) return noMetrics;
  const hit = cache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const sources = new Set<DepthSource>();
  const published = cached(new Counter({ name: 'kubelet_ts_bus_published_total', help: 'Messages published on a bus in this thread, by topic.', labelNames: ['topic'], registers }));
  const inbound = cached(new Counter({ name: 'kubelet_ts_bus_inbound_total', help: 'Envelopes accepted from bridges (other threads, NATS), by topic.', labelNames: ['topic'], registers }));
  const delivered = cached(new Counter({ name: 'kubelet_ts_bus_delivered_total', help: 'Messages handed to subscribers, by topic.', labelNames: ['topic'], registers }));
  const dropped = cached(
    new Counter({
      name: 'kubelet_ts_bus_dropped_total',
      help: 'Messages not delivered: queue overflow, coalesced by a newer message, injected fault, unsubscribed with messages queued, a bridge that failed to forward, a reply nobody waited for.',
      labelNames: ['topic', 'reason'],
      registers,
    }),
  );
  const rejected = cached(new Counter({ name: 'kubelet_ts_bus_rejected_total', help: 'Envelopes from other threads or bridges refused as malformed, by reason.', labelNames: ['reason'], registers }));
  const handlerErrors = cached(new Counter({ name: 'kubelet_ts_bus_handler_errors_total', help: 'Subscriber handlers that threw or rejected, by topic.', labelNames: ['topic'], registers }));
  new Gauge({
    name: 'kubelet_ts_bus_queue_depth',
    help: 'Messages waiting in subscription queues, by topic and subscription.',
    labelNames: ['topic', 'subscription'],
    registers,
    collect() {
      this.reset();
      const sums = new Map<string, { topic: string; subscription: string; depth: number }>();
      for (const s of sources) {
        for (const d of s.depths()) {
          const key = `${d.topic}\u0000${d.subscription}`;
          const prev = sums.get(key);
          if (prev) prev.depth += d.depth;
          else sums.set(key, { ...d });
        }
      }
      for (const d of sums.values()) this.set({ topic: d.topic, subscription: d.subscription }, d.depth);
    },
  });
  const m: BusMetrics = {
    published: (topic) => published({ topic }),
    inbound: (topic) => inbound({ topic }),
    delivered: (topic) => delivered({ topic }),
    dropped: (topic, reason) => dropped({ topic, reason }),
    rejected: (reason) => rejected({ reason }),
    handlerError: (topic) => handlerErrors({ topic }),
    track: (src) => {
      sources.add(src);
      return () => void sources.delete(src);
    },
  };
  cache.set(registry, m);
  return m;
}
