// Supervision of long-lived parts (an actor's thread, a loop): when the part fails it is
// restarted after a jittered exponential backoff, within a restart budget (at most `budget`
// restarts per `windowMs`). When the budget is spent the supervisor escalates instead of
// restarting again: it reports the part as given up (health fails, /healthz says why) and calls
// `onEscalate`, so the owner can act at the next level (the node goes unhealthy; a human or a
// process supervisor restarts kubelet-ts). Time and randomness are injected for tests.
import type { Logger } from 'pino';
import { silentLogger } from '../../log.js';

export interface SupervisorOptions {
  name: string;
  /** Starts (or restarts) the part. */
  start: () => void;
  budget?: number;
  windowMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  onEscalate?: (why: string) => void;
  now?: () => number;
  random?: () => number;
  schedule?: (fn: () => void, ms: number) => void;
  logger?: Logger;
}

export class Supervisor {
  private restarts: number[] = [];
  private stopped = false;
  gaveUp = false;
  lastReason = '';

  constructor(private readonly opts: SupervisorOptions) {}

  /** Starts the part for the first time. */
  start(): void {
    this.stopped = false;
    this.opts.start();
  }

  /** The part failed: restart it later, or escalate when the budget is spent. Returns the delay. */
  failed(reason: string): number | undefined {
    if (this.stopped || this.gaveUp) return undefined;
    const now = (this.opts.now ?? Date.now)();
    const window = this.opts.windowMs ?? 10 * 60_000;
    this.restarts = this.restarts.filter((t) => now - t < window);
    this.lastReason = reason;
    const log = (this.opts.logger ?? silentLogger).child({ supervised: this.opts.name });
    if (this.restarts.length >= (this.opts.budget ?? 10)) {
      this.gaveUp = true;
      const why = `${this.opts.name} failed ${this.restarts.length + 1} times within ${Math.round(window / 1000)}s (last: ${reason}); restart budget spent`;
      log.error({ reason }, why);
      this.opts.onEscalate?.(why);
      return undefined;
    }
    this.restarts.push(now);
    const base = Math.min(this.opts.maxBackoffMs ?? 30_000, (this.opts.initialBackoffMs ?? 100) * 2 ** (this.restarts.length - 1));
    const delay = Math.round(base * (0.5 + (this.opts.random ?? Math.random)() / 2));
    log.warn({ reason, delayMs: delay, restarts: this.restarts.length }, 'supervised part failed; restarting it');
    (this.opts.schedule ?? ((fn, ms) => setTimeout(fn, ms).unref()))(() => {
      if (!this.stopped && !this.gaveUp) this.opts.start();
    }, delay);
    return delay;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Gives the part a fresh budget (after a human fixed what kept failing). */
  reset(): void {
    this.gaveUp = false;
    this.restarts = [];
  }
}
