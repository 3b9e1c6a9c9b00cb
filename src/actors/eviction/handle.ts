// The main thread's handle on the eviction watcher's thread: starts and supervises it (restart
// with backoff within a budget, as the PLEG and probe actors), tells it which pods it may rank,
// and carries out what the thread decides that only the main thread can do: kill the pod an
// `evict` names (through the pod workers, with the Failed/Evicted status it must report and an
// Evicted event), run the node-level reclaim a `reclaim` asks for, and tell the thread when each
// is done. It keeps the node's pressure conditions for admission (upstream's eviction admit
// handler) and for whoever asks; the cluster parts read the same conditions from the bus.
import type { Remote } from 'comlink';
import type { Logger } from 'pino';
import type { Pod } from '../../api/core-v1.js';
import type { Bus, MessageOf, ReplyOf, RequestOf } from '../../bus/index.js';
import type { CriHandlers } from '../../native/cri/api.js';
import { silentLogger } from '../../log.js';
import { admitUnderPressure, type PressureAdmitResult } from '../../eviction/admission.js';
import { candidateOf, type EvictionCandidate } from '../../eviction/ranking.js';
import type { EvictionSettings, NodeConditionType } from '../../eviction/thresholds.js';
import { ThreadHost, type ThreadPorts } from '../host/thread-host.js';
import { EVICTION_THREAD_TOPICS, type EvictionControl, type EvictionSummary, type EvictionWorkerData } from './protocol.js';

const COMMAND_TIMEOUT_MS = 60_000;

export interface EvictionActorOptions {
  runtime: { endpoint: string; imageEndpoint?: string; name: string } | { embedded: CriHandlers; name: string };
  bus: Bus;
  settings: EvictionSettings;
  nodeName: string;
  rootDir: string;
  podLogsDir: string;
  intervalMs: number;
  /** The quick check of memory between rounds (default 500 ms; 0: off). */
  quickCheckMs?: number;
  /** The node's signals are the simulated runtime's figures. */
  simNode: boolean;
  runtimeRequestTimeoutMs?: number;
  logger?: Logger;
  restartBudget?: number;
  budgetWindowMs?: number;
  /** Kill the pod an eviction names: terminal status Failed/Evicted with `message`, grace as given. */
  evict(m: Extract<MessageOf<'eviction'>, { type: 'evict' }>): void;
  /** Node-level reclaim for a disk signal (dead containers, unused images); resolves to the bytes freed. */
  reclaim(signal: string): Promise<number>;
}

export class EvictionActor extends ThreadHost<EvictionControl, EvictionWorkerData> {
  private readonly pods = new Map<string, EvictionCandidate>();
  private pressure: NodeConditionType[] = [];
  /** The UID of the pod an eviction is killing, until its worker terminates. */
  private readonly evicting = new Set<string>();

  constructor(private readonly opts: EvictionActorOptions) {
    super({
      script: new URL('./thread.js', import.meta.url),
      actor: 'eviction',
      what: 'eviction thread',
      publishes: EVICTION_THREAD_TOPICS,
      runtime: opts.runtime,
      bus: opts.bus,
      logger: (opts.logger ?? silentLogger).child({ actor: 'eviction' }),
      restartBudget: opts.restartBudget,
      budgetWindowMs: opts.budgetWindowMs,
    });
    opts.bus.subscribe('eviction', (m) => this.onMessage(m), { name: 'eviction-actor', capacity: 10_000 });
    // A terminated pod is no candidate any more; when it was the one being evicted, the watcher
    // may choose the next victim.
    opts.bus.subscribe(
      'pod.worker',
      (m) => {
        if (m.type !== 'terminated') return;
        this.forget(m.uid);
        if (this.evicting.delete(m.uid)) this.command('eviction.evicted', { uid: m.uid });
      },
      { name: 'eviction-actor:pod.worker', capacity: 10_000 },
    );
  }

  protected workerData(ports: ThreadPorts): EvictionWorkerData {
    return {
      ...ports,
      settings: this.opts.settings,
      nodeName: this.opts.nodeName,
      rootDir: this.opts.rootDir,
      podLogsDir: this.opts.podLogsDir,
      intervalMs: this.opts.intervalMs,
      quickCheckMs: this.opts.quickCheckMs ?? 500,
      simNode: this.opts.simNode,
      runtimeRequestTimeoutMs: this.opts.runtimeRequestTimeoutMs ?? 120_000,
    };
  }

  protected started(control: Remote<EvictionControl>): void {
    const all = [...this.pods.values()];
    void this.opts.bus
      .call('eviction.set-pods', { pods: all }, COMMAND_TIMEOUT_MS)
      .then(() => control.start())
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'eviction thread did not take its pods'));
    this.log.info({ generation: this.generation, pods: all.length, thresholds: this.opts.settings.thresholds.length }, 'eviction thread started');
  }

  private onMessage(m: MessageOf<'eviction'>): void {
    switch (m.type) {
      case 'conditions':
        this.pressure = m.conditions as NodeConditionType[];
        this.log.warn({ conditions: m.conditions, added: m.added, removed: m.removed }, 'node pressure conditions changed');
        return;
      case 'threshold':
        this.log.warn(m, m.met ? 'eviction threshold met' : 'eviction threshold resolved');
        return;
      case 'evict':
        this.log.warn(
          { pod: `${m.namespace}/${m.name}`, uid: m.uid, signal: m.signal, hard: m.hard, gracePeriodSeconds: m.gracePeriodSeconds },
          'evicting pod',
        );
        if (!this.pods.has(m.uid)) {
          // Gone since the thread's round: nothing to kill, let it choose again.
          this.command('eviction.evicted', { uid: m.uid, error: 'pod no longer on this node' });
          return;
        }
        this.evicting.add(m.uid);
        this.opts.evict(m);
        return;
      case 'reclaim':
        this.opts.reclaim(m.signal).then(
          (freedBytes) => this.command('eviction.reclaimed', { freedBytes }),
          (err: unknown) => this.command('eviction.reclaimed', { freedBytes: 0, error: (err as Error).message }),
        );
        return;
      case 'observed':
        return;
    }
  }

  /** An admitted pod the watcher may rank (its spec: priority, requests, grace, critical). */
  track(pod: Pod): void {
    const c = candidateOf(pod);
    if (!c.uid) return;
    const prev = this.pods.get(c.uid);
    this.pods.set(c.uid, c);
    if (prev && JSON.stringify(prev) === JSON.stringify(c)) return;
    this.command('eviction.set-pod', { pod: c });
  }

  /** The pod is terminating or gone: no longer a candidate. */
  forget(uid: string): void {
    if (this.pods.delete(uid)) this.command('eviction.remove-pod', { uid });
  }

  /** Upstream's eviction admit handler: what the node refuses under its current pressure. */
  admit(pod: Pod): PressureAdmitResult {
    return admitUnderPressure(pod, this.pressure);
  }

  get conditions(): readonly NodeConditionType[] {
    return this.pressure;
  }

  private command<K extends 'eviction.set-pod' | 'eviction.remove-pod' | 'eviction.evicted' | 'eviction.reclaimed'>(name: K, req: RequestOf<K>): void {
    if (!this.control) return;
    this.opts.bus
      .call(name, req, COMMAND_TIMEOUT_MS)
      .catch((err: unknown) => this.log.debug({ err: (err as Error).message, request: name }, 'eviction command not taken'));
  }

  /** The stats summary the thread keeps (undefined while it is down). */
  async statsSummary(onlyCpuAndMemory: boolean): Promise<ReplyOf<'stats.summary'> | undefined> {
    return this.opts.bus.call('stats.summary', onlyCpuAndMemory ? { onlyCpuAndMemory } : {}).catch(() => undefined);
  }

  async state(): Promise<EvictionSummary | undefined> {
    return this.opts.bus.call('eviction.state', {}).catch(() => undefined);
  }

  health(): { ok: boolean; message?: string } {
    if (this.gaveUp) return { ok: false, message: `eviction thread is down: ${this.supervisor.lastReason}; restart budget spent` };
    return { ok: true };
  }
}
