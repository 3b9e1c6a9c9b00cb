// What crosses between the eviction watcher's thread and its handle on the main thread: the
// thread's workerData, the topics it may publish and its lifecycle control; its commands are bus
// requests (bus/requests.ts: eviction.set-pods, eviction.set-pod, eviction.remove-pod,
// eviction.observe, eviction.state, eviction.evicted, eviction.reclaimed).
import type { MessagePort } from 'node:worker_threads';
import type { Topic } from '../../bus/messages.js';
import type { EvictionSummary } from '../../bus/requests.js';
import type { EvictionSettings } from '../../eviction/thresholds.js';

/** What the eviction thread publishes on the bus (its bridge to the main thread lets in nothing else). */
export const EVICTION_THREAD_TOPICS: readonly Topic[] = ['eviction'];

export interface EvictionWorkerData {
  endpoint: string | undefined;
  imageEndpoint: string | undefined;
  criPort: MessagePort | undefined;
  events: MessagePort;
  settings: EvictionSettings;
  /** For the stats summary's node section. */
  nodeName: string;
  /** The node filesystem is the one holding this folder (upstream: the kubelet's root dir). */
  rootDir: string;
  podLogsDir: string;
  /** How often the signals are read (upstream's housekeeping interval, 10 s). */
  intervalMs: number;
  /** How often the fast-moving signals are checked between rounds (0: never). */
  quickCheckMs: number;
  /** The runtime is the simulated one: the node's signals are its figures, not the machine's. */
  simNode: boolean;
  runtimeRequestTimeoutMs: number;
}

export type { EvictionSummary };

export interface EvictionControl {
  start(): void;
  stop(): void;
}
