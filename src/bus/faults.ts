// Fault injection for the bus, per topic: drop (probability), delay (a random time in a range),
// duplicate (probability), reorder (hold messages and release a window of them shuffled). Off by
// default; rules change at run time (bus.faults.set / clear); randomness is seeded, so a chaos
// run repeats exactly for a seed and a publication order.
//
// It sits between publish (or a bridge's inbound) and routing, so actors need no change to be
// tested under chaos. Rules apply to whatever this bus routes: envelopes published here and
// envelopes arriving through its bridges; internal topics (`_req.<name>`, `_reply`) can be
// faulted too, by name.
//
// Reorder holds messages until `reorderWindow` are waiting, or until `reorderHoldMs` (default
// 20 ms) passed since the first was held, or until the rule changes, and then releases them all
// shuffled: held messages are delayed, never lost.
import { BusError } from './errors.js';
import type { Envelope } from './messages.js';
import { seededRandom } from '../util/seeded-random.js';

export { seededRandom as seeded } from '../util/seeded-random.js';

export interface TopicFaults {
  /** Probability (0..1) that a message is dropped (counted as reason "fault"). */
  drop?: number;
  /** Each delivery is delayed by a uniform random whole number of ms within [min, max]. */
  delayMs?: [min: number, max: number];
  /** Probability (0..1) that a message is delivered twice (same envelope id). */
  duplicate?: number;
  /** Messages are held until this many are waiting, then released in shuffled order. */
  reorderWindow?: number;
  /** Longest time a message is held for reordering (default 20 ms). */
  reorderHoldMs?: number;
}

export interface Delivery {
  env: Envelope;
  delayMs: number;
}

export interface FaultHooks {
  /** Delivers messages released later (held for reordering). */
  release(deliveries: Delivery[]): void;
  /** Runs `fn` after `ms` (the bus's injected timers). */
  schedule(fn: () => void, ms: number): { cancel(): void };
}

const noHooks: FaultHooks = {
  release: () => undefined,
  schedule: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

function invalidConfig(message: string): BusError {
  return new BusError('KTS_BUS_INVALID_CONFIG', message);
}

export function checkFaults(topic: string, f: TopicFaults): void {
  for (const p of ['drop', 'duplicate'] as const) {
    const v = f[p];
    if (v !== undefined && !(v >= 0 && v <= 1)) throw invalidConfig(`bus fault ${topic}.${p} must be within 0..1, got ${v}`);
  }
  if (f.delayMs && !(f.delayMs[0] >= 0 && f.delayMs[1] >= f.delayMs[0]))
    throw invalidConfig(`bus fault ${topic}.delayMs must be [min, max] with 0 <= min <= max`);
  if (f.reorderWindow !== undefined && (!Number.isInteger(f.reorderWindow) || f.reorderWindow < 2))
    throw invalidConfig(`bus fault ${topic}.reorderWindow must be an integer >= 2`);
  if (f.reorderHoldMs !== undefined && !(f.reorderHoldMs >= 0)) throw invalidConfig(`bus fault ${topic}.reorderHoldMs must be >= 0`);
}

interface Held {
  envs: Envelope[];
  timer: { cancel(): void };
}

export class FaultTable {
  private readonly rules = new Map<string, TopicFaults>();
  private readonly held = new Map<string, Held>();
  private readonly random: () => number;

  constructor(
    seed: number,
    private readonly hooks: FaultHooks = noHooks,
  ) {
    this.random = seededRandom(seed);
  }

  /** Sets (replaces) the rule of a topic; held messages of that topic are released first. */
  set(topic: string, f: TopicFaults): void {
    checkFaults(topic, f);
    this.flush(topic);
    this.rules.set(topic, { ...f });
  }

  /** Removes the rule of one topic, or all rules; held messages are released. */
  clear(topic?: string): void {
    if (topic !== undefined) {
      this.flush(topic);
      this.rules.delete(topic);
      return;
    }
    for (const t of [...this.held.keys()]) this.flush(t);
    this.rules.clear();
  }

  get(topic: string): TopicFaults | undefined {
    const f = this.rules.get(topic);
    return f ? { ...f } : undefined;
  }

  get active(): boolean {
    return this.rules.size > 0;
  }

  /** What to deliver now for one envelope (nothing, once, twice, later, or held). */
  apply(topic: string, env: Envelope): { deliver: Delivery[]; dropped: number } {
    const f = this.rules.get(topic);
    if (!f) return { deliver: [{ env, delayMs: 0 }], dropped: 0 };
    if (f.drop !== undefined && f.drop > 0 && this.random() < f.drop) return { deliver: [], dropped: 1 };
    if (!f.reorderWindow) return { deliver: this.spread(f, [env]), dropped: 0 };
    let h = this.held.get(topic);
    if (!h) {
      h = { envs: [], timer: this.hooks.schedule(() => this.flush(topic), f.reorderHoldMs ?? 20) };
      this.held.set(topic, h);
    }
    h.envs.push(env);
    if (h.envs.length < f.reorderWindow) return { deliver: [], dropped: 0 };
    h.timer.cancel();
    this.held.delete(topic);
    return { deliver: this.spread(f, this.shuffle(h.envs)), dropped: 0 };
  }

  /** Releases the messages held for reordering on `topic` (shuffled) through the hooks. */
  flush(topic: string): void {
    const h = this.held.get(topic);
    if (!h) return;
    h.timer.cancel();
    this.held.delete(topic);
    const f = this.rules.get(topic) ?? {};
    this.hooks.release(this.spread(f, this.shuffle(h.envs)));
  }

  private shuffle(envs: Envelope[]): Envelope[] {
    const a = envs.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [a[i], a[j]] = [a[j] as Envelope, a[i] as Envelope];
    }
    return a;
  }

  private spread(f: TopicFaults, envs: Envelope[]): Delivery[] {
    const delay = (): number => (f.delayMs ? f.delayMs[0] + Math.floor(this.random() * (f.delayMs[1] - f.delayMs[0] + 1)) : 0);
    const out: Delivery[] = [];
    for (const env of envs) {
      out.push({ env, delayMs: delay() });
      if (f.duplicate !== undefined && f.duplicate > 0 && this.random() < f.duplicate) out.push({ env, delayMs: delay() });
    }
    return out;
  }
}
