// Shared helpers for the bus tests: message builders, a manual clock, metric readers, a log
// capture. Not a test file itself (no .test suffix, so `node --test dist/test/bus/` skips it).
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Pod } from '../../src/api/core-v1.js';
import type { BusClock, MessageOf } from '../../src/bus/index.js';

export const pod = (name: string, uid = name): Pod => ({ metadata: { name, uid, namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'i:1' }] } });
export const upd = (name: string, uid = name): MessageOf<'pod.update'> => ({ type: 'update', pod: pod(name, uid), source: 'file' });
export const nameOf = (m: MessageOf<'pod.update'>): string => m.pod.metadata.name ?? '';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
/** Lets queued deliveries run (each subscription starts on setImmediate). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await tick();
}

export async function metric(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const values = (m?.values ?? []) as { labels: Record<string, string | number>; value: number }[];
  return values.filter((x) => Object.entries(labels).every(([k, l]) => x.labels[k] === l)).reduce((a, x) => a + x.value, 0);
}

/** A clock whose time moves only when the test says so; timers fire in time order. */
export class ManualClock implements BusClock {
  private t = 1_000_000;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void; live: boolean }[] = [];

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.t + ms, seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }

  get pendingTimers(): number {
    return this.timers.filter((x) => x.live).length;
  }

  /** Moves time forward, firing due timers in order (timers set by timers included). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      due.live = false;
      this.t = due.at;
      due.fn();
    }
    this.timers = this.timers.filter((x) => x.live);
    this.t = end;
  }
}

/** A pino logger writing JSON lines into `lines`. */
export function captureLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}
