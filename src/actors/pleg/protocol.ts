// What crosses between the PLEG thread and its handle on the main thread: the thread's
// workerData, the topics it may publish and its lifecycle control; its commands are bus requests.
import type { MessagePort } from 'node:worker_threads';
import type { Topic } from '../../bus/messages.js';
import type { PlegStats } from '../../bus/requests.js';

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

export type { PlegStats };

/**
 * The thread's lifecycle, over comlink (the thread host starts and stops it). Everything else the
 * PLEG takes is a bus request (bus/requests.ts: pleg.relist, pleg.configure, pleg.stats,
 * pleg.health), served by the thread on its own bus.
 */
export interface PlegControl {
  start(): void;
  stop(): void;
}
