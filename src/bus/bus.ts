// The bus: typed publish/subscribe and request/reply between actors, one instance per thread,
// joined across threads by port bridges (port-bridge.ts) and, later, to NATS by the same bridge
// interface. It owns the subscriber queues; actors own only their handlers.
//
//  - Delivery is asynchronous: publish never runs a handler inside the caller's stack.
//  - Each subscription has a bounded queue (default 1000, as upstream's PLEG channel): overflow
//    drops the oldest or the newest message and counts it in kubelet_ts_bus_dropped_total; a
//    `coalesce` key makes the queue latest-wins per key (pod updates by UID), never losing the
//    newest state.
//  - A handler that throws is isolated: logged and counted, the next message is delivered.
//  - Fault injection per topic (drop, delay, duplicate, reorder), off by default and switchable
//    at run time, sits between publish and the queues, so chaos tests need no actor changes.
//  - Bridges see every envelope published here (outbound) and can inject envelopes (inbound);
//    inbound envelopes are validated, refusals counted, and never echoed back to their bridge.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { silentLogger } from '../log.js';
import { FaultTable, type TopicFaults } from './faults.js';
import { ENVELOPE_VERSION, invalidEnvelope, REPLY_TOPIC, REQUEST_PREFIX, type Envelope, type MessageOf, type Topic } from './messages.js';

export class BusError extends Error {
  constructor(
    readonly code: 'KTS_BUS_TIMEOUT' | 'KTS_BUS_NO_RESPONDER' | 'KTS_BUS_REMOTE' | 'KTS_BUS_CLOSED',
    message: string,
  ) {
    super(message);
    this.name = 'BusError';
  }
}

export interface SubscribeOptions<M> {
  /** Queue bound (default 1000). */
  capacity?: number;
  overflow?: 'drop-oldest' | 'drop-newest';
  /** Latest wins per key: a queued message with the same key is replaced. */
  coalesce?: (msg: M) => string;
  filter?: (msg: M) => boolean;
  /** Name for logs and metrics (default the topic). */
  name?: string;
}

export interface Bridge {
  /** Called for every envelope published on this bus (not for those the bridge injected). */
  outbound(envelope: Envelope): void;
}

interface Subscription {
  topic: string;
  name: string;
  handler: (msg: unknown, env: Envelope) => unknown;
  capacity: number;
  overflow: 'drop-oldest' | 'drop-newest';
  coalesce: ((msg: unknown) => string) | undefined;
  filter: ((msg: unknown) => boolean) | undefined;
  queue: Envelope[];
  keys: Map<string, Envelope>;
  draining: boolean;
  closed: boolean;
}

interface BusMetrics {
  published: Counter<'topic'>;
  delivered: Counter<'topic'>;
  dropped: Counter<'topic' | 'reason'>;
  rejected: Counter<'reason'>;
  handlerErrors: Counter<'topic'>;
  depth: Gauge<'subscription'>;
}

const metricsCache = new WeakMap<Registry, BusMetrics>();

function busMetrics(registry: Registry): BusMetrics {
  const hit = metricsCache.get(registry);
  if (hit) return hit;
  const registers = [registry];
  const m: BusMetrics = {
    published: new Counter({ name: 'kubelet_ts_bus_published_total', help: 'Messages published on the bus, by topic.', labelNames: ['topic'], registers }),
    delivered: new Counter({ name: 'kubelet_ts_bus_delivered_total', help: 'Messages delivered to subscribers, by topic.', labelNames: ['topic'], registers }),
    dropped: new Counter({ name: 'kubelet_ts_bus_dropped_total', help: 'Messages dropped: queue overflow, coalesced, or injected faults.', labelNames: ['topic', 'reason'], registers }),
    rejected: new Counter({ name: 'kubelet_ts_bus_rejected_total', help: 'Envelopes from other threads refused as malformed.', labelNames: ['reason'], registers }),
    handlerErrors: new Counter({ name: 'kubelet_ts_bus_handler_errors_total', help: 'Subscriber handlers that threw.', labelNames: ['topic'], registers }),
    depth: new Gauge({ name: 'kubelet_ts_bus_queue_depth', help: 'Messages waiting in a subscription queue.', labelNames: ['subscription'], registers }),
  };
  metricsCache.set(registry, m);
  return m;
}

export interface BusOptions {
  name: string;
  registry?: Registry;
  logger?: Logger;
  /** Seed for fault injection (deterministic chaos). */
  seed?: number;
}

export class Bus {
  readonly name: string;
  readonly faults: FaultTable;
  private readonly subs = new Map<string, Set<Subscription>>();
  private readonly bridges = new Set<Bridge>();
  private readonly pending = new Map<string, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly metrics: BusMetrics | undefined;
  private readonly log: Logger;
  private closed = false;

  constructor(opts: BusOptions) {
    this.name = opts.name;
    this.metrics = opts.registry ? busMetrics(opts.registry) : undefined;
    this.log = (opts.logger ?? silentLogger).child({ component: 'bus', bus: opts.name });
    this.faults = new FaultTable(opts.seed ?? Date.now());
    this.subscribeRaw(REPLY_TOPIC, (msg, env) => this.onReply(msg, env), { name: 'replies', capacity: 100_000 });
  }

  publish<T extends Topic>(topic: T, msg: MessageOf<T>): void {
    this.dispatch(this.envelope(topic, msg), undefined);
  }

  subscribe<T extends Topic>(topic: T, handler: (msg: MessageOf<T>, env: Envelope<T, MessageOf<T>>) => unknown, opts: SubscribeOptions<MessageOf<T>> = {}): () => void {
    return this.subscribeRaw(topic, handler as (msg: unknown, env: Envelope) => unknown, opts as SubscribeOptions<unknown>);
  }

  /** Answers requests on `name`; the handler's value (or thrown error) goes back to the caller. */
  respond<Req, Res>(name: string, handler: (req: Req) => Res | Promise<Res>): () => void {
    return this.subscribeRaw(`${REQUEST_PREFIX}${name}`, async (msg, env) => {
      let reply: { ok: true; value: unknown } | { ok: false; error: string };
      try {
        reply = { ok: true, value: await handler((msg as { req: Req }).req) };
      } catch (err) {
        reply = { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
      this.dispatch({ ...this.envelope(REPLY_TOPIC, reply), corr: env.id }, undefined);
    }, { name: `respond:${name}` });
  }

  /** Sends a request to whoever responds to `name` (in this thread or across a bridge). */
  request<Req, Res>(name: string, req: Req, timeoutMs = 5000): Promise<Res> {
    if (this.closed) return Promise.reject(new BusError('KTS_BUS_CLOSED', `bus ${this.name} is closed`));
    // Wrapped, so a request may be any structured-clone value (a number, a string).
    const env = this.envelope(`${REQUEST_PREFIX}${name}`, { req });
    const local = (this.subs.get(env.topic)?.size ?? 0) > 0;
    if (!local && this.bridges.size === 0) {
      return Promise.reject(new BusError('KTS_BUS_NO_RESPONDER', `no responder for "${name}" on bus ${this.name}`));
    }
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(env.id);
        reject(new BusError('KTS_BUS_TIMEOUT', `request "${name}" got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(env.id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.dispatch(env, undefined);
    });
  }

  /** Attaches a bridge; returns `inject` for envelopes arriving through it, and a detacher. */
  bridge(b: Bridge): { inject: (raw: unknown) => boolean; detach: () => void } {
    this.bridges.add(b);
    return {
      inject: (raw) => {
        const why = invalidEnvelope(raw);
        if (why) {
          this.metrics?.rejected.inc({ reason: why.split(' ')[0] ?? 'invalid' });
          this.log.warn({ why }, 'refused a malformed bus envelope');
          return false;
        }
        this.dispatch(raw as Envelope, b);
        return true;
      },
      detach: () => void this.bridges.delete(b),
    };
  }

  close(): void {
    this.closed = true;
    for (const set of this.subs.values()) for (const s of set) s.closed = true;
    this.subs.clear();
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new BusError('KTS_BUS_CLOSED', `bus ${this.name} closed`));
    }
    this.pending.clear();
  }

  private envelope(topic: string, msg: unknown): Envelope {
    return { v: ENVELOPE_VERSION, id: randomUUID(), topic, source: this.name, ts: Date.now(), msg };
  }

  private subscribeRaw(topic: string, handler: (msg: unknown, env: Envelope) => unknown, opts: SubscribeOptions<unknown>): () => void {
    const s: Subscription = {
      topic,
      name: opts.name ?? topic,
      handler,
      capacity: opts.capacity ?? 1000,
      overflow: opts.overflow ?? 'drop-oldest',
      coalesce: opts.coalesce,
      filter: opts.filter,
      queue: [],
      keys: new Map(),
      draining: false,
      closed: false,
    };
    let set = this.subs.get(topic);
    if (!set) this.subs.set(topic, (set = new Set()));
    set.add(s);
    return () => {
      s.closed = true;
      this.subs.get(topic)?.delete(s);
    };
  }

  /** Faults, then bridges and local queues. `from` is the bridge an envelope came through. */
  private dispatch(env: Envelope, from: Bridge | undefined): void {
    if (this.closed) return;
    if (!env.topic.startsWith('_')) this.metrics?.published.inc({ topic: env.topic });
    const out = this.faults.apply(env.topic, env);
    for (const { env: e, delayMs } of out.deliver) {
      if (delayMs > 0) setTimeout(() => this.fanOut(e, from), delayMs).unref();
      else this.fanOut(e, from);
    }
    if (out.dropped > 0) this.metrics?.dropped.inc({ topic: env.topic, reason: 'fault' }, out.dropped);
  }

  private fanOut(env: Envelope, from: Bridge | undefined): void {
    if (this.closed) return;
    for (const b of this.bridges) {
      if (b === from) continue;
      try {
        b.outbound(env);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err), topic: env.topic }, 'bus bridge failed to forward');
      }
    }
    for (const s of this.subs.get(env.topic) ?? []) this.enqueue(s, env);
  }

  private enqueue(s: Subscription, env: Envelope): void {
    if (s.filter && !s.filter(env.msg)) return;
    if (s.coalesce) {
      const key = s.coalesce(env.msg);
      const queued = s.keys.get(key);
      if (queued) {
        // Latest wins: the newer message takes the older one's place in line.
        const i = s.queue.indexOf(queued);
        if (i >= 0) s.queue[i] = env;
        s.keys.set(key, env);
        this.metrics?.dropped.inc({ topic: s.topic, reason: 'coalesced' });
        return;
      }
      s.keys.set(key, env);
    }
    if (s.queue.length >= s.capacity) {
      this.metrics?.dropped.inc({ topic: s.topic, reason: 'overflow' });
      if (s.overflow === 'drop-newest') {
        if (s.coalesce) s.keys.delete(s.coalesce(env.msg));
        return;
      }
      const old = s.queue.shift();
      if (old && s.coalesce) s.keys.delete(s.coalesce(old.msg));
    }
    s.queue.push(env);
    this.metrics?.depth.set({ subscription: s.name }, s.queue.length);
    if (!s.draining) {
      s.draining = true;
      setImmediate(() => void this.drain(s));
    }
  }

  private async drain(s: Subscription): Promise<void> {
    while (!s.closed && s.queue.length > 0) {
      const env = s.queue.shift() as Envelope;
      if (s.coalesce) {
        const key = s.coalesce(env.msg);
        if (s.keys.get(key) === env) s.keys.delete(key);
      }
      try {
        await s.handler(env.msg, env);
        if (!env.topic.startsWith('_')) this.metrics?.delivered.inc({ topic: env.topic });
      } catch (err) {
        this.metrics?.handlerErrors.inc({ topic: env.topic });
        this.log.error({ subscription: s.name, topic: env.topic, err: err instanceof Error ? err.message : String(err) }, 'bus subscriber failed; it keeps receiving');
      }
    }
    this.metrics?.depth.set({ subscription: s.name }, s.queue.length);
    s.draining = false;
  }

  private onReply(msg: unknown, env: Envelope): void {
    if (!env.corr) return;
    const p = this.pending.get(env.corr);
    if (!p) return;
    this.pending.delete(env.corr);
    clearTimeout(p.timer);
    const r = msg as { ok?: boolean; value?: unknown; error?: string };
    if (r.ok) p.resolve(r.value);
    else p.reject(new BusError('KTS_BUS_REMOTE', r.error ?? 'the responder failed'));
  }
}

export type { TopicFaults };
