// What crosses between the probe thread and its handle on the main thread: the thread's
// workerData, the topics it may publish, its control surface and its stats. Types only, plus
// the topic list both ends of the bridge use.
import type { MessagePort } from 'node:worker_threads';
import type { Topic } from '../../bus/messages.js';
import type { SchedulerStats } from '../../probes/scheduler.js';
import type { ProbePodTarget } from '../../probes/spec.js';

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

export interface ProbeThreadStats extends SchedulerStats {
  /** Probe start lateness (start - due), ms, over the samples since the last reset. */
  lateness: { count: number; p50: number; p99: number; max: number };
  /** The probe thread's event-loop delay, ms. */
  eventLoopDelay: { p50: number; p99: number; max: number };
  /** Probes completed per second since the last reset. */
  probesPerSecond: number;
}

export interface ProbeControl {
  start(): void;
  stop(): void;
  /** A pod's running containers with probes, in full; no containers forgets the pod. */
  setPod(target: ProbePodTarget): void;
  removePod(uid: string): void;
  /** Every pod at once (after a restart of the thread). */
  setPods(targets: ProbePodTarget[]): void;
  stats(): ProbeThreadStats;
  resetStats(): void;
  /** prober_* metrics in the Prometheus text format. */
  metricsText(): Promise<string>;
}
