// The main thread's handle on the PLEG thread: starts it (comlink: start, stop), sends it commands
// as bus requests (pleg.relist, pleg.stats, ...),
// receives its events, records the upstream PLEG metrics, and supervises it: if the thread dies
// (a crash, or killed by a chaos test) it is restarted with jittered backoff within a restart
// budget, and the new thread's first relist reports every pod again, so the status cache is
// rebuilt from the runtime (nothing lives only in the dead thread). Health as upstream: unhealthy
// when the last good relist is older than 3 minutes. Spawn, supervision and stop are the
// ThreadHost's (host/thread-host.ts), shared with the probe actor.
import type { Remote } from 'comlink';
import type { Logger } from 'pino';
import type { CriHandlers } from '../../native/cri/api.js';
import type { KubeletMetrics } from '../../metrics/kubelet-metrics.js';
import { silentLogger } from '../../log.js';
import { PLEG_THREAD_TOPICS, type PlegControl, type PlegStats, type PlegWorkerData } from './protocol.js';
import type { Bus, MessageOf } from '../../bus/index.js';
import { ThreadHost, type ThreadPorts } from '../host/thread-host.js';
import { EVENTED_RELIST_PERIOD_MS, EVENTED_UNHEALTHY_AFTER_MS, PLEG_UNHEALTHY_AFTER_MS } from './logic.js';

export interface PlegActorOptions {
  runtime: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  relistPeriodMs?: number;
  /** Follow the runtime's GetContainerEvents stream when it has one (default true). */
  evented?: boolean;
  eventedRelistPeriodMs?: number;
  runtimeRequestTimeoutMs?: number;
  /** The main thread's bus: the PLEG thread's pod.state and pleg.relist arrive there. */
  bus: Bus;
  metrics?: KubeletMetrics;
  logger?: Logger;
  /** Restarts allowed within `budgetWindowMs` before the actor gives up (and reports unhealthy). */
  restartBudget?: number;
  budgetWindowMs?: number;
}

export class PlegActor extends ThreadHost<PlegControl, PlegWorkerData> {
  private lastOk = Date.now();
  private evented = false;
  private lastStreamError: string | undefined;

  constructor(private readonly opts: PlegActorOptions) {
    super({
      script: new URL('./thread.js', import.meta.url),
      actor: 'pleg',
      what: 'PLEG thread',
      publishes: PLEG_THREAD_TOPICS,
      runtime: opts.runtime,
      bus: opts.bus,
      logger: (opts.logger ?? silentLogger).child({ actor: 'pleg' }),
      restartBudget: opts.restartBudget,
      budgetWindowMs: opts.budgetWindowMs,
    });
    opts.bus.subscribe('pleg.relist', (m) => this.onRelist(m), { name: 'pleg-actor' });
  }

  protected workerData(ports: ThreadPorts): PlegWorkerData {
    return {
      ...ports,
      runtimeName: this.opts.runtime.name,
      relistPeriodMs: this.opts.relistPeriodMs ?? 1000,
      evented: this.opts.evented ?? true,
      eventedRelistPeriodMs: this.opts.eventedRelistPeriodMs ?? EVENTED_RELIST_PERIOD_MS,
      runtimeRequestTimeoutMs: this.opts.runtimeRequestTimeoutMs ?? 120_000,
    };
  }

  protected started(control: Remote<PlegControl>): void {
    void control.start();
    this.log.info({ generation: this.generation }, 'PLEG thread started');
  }

  private onRelist(m: MessageOf<'pleg.relist'>): void {
    if (m.type === 'mode') {
      if (m.evented !== this.evented && m.evented) this.log.info("PLEG follows the runtime's event stream; relisting every 5m as a safety net");
      this.evented = m.evented;
      if (m.streamError !== undefined && m.streamError !== this.lastStreamError)
        this.log.info({ reason: m.streamError }, 'PLEG relists: no runtime event stream');
      this.lastStreamError = m.streamError;
      return;
    }
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
    const threshold = this.evented ? EVENTED_UNHEALTHY_AFTER_MS : PLEG_UNHEALTHY_AFTER_MS;
    if (age > threshold)
      return { ok: false, message: `PLEG is not healthy: pleg was last seen active ${Math.round(age / 1000)}s ago; threshold is ${threshold / 60_000}m0s` };
    return { ok: true };
  }

  /** Following the runtime's event stream (as last reported by the thread). */
  get followsEvents(): boolean {
    return this.evented;
  }

  // The PLEG's commands are bus requests (bus/requests.ts), served by the thread: these are the
  // main thread's shorthands for them. While the thread is down there is no responder, and
  // they answer undefined (relistNow: nothing).

  async stats(): Promise<PlegStats | undefined> {
    return this.opts.bus.call('pleg.stats', {}).catch(() => undefined);
  }

  /** The thread's own view of its health (undefined when the thread is down). */
  async threadHealth(): Promise<{ ok: boolean; message?: string } | undefined> {
    return this.opts.bus.call('pleg.health', {}).catch(() => undefined);
  }

  async relistNow(): Promise<void> {
    await this.opts.bus.call('pleg.relist', {}, this.opts.runtimeRequestTimeoutMs ?? 120_000).catch(() => undefined);
  }
}
