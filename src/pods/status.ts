// The API status of a pod, computed from its spec, what the runtime holds, the probe results and
// the last sync's errors, the way upstream's generateAPIPodStatus does: container statuses
// (state, lastState, restartCount, ready, started, image, imageID, containerID) with the
// upstream waiting and terminated reasons, phase, the four conditions with stable
// lastTransitionTime, pod IPs, start time and QoS class. Pure: time comes in as `now`.
import type { Container, ContainerState, ContainerStatus, Pod, PodCondition, PodPhase, PodStatus } from '../api/core-v1.js';
import { containersNamed, type PodRuntimeState, type RuntimeContainer } from './runtime-state.js';
import { podQosClass, type QosClass } from './resources.js';

/** Why the last sync could not get a container running (upstream's reason cache). */
export interface SyncError {
  reason: 'CrashLoopBackOff' | 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName' | 'CreateContainerConfigError' | 'CreateContainerError' | 'RunContainerError' | 'PreStartHookError' | 'PostStartHookError';
  message: string;
}

export interface StatusInputs {
  now: string;
  /** Readiness probe result of a running container; undefined when it has no readiness probe. */
  ready?: (name: string, containerId: string) => boolean | undefined;
  /** Startup probe result; undefined when it has no startup probe. */
  started?: (name: string, containerId: string) => boolean | undefined;
  syncErrors?: ReadonlyMap<string, SyncError>;
  previous?: PodStatus | undefined;
  hostIP?: string;
  /**
   * The container's postStart hook is still running: upstream does not report it running until
   * the hook returns (its pod worker is busy in SyncPod), so it still waits as ContainerCreating.
   */
  postStartRunning?: (name: string, c: RuntimeContainer) => boolean;
  /** The pod was killed for good (deleted, or evicted): nothing restarts any more. */
  terminal?: { phase: 'Failed' | 'Succeeded'; reason?: string; message?: string };
}

function iso(ms: number): string | undefined {
  return ms > 0 ? new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
}

function containerId(c: RuntimeContainer): string {
  return `${c.runtime}://${c.id}`;
}

function terminatedState(c: RuntimeContainer): ContainerState {
  const t: NonNullable<ContainerState['terminated']> = { exitCode: c.exitCode, containerID: containerId(c) };
  if (c.state === 'unknown') {
    t.exitCode = 137;
    t.reason = 'ContainerStatusUnknown';
    t.message = 'The container could not be located when the pod was terminated';
  } else {
    t.reason = c.reason || (c.exitCode === 0 ? 'Completed' : 'Error');
    if (c.message) t.message = c.message;
  }
  const started = iso(c.startedAt);
  const finished = iso(c.finishedAt);
  if (started) t.startedAt = started;
  if (finished) t.finishedAt = finished;
  return { terminated: t };
}

function runtimeState(c: RuntimeContainer): ContainerState {
  switch (c.state) {
    case 'running': {
      const startedAt = iso(c.startedAt);
      return { running: startedAt ? { startedAt } : {} };
    }
    case 'created':
      return { waiting: { reason: 'ContainerCreating' } };
    case 'exited':
    case 'unknown':
      return terminatedState(c);
  }
}

function containerStatus(spec: Container, state: PodRuntimeState, inputs: StatusInputs, hasInitContainers: boolean): ContainerStatus {
  const [latest, previous] = containersNamed(state, spec.name);
  const status: ContainerStatus = {
    name: spec.name,
    // Upstream: every container of a pod with init containers waits as PodInitializing.
    state: { waiting: { reason: hasInitContainers ? 'PodInitializing' : 'ContainerCreating' } },
    lastState: {},
    ready: false,
    restartCount: 0,
    image: spec.image ?? '',
    imageID: '',
    started: false,
  };
  const syncError = inputs.syncErrors?.get(spec.name);
  if (latest) {
    const hookRunning = latest.state === 'running' && inputs.postStartRunning?.(spec.name, latest) === true;
    status.state = runtimeState(hookRunning ? { ...latest, state: 'created' } : latest);
    status.restartCount = latest.restartCount;
    status.image = latest.image || status.image;
    status.imageID = latest.imageRef;
    status.containerID = containerId(latest);
    if (previous) status.lastState = runtimeState(previous).terminated ? terminatedState(previous) : {};
    if (latest.state === 'running' && !hookRunning) {
      status.started = inputs.started?.(spec.name, latest.id) ?? true;
      status.ready = status.started && (inputs.ready?.(spec.name, latest.id) ?? true);
    }
  }
  if (syncError && (!latest || latest.state !== 'running')) {
    // The container is not running because the last sync could not start it: say why, and keep
    // the last run as lastState (upstream: waiting CrashLoopBackOff with the exit in lastState).
    if (latest && (latest.state === 'exited' || latest.state === 'unknown')) status.lastState = terminatedState(latest);
    status.state = { waiting: { reason: syncError.reason, message: syncError.message } };
  }
  return status;
}

/**
 * Upstream getPhase over the computed container statuses. Sidecars (restartable init containers)
 * count as upstream 1.28+ counts them: a running one is running (pending while not started), a
 * stopped one is not counted at all, so a stopped sidecar never fails a finished pod.
 */
export function podPhase(pod: Pod, init: ContainerStatus[], app: ContainerStatus[]): PodPhase {
  let pendingInit = 0;
  let failedInit = 0;
  let unknown = 0;
  let running = 0;
  let waiting = 0;
  let stopped = 0;
  let succeeded = 0;
  const initSpecs = pod.spec.initContainers ?? [];
  for (const [i, s] of init.entries()) {
    if (initSpecs[i]?.restartPolicy === 'Always') {
      if (s.state.running) {
        running++;
        if (!s.started) pendingInit++;
      } else if (s.state.waiting && !s.lastState.terminated) {
        pendingInit++;
        waiting++;
      }
      continue;
    }
    if (s.state.running) pendingInit++;
    else if (s.state.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated && s.lastState.terminated.exitCode !== 0) failedInit++;
      else pendingInit++;
    } else pendingInit++;
  }
  for (const s of app) {
    if (s.state.running) running++;
    else if (s.state.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state.waiting) {
      if (s.lastState.terminated) stopped++;
      else waiting++;
    } else unknown++;
  }
  if (failedInit > 0 && pod.spec.restartPolicy === 'Never') return 'Failed';
  if (pendingInit > 0 || waiting > 0) return 'Pending';
  if (running > 0 && unknown === 0) return 'Running';
  if (running === 0 && stopped > 0 && unknown === 0) {
    if (pod.spec.restartPolicy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (pod.spec.restartPolicy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}

function condition(type: string, ok: boolean, inputs: StatusInputs, reason?: string, message?: string): PodCondition {
  const prev = inputs.previous?.conditions?.find((c) => c.type === type);
  const status = ok ? 'True' : 'False';
  const c: PodCondition = { type, status, lastProbeTime: null, lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : inputs.now };
  if (!ok && reason) c.reason = reason;
  if (!ok && message) c.message = message;
  return c;
}

/** QoS class from requests and limits, as upstream GetPodQOS (resources.ts: requests default to limits, only cpu and memory count, sums per pod). */
export function qosClass(pod: Pod): QosClass {
  return podQosClass(pod);
}

export function computePodStatus(pod: Pod, state: PodRuntimeState, inputs: StatusInputs): PodStatus {
  const initSpecs = pod.spec.initContainers ?? [];
  const initStatuses = initSpecs.map((c) => containerStatus(c, state, inputs, true));
  const incompleteInit = initStatuses.filter((s, i) => {
    const sidecar = initSpecs[i]?.restartPolicy === 'Always';
    if (sidecar) return !(s.state.running && s.started);
    return !(s.state.terminated && s.state.terminated.exitCode === 0);
  });
  // Once an app container has run, initialization is over even if init statuses were removed.
  const appRan = pod.spec.containers.some((c) => containersNamed(state, c.name).length > 0);
  const initialized = incompleteInit.length === 0 || appRan;
  const appStatuses = pod.spec.containers.map((c) => containerStatus(c, state, inputs, initSpecs.length > 0));

  let phase = podPhase(pod, initStatuses, appStatuses);
  if (inputs.terminal) phase = inputs.terminal.phase;
  // A pod that was Running/terminal never goes back to Pending (upstream keeps terminal phases).
  const prevPhase = inputs.previous?.phase;
  if (prevPhase === 'Succeeded' || prevPhase === 'Failed') phase = prevPhase;

  const unready = appStatuses.filter((s) => !s.ready).map((s) => s.name);
  const sidecarsUnready = initStatuses.filter((s, i) => initSpecs[i]?.restartPolicy === 'Always' && !s.ready).map((s) => s.name);
  const notReady = [...sidecarsUnready, ...unready];
  const done = phase === 'Succeeded' || phase === 'Failed';
  const containersReady = notReady.length === 0 && !done;
  const readyReason = done ? 'PodCompleted' : 'ContainersNotReady';
  const readyMessage = done ? undefined : `containers with unready status: [${notReady.join(' ')}]`;

  const status: PodStatus = {
    phase,
    conditions: [
      condition('Initialized', initialized, inputs, done ? 'PodCompleted' : 'ContainersNotInitialized', done ? undefined : `containers with incomplete status: [${incompleteInit.map((s) => s.name).join(' ')}]`),
      condition('Ready', containersReady, inputs, readyReason, readyMessage),
      condition('ContainersReady', containersReady, inputs, readyReason, readyMessage),
      condition('PodScheduled', true, inputs),
    ],
    containerStatuses: appStatuses,
    qosClass: qosClass(pod),
  };
  if (initStatuses.length > 0) status.initContainerStatuses = initStatuses;
  if (inputs.terminal?.reason) status.reason = inputs.terminal.reason;
  if (inputs.terminal?.message) status.message = inputs.terminal.message;
  if (inputs.hostIP) status.hostIP = inputs.hostIP;
  const sandbox = state.sandboxes[0];
  const ips = sandbox?.hostNetwork ? (inputs.hostIP ? [inputs.hostIP] : []) : (sandbox?.ips ?? []);
  if (ips.length > 0 && ips[0]) {
    status.podIP = ips[0];
    status.podIPs = ips.map((ip) => ({ ip }));
  }
  status.startTime = inputs.previous?.startTime ?? inputs.now;
  return status;
}
