// What crosses between the probe thread and its handle on the main thread: the thread's
// workerData, the topics it may publish and its lifecycle control; its commands are bus requests.
import type { MessagePort } from 'node:worker_threads';
import type { Topic } from '../../bus/messages.js';
import type { ProbeThreadStats } from '../../bus/requests.js';

/** What the probe thread publishes on the bus (its bridge to the main thread lets in nothing else). */
export const PROBE_THREAD_TOPICS: readonly Topic[] = ['probe.result', 'pod.event'];

export interface ProbeWorkerData {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  criPort: MessagePort | undefined;
  events: MessagePort;
  runtimeRequestTimeoutMs: number;
  maxConcurrent: number;
  /** For the kube-probe User-Agent. */
  version: string;
}

export type { ProbeThreadStats };

/**
 * The thread's lifecycle, over comlink (the thread host starts and stops it). Everything else the
 * probe thread takes is a bus request (bus/requests.ts: probes.set-pod, probes.remove-pod,
 * probes.set-pods, probes.stats, probes.reset-stats, probes.metrics), served on its own bus.
 */
export interface ProbeControl {
  start(): void;
  stop(): void;
}
