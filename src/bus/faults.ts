// Fault injection for the bus, per topic: drop (probability), delay (a random time in a range),
// duplicate (probability), reorder (hold messages and release a window of them shuffled). Off by
// default; rules change at run time; randomness is seeded, so a chaos run repeats exactly.
import type { Envelope } from './messages.js';

export interface TopicFaults {
  drop?: number;
  delayMs?: [min: number, max: number];
  duplicate?: number;
  /** Messages are held until this many are waiting, then released in shuffled order. */
  reorderWindow?: number;
}

export { seededRandom as seeded } from '../util/seeded-random.js';
import { seededRandom } from '../util/seeded-random.js';

export class FaultTable {
  private readonly rules = new Map<string, TopicFaults>();
  private readonly held = new Map<string, Envelope[]>();
  private readonly random: () => number;

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  set(topic: string, f: TopicFaults): void {
    for (const p of ['drop', 'duplicate'] as const) {
      const v = f[p];
      if (v !== undefined && (!(v >= 0) || v > 1)) throw new Error(`bus fault ${p} must be within 0..1, got ${v}`);
    }
    if (f.delayMs && (f.delayMs[0] < 0 || f.delayMs[1] < f.delayMs[0])) throw new Error(`bus fault delayMs must be [min, max] with 0 <= min <= max`);
    if (f.reorderWindow !== undefined && (!Number.isInteger(f.reorderWindow) || f.reorderWindow < 2)) throw new Error('bus fault reorderWindow must be an integer >= 2');
    this.rules.set(topic, { ...f });
  }

  clear(topic?: string): void {
    if (topic) this.rules.delete(topic);
    else this.rules.clear();
  }

  get active(): boolean {
    return this.rules.size > 0;
  }

  /** What to deliver for one published envelope (nothing, once, twice, later, or held). */
  apply(topic: string, env: Envelope): { deliver: { env: Envelope; delayMs: number }[]; dropped: number } {
    const f = this.rules.get(topic);
    if (!f) return { deliver: [{ env, delayMs: 0 }], dropped: 0 };
    if (f.drop !== undefined && this.random() < f.drop) return { deliver: [], dropped: 1 };
    const delay = (): number => (f.delayMs ? f.delayMs[0] + Math.floor(this.random() * (f.delayMs[1] - f.delayMs[0] + 1)) : 0);
    let batch: Envelope[] = [env];
    if (f.reorderWindow) {
      const h = this.held.get(topic) ?? [];
      h.push(env);
      if (h.length < f.reorderWindow) {
        this.held.set(topic, h);
        return { deliver: [], dropped: 0 };
      }
      this.held.delete(topic);
      for (let i = h.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [h[i], h[j]] = [h[j] as Envelope, h[i] as Envelope];
      }
      batch = h;
    }
    const deliver: { env: Envelope; delayMs: number }[] = [];
    for (const e of batch) {
      deliver.push({ env: e, delayMs: delay() });
      if (f.duplicate !== undefined && this.random() < f.duplicate) deliver.push({ env: e, delayMs: delay() });
    }
    return { deliver, dropped: 0 };
  }
}
