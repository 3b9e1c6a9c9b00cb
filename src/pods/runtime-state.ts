// What the runtime says about one pod, in the kubelet's terms: its sandboxes and containers
// (newest first), built from CRI answers and the upstream labels and annotations kubelet-ts puts
// on everything it creates. Plain data: it crosses threads (the PLEG relister builds it, pod
// workers and the status computation read it).
//
// Labels and annotations are the upstream ones, so crictl users, log collectors and a restarted
// kubelet (ours or the Go one) recognise and adopt what we created.

export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
export const ANNOTATION_CONTAINER_HASH = 'io.kubernetes.container.hash';
export const ANNOTATION_RESTART_COUNT = 'io.kubernetes.container.restartCount';
export const ANNOTATION_TERMINATION_MESSAGE_PATH = 'io.kubernetes.container.terminationMessagePath';
export const ANNOTATION_TERMINATION_MESSAGE_POLICY = 'io.kubernetes.container.terminationMessagePolicy';
export const ANNOTATION_TERMINATION_GRACE_PERIOD = 'io.kubernetes.pod.terminationGracePeriod';
export const ANNOTATION_POD_DELETION_GRACE_PERIOD = 'io.kubernetes.pod.deletionGracePeriod';

export type RuntimeContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface RuntimeContainer {
  id: string;
  /** The runtime's scheme for container IDs in pod status, e.g. "containerd". */
  runtime: string;
  name: string;
  sandboxId: string;
  attempt: number;
  restartCount: number;
  /** Spec hash the container was created from (annotation), to notice spec changes. */
  hash: string;
  state: RuntimeContainerState;
  /** Epoch milliseconds; 0 when not yet. */
  createdAt: number;
  startedAt: number;
  finishedAt: number;
  exitCode: number;
  reason: string;
  message: string;
  image: string;
  imageRef: string;
}

export interface RuntimeSandbox {
  id: string;
  attempt: number;
  ready: boolean;
  createdAt: number;
  ips: string[];
  /** Host network: no pod IP expected. */
  hostNetwork: boolean;
}

export interface PodRuntimeState {
  uid: string;
  name: string;
  namespace: string;
  /** Newest first. */
  sandboxes: RuntimeSandbox[];
  /** Every container of every attempt, newest first. */
  containers: RuntimeContainer[];
  /**
   * When the inspection that produced this state began (ms since the epoch, wall clock: the
   * same in every thread). The state reflects every runtime change finished before then; the
   * pod workers use it to tell a fresh state from one older than their own last change.
   */
  observedAt?: number;
  /**
   * 'event': built from a runtime event (the evented PLEG). A runtime may read an event's
   * statuses before it stamps the event (containerd 1.7 does), so such a state never tells a
   * pod worker that its own last change is already in the cache; only inspections do.
   */
  source?: 'event';
}

export function emptyRuntimeState(uid: string, name: string, namespace: string): PodRuntimeState {
  return { uid, name, namespace, sandboxes: [], containers: [] };
}

/** The newest runtime container with this name, if any. */
export function latestContainer(state: PodRuntimeState, name: string): RuntimeContainer | undefined {
  let best: RuntimeContainer | undefined;
  for (const c of state.containers) {
    if (c.name !== name) continue;
    if (!best || c.createdAt > best.createdAt || (c.createdAt === best.createdAt && c.attempt > best.attempt)) best = c;
  }
  return best;
}

/** The order runtime states keep sandboxes and containers in: newest first (then highest attempt). */
export function newestFirst(a: { createdAt: number; attempt: number }, b: { createdAt: number; attempt: number }): number {
  return b.createdAt - a.createdAt || b.attempt - a.attempt;
}

/** Every runtime container with this name, newest first. */
export function containersNamed(state: PodRuntimeState, name: string): RuntimeContainer[] {
  return state.containers.filter((c) => c.name === name).sort(newestFirst);
}

/** Nanoseconds since the epoch (CRI) to milliseconds. */
export function nsToMs(ns: number | string | bigint | undefined): number {
  if (ns === undefined) return 0;
  const n = typeof ns === 'bigint' ? Number(ns / 1_000_000n) : Number(ns) / 1e6;
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
