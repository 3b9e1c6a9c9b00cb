// The main thread's handle on the PLEG thread: starts it, talks to its comlink control surface,
// receives its events, records the upstream PLEG metrics, and supervises it: if the thread dies
// (a crash, or killed by a chaos test) it is restarted with jittered backoff within a restart
// budget, and the new thread's first relist reports every pod again, so the status cache is
// rebuilt from the runtime (nothing lives only in the dead thread). Health as upstream: unhealthy
// when the last good relist is older than 3 minutes.
import { MessageChannel, Worker } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import type { Logger } from 'pino';
import type { CriHandlers } from '../native/cri/api.js';
import { serveCriOnPort } from '../native/cri/port-transport.js';
import type { KubeletMetrics } from '../metrics/kubelet-metrics.js';
import { silentLogger } from '../log.js';
import type { PlegControl, PlegStats, PlegWorkerData } from './pleg-worker.js';
import { connectPort, type Bus, type MessageOf } from '../bus/index.js';
import { threadEndpoint } from './thread-endpoint.js';
import { Supervisor } from './supervisor.js';

export const PLEG_UNHEALTHY_AFTER_MS = 3 * 60_000;

export interface PlegActorOptions {
  runtime: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  relistPeriodMs?: number;
  runtimeRequestTimeoutMs?: number;
  /** The main thread's bus: the PLEG thread's pod.state and pleg.relist arrive there. */
  bus: Bus;
  metrics?: KubeletMetrics;
  logger?: Logger;
  /** Restarts allowed within `budgetWindowMs` before the actor gives up (and reports unhealthy). */
  restartBudget?: number;
  budgetWindowMs?: number;
}

export class PlegActor {
  private worker: Worker | undefined;
  private control: Remote<PlegControl> | undefined;
  private closeCri: (() => void) | undefined;
  private stopping = false;
  private readonly supervisor: Supervisor;
  private lastOk = Date.now();
  private readonly log: Logger;
  /** Times the thread was (re)started. */
  generation = 0;

  get gaveUp(): boolean {
    return this.supervisor.gaveUp;
  }

  constructor(private readonly opts: PlegActorOptions) {
    this.log = (opts.logger ?? silentLogger).child({ actor: 'pleg' });
    opts.bus.subscribe('pleg.relist', (m) => this.onRelist(m), { name: 'pleg-actor' });
    this.supervisor = new Supervisor({
      name: 'PLEG thread',
      start: () => this.spawn(),
      ...(opts.restartBudget !== undefined ? { budget: opts.restartBudget } : {}),
      ...(opts.budgetWindowMs !== undefined ? { windowMs: opts.budgetWindowMs } : {}),
      onEscalate: (why) => opts.bus.publish('actor.health', { type: 'health', actor: 'pleg', ok: false, message: why }),
      logger: this.log,
    });
  }

  start(): void {
    this.stopping = false;
    this.supervisor.start();
  }

  private spawn(): void {
    const events = new MessageChannel();
    let criPort;
    if ('embedded' in this.opts.runtime) {
      const ch = new MessageChannel();
      const served = serveCriOnPort(this.opts.runtime.embedded, ch.port1, this.log);
      this.closeCri = () => served.close();
      criPort = ch.port2;
    }
    const data: PlegWorkerData = {
      endpoint: 'endpoint' in this.opts.runtime ? this.opts.runtime.endpoint : undefined,
      imageEndpoint: 'endpoint' in this.opts.runtime ? this.opts.runtime.imageEndpoint : undefined,
      criPort,
      events: events.port2,
      runtimeName: this.opts.runtime.name,
      relistPeriodMs: this.opts.relistPeriodMs ?? 1000,
      runtimeRequestTimeoutMs: this.opts.runtimeRequestTimeoutMs ?? 120_000,
    };
    const worker = new Worker(new URL('./pleg-worker.js', import.meta.url), { workerData: data, transferList: criPort ? [events.port2, criPort] : [events.port2], name: 'pleg' });
    this.worker = worker;
    this.generation++;
    const bridge = connectPort(this.opts.bus, events.port1, { topics: [] });
    worker.once('error', (err) => this.log.error({ err: err.message }, 'PLEG thread failed'));
    worker.once('exit', (code) => {
      bridge.close();
      this.closeCri?.();
      if (this.worker === worker) {
        this.worker = undefined;
        this.control = undefined;
      }
      if (!this.stopping) this.supervisor.failed(`thread exited with code ${code}`);
    });
    this.control = wrap<PlegControl>(threadEndpoint(worker));
    void this.control.start();
    this.log.info({ generation: this.generation }, 'PLEG thread started');
  }

  private onRelist(m: MessageOf<'pleg.relist'>): void {
    if (m.ok) {
      this.lastOk = m.at;
      this.opts.metrics?.plegLastSeen.set(m.at / 1000);
      this.opts.metrics?.plegRelistDuration.observe(m.durationMs / 1000);
      if (m.intervalMs > 0) this.opts.metrics?.plegRelistInterval.observe(m.intervalMs / 1000);
    } else {
      this.log.warn({ err: m.error }, 'PLEG relist failed');
    }
  }

  health(now = Date.now()): { ok: boolean; message?: string } {
    const age = now - this.lastOk;
    if (this.gaveUp) return { ok: false, message: `PLEG thread is down: ${this.supervisor.lastReason}; restart budget spent` };
    if (age > PLEG_UNHEALTHY_AFTER_MS) return { ok: false, message: `PLEG is not healthy: pleg was last seen active ${Math.round(age / 1000)}s ago; threshold is 3m0s` };
    return { ok: true };
  }

  async stats(): Promise<PlegStats | undefined> {
    return this.control?.stats();
  }

  /** The thread's own view of its health, over comlink (undefined when the thread is down). */
  async threadHealth(): Promise<{ ok: boolean; message?: string } | undefined> {
    return this.control?.health();
  }

  async relistNow(): Promise<void> {
    await this.control?.relistNow();
  }

  /** Chaos hook: kill the thread as a crash would. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.supervisor.stop();
    const w = this.worker;
    if (this.control) {
      await this.control.stop().catch(() => undefined);
      this.control[releaseProxy]();
    }
    await w?.terminate();
  }
}
