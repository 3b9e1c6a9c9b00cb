// What crosses between the PLEG thread and its handle on the main thread: the thread's
// workerData, the topics it may publish, its control surface and its stats.
import type { MessagePort } from 'node:worker_threads';
import type { Topic } from '../../bus/messages.js';

/** What the PLEG thread publishes on the bus (its bridge to the main thread lets in nothing else). */
export const PLEG_THREAD_TOPICS: readonly Topic[] = ['pod.state', 'pleg.relist'];

export interface PlegWorkerData {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  /** Port to the embedded runtime (when no endpoint). */
  criPort: MessagePort | undefined;
  /** This thread's end of the bus bridge to the main thread. */
  events: MessagePort;
  runtimeName: string;
  relistPeriodMs: number;
  runtimeRequestTimeoutMs: number;
  /** Follow GetContainerEvents when the runtime has it. */
  evented: boolean;
  /** The safety-net relist period while the stream is up (upstream: 5 min). */
  eventedRelistPeriodMs: number;
}

export interface PlegStats {
  relists: number;
  failedRelists: number;
  lastRelistOkAt: number;
  lastRelistMs: number;
  pods: number;
  inspectRetries: number;
  /** The event stream is up: states come from events, relists are the safety net. */
  evented: boolean;
  events: number;
  /** Events older than what the PLEG already held (queued by the runtime before a reconnect), dropped. */
  staleEvents: number;
  streamFailures: number;
}

export interface PlegControl {
  start(): void;
  stop(): void;
  configure(opts: { relistPeriodMs?: number }): void;
  stats(): PlegStats;
  /** Healthy while the last good relist is younger than `thresholdMs` (upstream: 3 min). */
  health(thresholdMs?: number): { ok: boolean; message?: string };
  /** Forces a relist now (tests, and after a restart of the actor). */
  relistNow(): Promise<void>;
}
