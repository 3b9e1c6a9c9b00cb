// Bounded mailboxes for bus subscriptions, pure data structures (no timers, no metrics) so they
// can be property-tested alone. Two kinds:
//  - FifoMailbox: first in, first out, at most `capacity` items; when full, `drop-oldest` evicts
//    the head to make room (the newest data wins, as for events), `drop-newest` refuses the
//    arrival (what is queued keeps its place, as for work items).
//  - CoalescingMailbox: latest wins per key (pod updates by pod UID). A push for a key that is
//    already queued replaces the queued value in place (the key keeps its place in line, so a
//    busy pod cannot starve the others); the replaced value is reported as coalesced. Capacity
//    counts keys; overflow applies only to a key not yet queued, so the newest value of a queued
//    key is never lost.
// Every push says what happened to what, so the caller can count each loss exactly.
// Amortised O(1) push and shift (a head index with periodic compaction, not Array#shift).

export type OverflowPolicy = 'drop-oldest' | 'drop-newest';

export type PushOutcome<T> =
  | { type: 'queued' }
  /** The item replaced `replaced`, which will not be delivered. */
  | { type: 'coalesced'; replaced: T }
  /** The mailbox was full: `dropped` (the oldest item, or the new one) will not be delivered. */
  | { type: 'overflow'; dropped: T; policy: OverflowPolicy };

export interface Mailbox<T> {
  readonly capacity: number;
  readonly size: number;
  push(item: T): PushOutcome<T>;
  shift(): T | undefined;
  /** Empties the mailbox, returning what was queued in order. */
  drain(): T[];
}

function checkCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`mailbox capacity must be an integer >= 1, got ${capacity}`);
  return capacity;
}

/** A FIFO queue with amortised O(1) shift. */
class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}

export class FifoMailbox<T> implements Mailbox<T> {
  readonly capacity: number;
  private readonly q = new Deque<T>();

  constructor(
    capacity: number,
    readonly policy: OverflowPolicy = 'drop-oldest',
  ) {
    this.capacity = checkCapacity(capacity);
  }

  get size(): number {
    return this.q.length;
  }

  push(item: T): PushOutcome<T> {
    if (this.q.length < this.capacity) {
      this.q.push(item);
      return { type: 'queued' };
    }
    if (this.policy === 'drop-newest') return { type: 'overflow', dropped: item, policy: this.policy };
    const dropped = this.q.shift() as T;
    this.q.push(item);
    return { type: 'overflow', dropped, policy: this.policy };
  }

  shift(): T | undefined {
    return this.q.shift();
  }

  drain(): T[] {
    return this.q.drain();
  }
}

export class CoalescingMailbox<T> implements Mailbox<T> {
  readonly capacity: number;
  /** Keys in line; each queued key appears exactly once. */
  private readonly order = new Deque<string>();
  private readonly latest = new Map<string, T>();

  constructor(
    capacity: number,
    private readonly keyOf: (item: T) => string,
    readonly policy: OverflowPolicy = 'drop-oldest',
  ) {
    this.capacity = checkCapacity(capacity);
  }

  get size(): number {
    return this.latest.size;
  }

  push(item: T): PushOutcome<T> {
    const key = this.keyOf(item);
    const queued = this.latest.get(key);
    if (queued !== undefined || this.latest.has(key)) {
      this.latest.set(key, item);
      return { type: 'coalesced', replaced: queued as T };
    }
    if (this.latest.size < this.capacity) {
      this.order.push(key);
      this.latest.set(key, item);
      return { type: 'queued' };
    }
    if (this.policy === 'drop-newest') return { type: 'overflow', dropped: item, policy: this.policy };
    const oldKey = this.order.shift() as string;
    const dropped = this.latest.get(oldKey) as T;
    this.latest.delete(oldKey);
    this.order.push(key);
    this.latest.set(key, item);
    return { type: 'overflow', dropped, policy: this.policy };
  }

  shift(): T | undefined {
    const key = this.order.shift();
    if (key === undefined) return undefined;
    const item = this.latest.get(key) as T;
    this.latest.delete(key);
    return item;
  }

  drain(): T[] {
    const out: T[] = [];
    for (const key of this.order.drain()) out.push(this.latest.get(key) as T);
    this.latest.clear();
    return out;
  }
}
