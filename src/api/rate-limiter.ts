// The client-side rate limit on API server requests (upstream: kubeAPIQPS / kubeAPIBurst, a token
// bucket in client-go), with one thing client-go lacks: priorities. Node heartbeats (the Lease,
// the node status) must not wait behind a thousand pod status patches, or the node controller
// marks a busy node NotReady; so waiting requests are served strictly by class:
//   heartbeat  > normal (pod deletes, mirror pods, reads, watch starts) > bulk (pod status, events)
// and FIFO within a class. The bucket holds `burst` tokens and refills at `qps` per second;
// qps 0 means no limit (as upstream). The clock and the timer are injected for tests.

export type Priority = 'heartbeat' | 'normal' | 'bulk';

const ORDER: readonly Priority[] = ['heartbeat', 'normal', 'bulk'];

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

  private drain(): void {
    this.timer = undefined;
    this.refill();
    for (const p of ORDER) {
      const q = this.queues.get(p) ?? [];
      while (q.length > 0 && this.tokens >= 1) {
        this.tokens -= 1;
        const w = q.shift();
        if (!w) break;
        const stat = this.waited.get(p);
        if (stat) {
          stat.count++;
          stat.seconds += (this.clock.now() - w.enqueuedAt) / 1000;
        }
        w.resolve();
      }
      if (q.length > 0) break;
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
