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
  reason:
    | 'CrashLoopBackOff'
    | 'ErrImagePull'
    | 'ImagePullBackOff'
    | 'ErrImageNeverPull'
    | 'InvalidImageName'
    | 'CreateContainerConfigError'
    | 'CreateContainerError'
    | 'RunContainerError'
    | 'PreStartHookError'
    | 'PostStartHookError';
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

/**
 * A container that is not under way yet: created and not started, or started with its postStart
 * hook still running. Upstream builds a status at the start of a sync, before it creates the next
 * instance and after the hook returned, so it never shows such an instance; neither do we: the
 * status goes on describing the instance before it (restart count, state, last state all of one
 * instance), and moves to the new one when it runs.
 */
function notUnderWay(c: RuntimeContainer, name: string, inputs: StatusInputs): boolean {
  return c.state === 'created' || (c.state === 'running' && inputs.postStartRunning?.(name, c) === true);
}

function containerStatus(
  spec: Container,
  state: PodRuntimeState,
  inputs: StatusInputs,
  kind: 'init' | 'sidecar' | 'app',
  hasInitContainers: boolean,
): ContainerStatus {
  let runs = containersNamed(state, spec.name);
  // The newest instance is only being set up: the status describes the ones before it.
  if (runs[0] !== undefined && notUnderWay(runs[0], spec.name, inputs)) runs = runs.slice(1);
  const [latest, previous] = runs;
  const old = (kind === 'app' ? inputs.previous?.containerStatuses : inputs.previous?.initContainerStatuses)?.find((c) => c.name === spec.name);
  let status: ContainerStatus = {
    name: spec.name,
    // Upstream: every container of a pod with init containers waits as PodInitializing.
    state: { waiting: { reason: hasInitContainers ? 'PodInitializing' : 'ContainerCreating' } },
    lastState: {},
    ready: false,
    restartCount: 0,
    image: spec.image ?? '',
    imageID: '',
  };
  if (kind !== 'init') status.started = false;
  if (latest) {
    status.state = runtimeState(latest);
    status.restartCount = latest.restartCount;
    status.image = latest.image || status.image;
    status.imageID = latest.imageRef;
    status.containerID = containerId(latest);
    if (previous) status.lastState = runtimeState(previous).terminated ? terminatedState(previous) : {};
    if (latest.state === 'running') {
      const started = inputs.started?.(spec.name, latest.id) ?? true;
      if (kind !== 'init') status.started = started;
      status.ready = started && (inputs.ready?.(spec.name, latest.id) ?? true);
    }
  } else if (old?.state.terminated) {
    // Upstream keeps a terminated status once the runtime has removed the container (init
    // containers may be removed any time after they are done).
    status = { ...old, lastState: old.lastState ?? {}, ready: false };
    if (kind !== 'init') status.started = false;
  } else if (old) {
    // Upstream's defaults when the runtime has no instance: the last count and termination.
    status.restartCount = old.restartCount;
    status.lastState = old.lastState ?? {};
  }
  const syncError = inputs.syncErrors?.get(spec.name);
  const initDone = kind === 'init' && status.state.terminated?.exitCode === 0;
  if (syncError && !status.state.running && !initDone) {
    // The container is not running because the last sync could not start it: say why, and keep
    // the last run as lastState (upstream: waiting CrashLoopBackOff with the exit in lastState).
    if (status.state.terminated) status.lastState = { terminated: status.state.terminated };
    status.state = { waiting: { reason: syncError.reason, message: syncError.message } };
  }
  // Upstream (the prober's UpdatePodStatus): an init container is ready once it exited 0.
  if (kind === 'init') status.ready = status.state.terminated?.exitCode === 0;
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

/** A condition with upstream's stable lastTransitionTime: kept while the status stays the same. */
function condition(type: string, ok: boolean, inputs: StatusInputs, reason?: string, message?: string): PodCondition {
  const prev = inputs.previous?.conditions?.find((c) => c.type === type);
  const status = ok ? 'True' : 'False';
  const c: PodCondition = {
    type,
    status,
    lastProbeTime: null,
    lastTransitionTime: prev && prev.status === status && prev.lastTransitionTime ? prev.lastTransitionTime : inputs.now,
  };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/** Go's %s of a []string, as upstream's condition messages print names: `[a b]`. */
function nameList(names: readonly string[]): string {
  return `[${names.join(' ')}]`;
}

/** QoS class from requests and limits, as upstream GetPodQOS (resources.ts: requests default to limits, only cpu and memory count, sums per pod). */
export function qosClass(pod: Pod): QosClass {
  return podQosClass(pod);
}

export function computePodStatus(pod: Pod, state: PodRuntimeState, inputs: StatusInputs): PodStatus {
  const initSpecs = pod.spec.initContainers ?? [];
  const initStatuses = initSpecs.map((c) => containerStatus(c, state, inputs, c.restartPolicy === 'Always' ? 'sidecar' : 'init', true));
  const appStatuses = pod.spec.containers.map((c) => containerStatus(c, state, inputs, 'app', initSpecs.length > 0));

  let phase = podPhase(pod, initStatuses, appStatuses);
  if (inputs.terminal) phase = inputs.terminal.phase;
  // A pod that was Running/terminal never goes back to Pending (upstream keeps terminal phases).
  const prevPhase = inputs.previous?.phase;
  if (prevPhase === 'Succeeded' || prevPhase === 'Failed') phase = prevPhase;

  // Upstream GeneratePodInitializedCondition: the init containers not ready (a sidecar is ready
  // when started and its readiness says so, a regular init container once it exited 0).
  const incomplete = initStatuses.filter((s) => !s.ready).map((s) => s.name);
  // Once an app container has run, initialization is over even when the runtime no longer has
  // the init containers and we have no earlier status of them (upstream has the API's).
  const appRan = pod.spec.containers.some((c) => containersNamed(state, c.name).length > 0);
  const initialized =
    phase === 'Succeeded'
      ? condition('Initialized', true, inputs, 'PodCompleted')
      : incomplete.length > 0 && !appRan
        ? condition('Initialized', false, inputs, 'ContainersNotInitialized', `containers with incomplete status: ${nameList(incomplete)}`)
        : condition('Initialized', true, inputs);

  // Upstream GenerateContainersReadyCondition (sidecars count as upstream 1.29+ counts them);
  // Ready is the same (the readiness gates are checked where the API's conditions are known).
  const notReady = [
    ...initStatuses.filter((s, i) => initSpecs[i]?.restartPolicy === 'Always' && !s.ready).map((s) => s.name),
    ...appStatuses.filter((s) => !s.ready).map((s) => s.name),
  ];
  const ready = (type: string): PodCondition =>
    phase === 'Succeeded'
      ? condition(type, false, inputs, 'PodCompleted')
      : notReady.length > 0
        ? condition(type, false, inputs, 'ContainersNotReady', `containers with unready status: ${nameList(notReady)}`)
        : condition(type, true, inputs);

  const done = phase === 'Succeeded' || phase === 'Failed';
  const status: PodStatus = {
    phase,
    conditions: [initialized, ready('Ready'), ready('ContainersReady'), condition('PodScheduled', true, inputs)],
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
  } else if (done && inputs.previous?.podIP) {
    // A finished pod keeps the addresses it had (its sandbox is stopped and reports none):
    // upstream's status of a finished pod is the one it last built while the sandbox ran.
    status.podIP = inputs.previous.podIP;
    if (inputs.previous.podIPs) status.podIPs = inputs.previous.podIPs;
  }
  status.startTime = inputs.previous?.startTime ?? inputs.now;
  return status;
}
