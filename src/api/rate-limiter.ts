// The client-side rate limit on API server requests (upstream: kubeAPIQPS / kubeAPIBurst, a token
// bucket in client-go), with one thing client-go lacks: priorities. Node heartbeats (the Lease,
// the node status) must not wait behind a thousand pod status patches, or the node controller
// marks a busy node NotReady; so waiting requests are served strictly by class:
//   heartbeat  > normal (pod deletes, mirror pods, reads, watch starts) > bulk (pod status, events)
// and FIFO within a class. The bucket holds `burst` tokens and refills at `qps` per second;
// qps 0 means no limit (as upstream). The clock and the timer are injected for tests.

export type Priority = 'heartbeat' | 'normal' | 'bulk';

const ORDER: readonly Priority[] = ['heartbeat', 'normal', 'bulk'];
const BULK_SHARE = 4;

export interface LimiterClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: LimiterClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  enqueuedAt: number;
}

export class RateLimiterClosedError extends Error {
  readonly code = 'KTS_API_LIMITER_CLOSED';
}

export class PriorityRateLimiter {
  private tokens: number;
  private last: number;
  private readonly queues = new Map<Priority, Waiter[]>(ORDER.map((p) => [p, []]));
  private timer: unknown;
  private closed = false;
  /** Waits per class, for metrics: count and total seconds. */
  readonly waited = new Map<Priority, { count: number; seconds: number }>(ORDER.map((p) => [p, { count: 0, seconds: 0 }]));

  constructor(
    private readonly qps: number,
    private readonly burst: number,
    private readonly clock: LimiterClock = realClock,
  ) {
    this.tokens = Math.max(1, burst);
    this.last = clock.now();
  }

  /** Resolves when the request may go. */
  acquire(priority: Priority = 'normal'): Promise<void> {
    if (this.closed) return Promise.reject(new RateLimiterClosedError('the API client is closed'));
    if (this.qps <= 0) return Promise.resolve();
    this.refill();
    if (this.tokens >= 1 && this.waiting() === 0) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.queues.get(priority)?.push({ resolve, reject, enqueuedAt: this.clock.now() });
      this.schedule();
    });
  }

  /** Requests waiting, per class or in all. */
  waiting(priority?: Priority): number {
    if (priority) return this.queues.get(priority)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const q of this.queues.values()) for (const w of q.splice(0)) w.reject(new RateLimiterClosedError('the API client is closed'));
  }

  private refill(): void {
    const now = this.clock.now();
    const cap = Math.max(1, this.burst);
    this.tokens = Math.min(cap, this.tokens + ((now - this.last) / 1000) * this.qps);
    this.last = now;
  }

  /** Grants since bulk last got one: bulk is owed every BULK_SHARE-th token when it waits. */
  private sinceBulk = 0;

  private grant(p: Priority): boolean {
    const w = this.queues.get(p)?.shift();
    if (!w) return false;
    this.tokens -= 1;
    const stat = this.waited.get(p);
    if (stat) {
      stat.count++;
      stat.seconds += (this.clock.now() - w.enqueuedAt) / 1000;
    }
    this.sinceBulk = p === 'bulk' ? 0 : this.sinceBulk + 1;
    w.resolve();
    return true;
  }

  private drain(): void {
    this.timer = undefined;
    this.refill();
    // Strict priority, except that waiting bulk work (pod statuses) gets one token in
    // BULK_SHARE, so steady normal traffic (volume refreshes, deletes) cannot starve it;
    // heartbeats always go first.
    while (this.tokens >= 1 && this.waiting() > 0) {
      if (this.grant('heartbeat')) continue;
      if (this.sinceBulk >= BULK_SHARE - 1 && this.grant('bulk')) continue;
      if (this.grant('normal')) continue;
      this.grant('bulk');
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiting() === 0 || this.closed) return;
    this.refill();
    const needMs = this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.qps) * 1000);
    const t = this.clock.setTimeout(() => this.drain(), needMs);
    (t as { unref?: () => unknown } | undefined)?.unref?.();
    this.timer = t;
  }
}
