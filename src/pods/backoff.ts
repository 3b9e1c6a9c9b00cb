// Restart and image-pull backoff as upstream (client-go flowcontrol.Backoff): per key, the delay
// starts at `initial` and doubles on every failure up to `max`; an entry untouched for 2 x max
// resets. CrashLoopBackOff uses 10 s -> 300 s by default, so a container that ran cleanly for
// 10 minutes starts over at 10 s. The clock is injected so pod workers test on simulated time.

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

interface Entry {
  delay: number;
  lastUpdate: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly initialMs: number,
    readonly maxMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** The current delay of `key` (0 when it has none). */
  get(key: string): number {
    return this.entries.get(key)?.delay ?? 0;
  }

  /** Records a failure at `at` (default now): the next delay doubles, capped at max. */
  next(key: string, at: number = this.clock.now()): number {
    const e = this.entries.get(key);
    if (!e || this.expired(e, at)) {
      this.entries.set(key, { delay: this.initialMs, lastUpdate: at });
      return this.initialMs;
    }
    e.delay = Math.min(e.delay * 2, this.maxMs);
    e.lastUpdate = at;
    return e.delay;
  }

  /** True while `key` is still backing off from an event at `since` (e.g. the container's finish). */
  inBackOffSince(key: string, since: number): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const now = this.clock.now();
    if (this.expired(e, now)) return false;
    return now - since < e.delay;
  }

  /** True while `key` is still backing off from its last recorded failure (upstream IsInBackOffSinceUpdate). */
  inBackOffSinceUpdate(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    const now = this.clock.now();
    if (this.expired(e, now)) return false;
    return now - e.lastUpdate < e.delay;
  }

  /** Milliseconds left before `key` may try again after an event at `since` (0 when it may). */
  remaining(key: string, since: number): number {
    const e = this.entries.get(key);
    if (!e) return 0;
    const now = this.clock.now();
    if (this.expired(e, now)) return 0;
    return Math.max(0, since + e.delay - now);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Drops entries that have expired (housekeeping, so the map does not grow with pod churn). */
  gc(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
  }

  get size(): number {
    return this.entries.size;
  }

  private expired(e: Entry, now: number): boolean {
    return now - e.lastUpdate > 2 * this.maxMs;
  }
}
