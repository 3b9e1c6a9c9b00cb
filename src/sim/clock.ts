// Time for the simulated runtime: an injected clock plus one scheduler for everything that
// happens "later" (a `sleep 30` ending, a stop timeout expiring, a periodic log line).
//
// Assumption that shapes it: a node may hold 10,000 simulated containers, most of them waiting
// for something. One Node timer per container would make every timer operation and every GC
// pass pay for all of them, so scheduled work lives in a binary min-heap keyed by due time and
// a single real timer is armed for the earliest entry. Cancelling is lazy (an entry is marked
// dead and skipped when it surfaces), which keeps cancel O(1).

/** Wall-clock time and a way to be woken. The real one uses Date and setTimeout. */
export interface SimClock {
  /** Epoch milliseconds (fractions allowed). */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realClock: SimClock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock that moves only when told to: tests drive `sleep 30` to its end with `advance(30_000)`
 * instead of waiting. Timers due at or before the new time fire in due order.
 */
export class ManualClock implements SimClock {
  private time: number;
  private seq = 0;
  private readonly timers = new Map<number, { due: number; fn: () => void }>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.time = startMs;
  }

  now(): number {
    return this.time;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { due: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Moves time forward by `ms`, firing due timers in order (timers they set fire too, if due). */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let next: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (entry[1].due <= target && (!next || entry[1].due < next[1].due)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].due);
      next[1].fn();
    }
    this.time = target;
  }
}

interface Entry {
  due: number;
  seq: number;
  fn: (() => void) | undefined;
}

/** A handle to cancel one scheduled task. */
export interface Scheduled {
  cancel(): void;
}

/** Min-heap of due tasks driven by one timer on the injected clock. */
export class Scheduler {
  private readonly heap: Entry[] = [];
  private seq = 0;
  private timer: unknown;
  private timerDue = Infinity;
  private live = 0;
  private closed = false;

  constructor(private readonly clock: SimClock) {}

  /** Number of tasks still due to run (cancelled ones excluded). */
  get size(): number {
    return this.live;
  }

  /** Runs `fn` `ms` milliseconds from now (on the clock). */
  after(ms: number, fn: () => void): Scheduled {
    const entry: Entry = { due: this.clock.now() + Math.max(0, ms), seq: ++this.seq, fn };
    this.push(entry);
    this.live++;
    this.arm();
    return {
      cancel: () => {
        if (entry.fn) {
          entry.fn = undefined;
          this.live--;
        }
      },
    };
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
    this.live = 0;
  }

  private arm(): void {
    if (this.closed) return;
    while (this.heap.length > 0 && this.heap[0]?.fn === undefined) this.pop();
    const first = this.heap[0];
    if (!first) return;
    if (first.due >= this.timerDue && this.timer !== undefined) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerDue = first.due;
    this.timer = this.clock.setTimer(() => this.fire(), first.due - this.clock.now());
  }

  private fire(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    const now = this.clock.now();
    // Entries pushed while firing with a due time <= now run in this same round.
    for (;;) {
      const first = this.heap[0];
      if (!first || first.due > now) break;
      this.pop();
      const fn = first.fn;
      if (!fn) continue;
      first.fn = undefined;
      this.live--;
      fn();
    }
    this.arm();
  }

  private less(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(entry: Entry): void {
    const h = this.heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p] as Entry;
      if (!this.less(entry, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = entry;
  }

  private pop(): Entry | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l] as Entry, h[m] as Entry)) m = l;
      if (r < h.length && this.less(h[r] as Entry, h[m] as Entry)) m = r;
      if (m === i) break;
      const tmp = h[i] as Entry;
      h[i] = h[m] as Entry;
      h[m] = tmp;
      i = m;
    }
    return top;
  }
}
