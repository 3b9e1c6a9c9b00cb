// The bus: typed publish/subscribe and request/reply between actors, one instance per thread,
// joined across threads by port bridges (port-bridge.ts) and, later, to NATS through the same
// Bridge interface. It owns the subscriber mailboxes, the routing and the fault table; actors own
// only their handlers.
//
//   publish ─┐                                  ┌─> bridges (except the one it came from)
//            ├─> fault table ─> route ──────────┤
//   bridge ──┘   (drop/delay/     (topic, _req,  └─> subscriptions: filter -> mailbox -> handler
//   inject       dup/reorder)      _reply)                          (bounded / coalescing)
//   (validated)
//
//  - Delivery is asynchronous: publish never runs a handler inside the caller's stack; a
//    subscription's first delivery waits for setImmediate, so a burst of publishes is queued (and
//    coalesced) first. Per subscription, handlers run one at a time in order; a handler that
//    returns a promise holds its subscription until it settles (one message in flight per
//    subscriber, as an actor's mailbox). Order is kept per publisher and topic, unless faults
//    reorder or delay.
//  - Each subscription has a bounded mailbox (mailbox.ts); every loss is counted in
//    kubelet_ts_bus_dropped_total{topic,reason}.
//  - A handler that throws is isolated: logged and counted, the next message is delivered.
//  - Request/reply: requests go to local responders and across every bridge; the first reply
//    wins. A bus that gets a request it has no route for answers "no responder", and a relay
//    (the main bus between two workers) answers it only when all its routes did, so
//    KTS_BUS_NO_RESPONDER is reported across threads instead of a timeout.
//  - Bridges see every envelope routed here (outbound) except those they brought in, and inject
//    envelopes (inbound), which are validated (validate.ts), refusals counted and logged.
// Assumptions: bridges form a tree (no cycles: envelopes are not de-duplicated by id) and bus
// names are unique among connected buses (the no-responder bookkeeping counts routes by name).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { silentLogger } from '../log.js';
import { BusError, toPlainError, type RejectReason } from './errors.js';
import { FaultTable, type Delivery } from './faults.js';
import { CoalescingMailbox, FifoMailbox, type Mailbox, type OverflowPolicy } from './mailbox.js';
import {
  ENVELOPE_VERSION,
  REPLY_TOPIC,
  REQUEST_PREFIX,
  type Envelope,
  type MessageOf,
  type ReplyMessage,
  type RequestMessage,
  type Topic,
} from './messages.js';
import { busMetrics, type BusMetrics, type DropReason } from './metrics.js';
import { checkEnvelope } from './validate.js';
import { requestProblem, type ReplyOf, type RequestName, type RequestOf } from './requests.js';

/** Time and timers, injected so tests (and simulations) can run the bus on their own clock. */
export interface BusClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const systemBusClock: BusClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export const DEFAULT_CAPACITY = 1000;

export interface BusOptions {
  /** Unique among connected buses: the thread or process ("main", "pleg", ...). */
  name: string;
  registry?: Registry;
  logger?: Logger;
  /** Seed for fault injection (deterministic chaos); default: the clock's now. */
  seed?: number;
  clock?: BusClock;
  /** Envelope ids (default crypto.randomUUID). */
  newId?: () => string;
}

export interface SubscribeOptions<M> {
  /** Mailbox bound (default 1000, as upstream's PLEG channel); counts keys when coalescing. */
  capacity?: number;
  /** When full: evict the oldest (default) or refuse the newest. */
  overflow?: OverflowPolicy;
  /** Latest wins per key: a queued message with the same key is replaced in place. */
  coalesce?: (msg: M) => string;
  /** Only messages passing the filter are queued (a filtered-out message is not a drop). */
  filter?: (msg: M) => boolean;
  /** Name for logs and the depth gauge (default the topic). */
  name?: string;
}

export interface PublishOptions {
  /** Correlation id linking this message to another (a request, a pod update). */
  corr?: string;
}

export type Handler<T extends Topic> = (msg: MessageOf<T>, env: Envelope<T, MessageOf<T>>) => unknown;

/**
 * Something that carries envelopes to another bus or system: a MessagePort (port-bridge.ts), a
 * NATS connection mirroring topics to `kubelet.<node>.<topic>` (a later issue), a recorder.
 * `outbound` is called synchronously for every envelope routed on this bus (published here,
 * or arriving through another bridge), including request/reply envelopes (topics starting with
 * `_`); it must not throw (if it does, the bus logs it and counts a drop) and may filter. What
 * arrives from the far side goes into the bus through the handle's `inject`.
 */
export interface Bridge {
  /** For logs (default "bridge"). */
  name?: string;
  outbound(envelope: Envelope): void;
  /**
   * Whether requests sent through `outbound` can reach responders (default true). A bridge
   * that does not carry `_req.*` topics must say false, or requests wait for their timeout.
   */
  carriesRequests?: boolean;
}

export type InjectResult = { type: 'accepted' } | { type: 'rejected'; error: BusError };

export interface BridgeHandle {
  /** Validates and routes an envelope from the far side; never throws. */
  inject(raw: unknown): InjectResult;
  /** Counts and logs a refusal the bridge found itself (a message that failed to deserialize). */
  refuse(reason: RejectReason, detail: string): void;
  detach(): void;
}

interface Subscription {
  topic: string;
  name: string;
  handler: (msg: unknown, env: Envelope) => unknown;
  filter: ((msg: unknown) => boolean) | undefined;
  mailbox: Mailbox<Envelope>;
  draining: boolean;
  closed: boolean;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: { cancel(): void };
  /** How many routes (local responders count as one, each bridge as one) may answer. */
  routes: number;
  /** Names of the buses that answered "no responder". */
  none: Set<string>;
  name: string;
}

interface Relay {
  from: Bridge;
  routes: number;
  none: Set<string>;
  timer: { cancel(): void };
}

/** Messages delivered per subscription before yielding to the event loop (I/O, other timers). */
const FAIRNESS_BATCH = 64;

export class Bus {
  readonly name: string;
  readonly faults: FaultTable;
  private readonly subs = new Map<string, Set<Subscription>>();
  private readonly bridges = new Set<Bridge>();
  /** Which bridge an inbound envelope came through (never echoed back there). */
  private readonly origin = new WeakMap<Envelope, Bridge>();
  private readonly pending = new Map<string, Pending>();
  private readonly relays = new Map<string, Relay>();
  private readonly metrics: BusMetrics;
  private readonly untrack: () => void;
  private readonly log: Logger;
  private readonly clock: BusClock;
  private readonly newId: () => string;
  private readonly refusals = new Map<RejectReason, number>();
  private closed = false;

  constructor(opts: BusOptions) {
    this.name = opts.name;
    this.clock = opts.clock ?? systemBusClock;
    this.newId = opts.newId ?? randomUUID;
    this.metrics = busMetrics(opts.registry);
    this.untrack = this.metrics.track({ depths: () => this.depths() });
    this.log = (opts.logger ?? silentLogger).child({ component: 'bus', bus: opts.name });
    this.faults = new FaultTable(opts.seed ?? this.clock.now(), {
      release: (ds) => this.deliver(ds),
      schedule: (fn, ms) => this.clock.setTimeout(fn, ms),
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  publish<T extends Topic>(topic: T, msg: MessageOf<T>, opts: PublishOptions = {}): void {
    if (this.closed) return;
    const env = this.envelope(topic, msg);
    if (opts.corr !== undefined) env.corr = opts.corr;
    this.metrics.published(topic).inc();
    this.dispatch(env);
  }

  /** Subscribes to a topic; returns the unsubscribe function (queued messages are dropped). */
  subscribe<T extends Topic>(topic: T, handler: Handler<T>, opts: SubscribeOptions<MessageOf<T>> = {}): () => void {
    return this.subscribeRaw(topic, handler as (msg: unknown, env: Envelope) => unknown, opts as SubscribeOptions<unknown>);
  }

  /**
   * Answers requests on `name` (in this thread, or from any bus joined by bridges). The
   * handler's value, or its thrown error (as plain data, with its `code`), goes back to the
   * caller. Requests are handled concurrently: a slow answer does not hold the next request.
   */
  respond<Req, Res>(name: string, handler: (req: Req, env: Envelope) => Res | Promise<Res>, opts: { capacity?: number } = {}): () => void {
    return this.subscribeRaw(
      `${REQUEST_PREFIX}${name}`,
      (msg, env) => {
        const answer = (reply: ReplyMessage): void => {
          if (this.closed) return;
          const out = this.envelope(REPLY_TOPIC, reply);
          out.corr = env.id;
          this.dispatch(out);
        };
        void (async () => {
          try {
            answer({ ok: true, value: await handler((msg as RequestMessage).req as Req, env) });
          } catch (err) {
            answer({ ok: false, error: toPlainError(err) });
          }
        })();
      },
      { name: `respond:${name}`, capacity: opts.capacity ?? DEFAULT_CAPACITY, overflow: 'drop-newest' },
    );
  }

  /**
   * Sends a request to whoever responds to `name`, here or across bridges; the first reply wins.
   * Rejects with BusError KTS_BUS_TIMEOUT, KTS_BUS_NO_RESPONDER, KTS_BUS_REMOTE (the responder
   * failed; `remoteCode` is its code) or KTS_BUS_CLOSED.
   */
  request<Req, Res>(name: string, req: Req, timeoutMs = 5000): Promise<Res> {
    if (this.closed) return Promise.reject(new BusError('KTS_BUS_CLOSED', `bus ${this.name} is closed`));
    const msg: RequestMessage = { req, timeoutMs };
    const env = this.envelope(`${REQUEST_PREFIX}${name}`, msg);
    const routes = this.requestRoutes(env.topic, undefined);
    if (routes === 0) return Promise.reject(new BusError('KTS_BUS_NO_RESPONDER', `no responder for "${name}" on bus ${this.name}`));
    return new Promise<Res>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(env.id);
        reject(new BusError('KTS_BUS_TIMEOUT', `request "${name}" got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(env.id, { resolve: resolve as (v: unknown) => void, reject, timer, routes, none: new Set(), name });
      this.dispatch(env);
    });
  }

  /**
   * Answers one of the bus's typed commands (requests.ts). The body is checked against the
   * request's schema first, wherever it came from: a wrong one is answered with
   * KTS_BUS_INVALID_REQUEST (the caller sees KTS_BUS_REMOTE with that remoteCode), logged, and
   * never reaches the handler.
   */
  serve<K extends RequestName>(
    name: K,
    handler: (req: RequestOf<K>, env: Envelope) => ReplyOf<K> | Promise<ReplyOf<K>>,
    opts: { capacity?: number } = {},
  ): () => void {
    return this.respond<unknown, ReplyOf<K>>(
      name,
      (req, env) => {
        const problem = requestProblem(name, req);
        if (problem !== undefined) {
          this.log.warn({ request: name, from: env.source, problem }, 'bus request refused');
          throw new BusError('KTS_BUS_INVALID_REQUEST', `request ${name} refused: ${problem}`);
        }
        return handler(req as RequestOf<K>, env);
      },
      opts,
    );
  }

  /** Sends one of the bus's typed commands (requests.ts); rejects as `request` does. */
  call<K extends RequestName>(name: K, req: RequestOf<K>, timeoutMs = 5000): Promise<ReplyOf<K>> {
    return this.request<RequestOf<K>, ReplyOf<K>>(name, req, timeoutMs);
  }

  /** Attaches a bridge (see Bridge); returns its handle for inbound envelopes. */
  bridge(b: Bridge): BridgeHandle {
    this.bridges.add(b);
    return {
      inject: (raw) => {
        if (this.closed) return { type: 'rejected', error: new BusError('KTS_BUS_CLOSED', `bus ${this.name} is closed`) };
        const verdict = checkEnvelope(raw);
        if (verdict.type === 'invalid') {
          this.refuse(verdict.reason, verdict.detail, b);
          return {
            type: 'rejected',
            error: new BusError('KTS_BUS_INVALID_ENVELOPE', `bus envelope refused (${verdict.reason}): ${verdict.detail}`, { reason: verdict.reason }),
          };
        }
        const env = verdict.envelope;
        if (!env.topic.startsWith('_')) this.metrics.inbound(env.topic).inc();
        this.origin.set(env, b);
        this.dispatch(env);
        return { type: 'accepted' };
      },
      refuse: (reason, detail) => this.refuse(reason, detail, b),
      detach: () => {
        this.bridges.delete(b);
        for (const [id, r] of this.relays) {
          if (r.from === b) {
            r.timer.cancel();
            this.relays.delete(id);
          }
        }
      },
    };
  }

  /** Live subscriptions and their depths (for stats and health surfaces). */
  depths(): { topic: string; subscription: string; depth: number }[] {
    const out: { topic: string; subscription: string; depth: number }[] = [];
    for (const set of this.subs.values()) for (const s of set) out.push({ topic: s.topic, subscription: s.name, depth: s.mailbox.size });
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.faults.clear();
    this.closed = true;
    for (const set of this.subs.values()) for (const s of set) this.closeSub(s, 'unsubscribed');
    this.subs.clear();
    this.bridges.clear();
    for (const p of this.pending.values()) {
      p.timer.cancel();
      p.reject(new BusError('KTS_BUS_CLOSED', `bus ${this.name} closed`));
    }
    this.pending.clear();
    for (const r of this.relays.values()) r.timer.cancel();
    this.relays.clear();
    this.untrack();
  }

  private envelope(topic: string, msg: unknown): Envelope {
    return { v: ENVELOPE_VERSION, id: this.newId(), topic, source: this.name, ts: this.clock.now(), msg };
  }

  private refuse(reason: RejectReason, detail: string, b: Bridge): void {
    this.metrics.rejected(reason).inc();
    // Logged on the 1st, 2nd, 4th, 8th... refusal per reason: a flood of garbage is visible
    // without flooding the log.
    const n = (this.refusals.get(reason) ?? 0) + 1;
    this.refusals.set(reason, n);
    if ((n & (n - 1)) === 0) this.log.warn({ reason, detail, bridge: b.name ?? 'bridge', count: n }, 'refused a malformed bus envelope');
  }

  private subscribeRaw(topic: string, handler: (msg: unknown, env: Envelope) => unknown, opts: SubscribeOptions<unknown>): () => void {
    if (this.closed) throw new BusError('KTS_BUS_CLOSED', `bus ${this.name} is closed`);
    const capacity = opts.capacity ?? DEFAULT_CAPACITY;
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new BusError('KTS_BUS_INVALID_CONFIG', `subscription capacity must be an integer >= 1, got ${capacity}`);
    const overflow = opts.overflow ?? 'drop-oldest';
    const key = opts.coalesce;
    const s: Subscription = {
      topic,
      name: opts.name ?? topic,
      handler,
      filter: opts.filter,
      mailbox: key ? new CoalescingMailbox<Envelope>(capacity, (e) => key(e.msg), overflow) : new FifoMailbox<Envelope>(capacity, overflow),
      draining: false,
      closed: false,
    };
    let set = this.subs.get(topic);
    if (!set) this.subs.set(topic, (set = new Set()));
    set.add(s);
    return () => {
      if (s.closed) return;
      this.closeSub(s, 'unsubscribed');
      const live = this.subs.get(topic);
      live?.delete(s);
      if (live?.size === 0) this.subs.delete(topic);
    };
  }

  private closeSub(s: Subscription, reason: DropReason): void {
    s.closed = true;
    const left = s.mailbox.drain().length;
    if (left > 0) this.metrics.dropped(s.topic, reason).inc(left);
  }

  /** Fault injection, then routing. */
  private dispatch(env: Envelope): void {
    if (this.closed) return;
    if (!this.faults.active) {
      this.route(env);
      return;
    }
    const out = this.faults.apply(env.topic, env);
    if (out.dropped > 0) this.metrics.dropped(env.topic, 'fault').inc(out.dropped);
    this.deliver(out.deliver);
  }

  private deliver(ds: Delivery[]): void {
    for (const { env, delayMs } of ds) {
      if (delayMs > 0) this.clock.setTimeout(() => this.route(env), delayMs);
      else this.route(env);
    }
  }

  private route(env: Envelope): void {
    if (this.closed) return;
    if (env.topic === REPLY_TOPIC) this.routeReply(env);
    else if (env.topic.startsWith(REQUEST_PREFIX)) this.routeRequest(env);
    else this.fanOut(env);
  }

  private send(b: Bridge, env: Envelope): void {
    try {
      b.outbound(env);
    } catch (err) {
      this.metrics.dropped(env.topic, 'bridge-error').inc();
      this.log.warn({ err: err instanceof Error ? err.message : String(err), topic: env.topic, bridge: b.name ?? 'bridge' }, 'bus bridge failed to forward');
    }
  }

  private fanOut(env: Envelope): void {
    const from = this.origin.get(env);
    for (const b of this.bridges) if (b !== from) this.send(b, env);
    const set = this.subs.get(env.topic);
    if (set) for (const s of set) this.enqueue(s, env);
  }

  /** Routes a request may take from here: local responders count as one, each bridge as one. */
  private requestRoutes(topic: string, from: Bridge | undefined): number {
    let n = (this.subs.get(topic)?.size ?? 0) > 0 ? 1 : 0;
    for (const b of this.bridges) if (b !== from && b.carriesRequests !== false) n++;
    return n;
  }

  private routeRequest(env: Envelope): void {
    const from = this.origin.get(env);
    if (from && !this.relays.has(env.id)) {
      const routes = this.requestRoutes(env.topic, from);
      if (routes === 0) {
        this.replyNoResponder(from, env.id);
        return;
      }
      const timeoutMs = (env.msg as RequestMessage).timeoutMs;
      const timer = this.clock.setTimeout(() => this.relays.delete(env.id), Math.max(0, Math.min(timeoutMs, 2 ** 31 - 1)));
      this.relays.set(env.id, { from, routes, none: new Set(), timer });
    }
    for (const b of this.bridges) if (b !== from && b.carriesRequests !== false) this.send(b, env);
    const set = this.subs.get(env.topic);
    if (set) for (const s of set) this.enqueue(s, env);
  }

  private replyNoResponder(to: Bridge, corr: string): void {
    const reply: ReplyMessage = { ok: false, noResponder: true, from: this.name };
    const env = this.envelope(REPLY_TOPIC, reply);
    env.corr = corr;
    if (this.bridges.has(to)) this.send(to, env);
  }

  private routeReply(env: Envelope): void {
    const corr = env.corr as string;
    const r = env.msg as ReplyMessage;
    const p = this.pending.get(corr);
    if (p) {
      if (!r.ok && 'noResponder' in r) {
        p.none.add(r.from);
        if (p.none.size < p.routes) return;
        this.pending.delete(corr);
        p.timer.cancel();
        p.reject(new BusError('KTS_BUS_NO_RESPONDER', `no responder for "${p.name}" on any bus reachable from ${this.name}`));
        return;
      }
      this.pending.delete(corr);
      p.timer.cancel();
      if (r.ok) p.resolve(r.value);
      else {
        const extra: { remoteCode?: string; cause: unknown } = { cause: r.error };
        if (r.error.code !== undefined) extra.remoteCode = r.error.code;
        p.reject(new BusError('KTS_BUS_REMOTE', `the responder failed: ${r.error.message}`, extra));
      }
      return;
    }
    const relay = this.relays.get(corr);
    if (relay) {
      if (!r.ok && 'noResponder' in r) {
        relay.none.add(r.from);
        if (relay.none.size < relay.routes) return;
        relay.timer.cancel();
        this.relays.delete(corr);
        this.replyNoResponder(relay.from, corr);
        return;
      }
      relay.timer.cancel();
      this.relays.delete(corr);
      if (this.bridges.has(relay.from)) this.send(relay.from, env);
      return;
    }
    // A second answer, or one after the timeout: nobody waits for it. A late "no responder"
    // from another route after the request was answered is normal and not counted.
    if (r.ok || !('noResponder' in r)) this.metrics.dropped(REPLY_TOPIC, 'unmatched-reply').inc();
  }

  private enqueue(s: Subscription, env: Envelope): void {
    if (s.closed) return;
    if (s.filter) {
      let pass: boolean;
      try {
        pass = s.filter(env.msg);
      } catch (err) {
        this.metrics.handlerError(s.topic).inc();
        this.log.error(
          { subscription: s.name, topic: s.topic, err: err instanceof Error ? err.message : String(err) },
          'bus subscription filter threw; message skipped',
        );
        return;
      }
      if (!pass) return;
    }
    const outcome = s.mailbox.push(env);
    switch (outcome.type) {
      case 'queued':
        break;
      case 'coalesced':
        this.metrics.dropped(s.topic, 'coalesced').inc();
        break;
      case 'overflow':
        this.metrics.dropped(s.topic, 'overflow').inc();
        break;
      default: {
        const never: never = outcome;
        throw new Error(`unhandled push outcome ${String(never)}`);
      }
    }
    if (!s.draining && s.mailbox.size > 0) {
      s.draining = true;
      setImmediate(() => void this.drain(s));
    }
  }

  private async drain(s: Subscription): Promise<void> {
    let n = 0;
    for (let env = s.mailbox.shift(); env !== undefined && !s.closed; env = s.closed ? undefined : s.mailbox.shift()) {
      try {
        const r = s.handler(env.msg, env);
        // Only a handler that returned a promise is waited for (one message in flight); a
        // synchronous one costs no microtask per message.
        if (typeof (r as { then?: unknown } | null)?.then === 'function') await r;
        if (!env.topic.startsWith('_')) this.metrics.delivered(env.topic).inc();
      } catch (err) {
        this.metrics.handlerError(env.topic).inc();
        this.log.error(
          { subscription: s.name, topic: env.topic, id: env.id, err: err instanceof Error ? err.message : String(err) },
          'bus subscriber failed; it keeps receiving',
        );
      }
      if (++n % FAIRNESS_BATCH === 0) await new Promise<void>((r) => setImmediate(r));
    }
    s.draining = false;
  }
}
